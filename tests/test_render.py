"""The per-frame render bookkeeping: which grid each frame gets, in order, shot by shot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vidbw.errors import OptionError
from vidbw.io.decode import DecodedFrame
from vidbw.kernels.colour import rgb_matrix
from vidbw.render import (COARSE_STRIDE, KEY_STRIDE, KEY_TOLERANCE, PREDICT_BATCH, GridScheduler, Look, RenderPlan,
                          ShotRender, between_keys, grids_disagree, lowres_rgb)
from vidbw.styles import get_style
from vidbw.styles.base import Style


class MeanColourStyle(Style):
    """A real content-dependent style: the mix leans towards the frame's dominant channel.

    It stands in for a learned style here because it is cheap and its grid is predictable.
    """

    name = "mean-colour"
    description = "weights follow the frame's mean colour"
    kind = "learned"

    def __init__(self):
        self.batches: list[int] = []

    def grids_for(self, lowres_rgb_batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(lowres_rgb_batch))
        means = lowres_rgb_batch.mean(axis=(1, 2))  # (N, 3)
        weights = means / means.sum(axis=1, keepdims=True)
        grids = np.zeros((len(means), 4, 2, 2, 2), dtype=np.float32)
        grids[:, :3] = weights[:, :, None, None, None]
        return grids

    @property
    def tone_lut(self) -> np.ndarray:
        return np.linspace(0, 1, 256, dtype=np.float32)


def rgb_frame(index: int, rgb: np.ndarray) -> DecodedFrame:
    """Frame `index` of a film, decoded as float R', G', B' planes."""
    planes = tuple(np.ascontiguousarray(rgb[..., c]) for c in range(3))
    return DecodedFrame(planes, rgb_matrix(0), pts=index * 10, index=index)


def frame(index: int, value: float) -> DecodedFrame:
    rgb = np.zeros((12, 16, 3), dtype=np.float32)
    rgb[..., index % 3] = value
    return rgb_frame(index, rgb)


def run(scheduler: GridScheduler, frames: list[DecodedFrame]) -> list[tuple]:
    out = []
    for f in frames:
        out.extend(scheduler.push(f))
    out.extend(scheduler.drain())
    return out


def test_every_frame_comes_out_once_in_order_across_constant_and_learned_shots():
    learned = MeanColourStyle()
    plan = RenderPlan([
        ShotRender(0, 11, Look(learned)),
        ShotRender(11, 14, Look(get_style("red"))),
        ShotRender(14, 30, Look(learned)),
    ], temporal="off")
    frames = [frame(i, 0.2 + 0.02 * i) for i in range(30)]
    out = run(GridScheduler(plan), frames)
    assert [f.index for f, _, _ in out] == list(range(30))
    for f, look, grid in out:
        if 11 <= f.index < 14:
            assert look.style.name == "red"
            np.testing.assert_array_equal(grid, get_style("red").constant_grid())
        else:
            assert look.style is learned
            assert grid.shape == (4, 2, 2, 2)
            # The frame's dominant channel carries the whole weight: its own grid, not a neighbour's.
            assert grid[f.index % 3, 0, 0, 0] == pytest.approx(1.0)


def test_prediction_batches_never_span_a_cut_and_stay_bounded():
    learned = MeanColourStyle()
    plan = RenderPlan([ShotRender(0, 5, Look(learned)), ShotRender(5, 40, Look(learned))], temporal="off")
    scheduler = GridScheduler(plan)
    for f in [frame(i, 0.5) for i in range(40)]:
        scheduler.push(f)
        assert len(scheduler._waiting) <= PREDICT_BATCH
    scheduler.drain()
    assert learned.batches[0] == 5  # the first shot's five frames, cut off at the cut
    assert max(learned.batches) == PREDICT_BATCH
    assert sum(learned.batches) == 40


def test_interpolation_between_keys():
    key_grids = np.stack([np.full((4, 2, 2, 2), v, np.float32) for v in (1.0, 3.0, 4.0)])
    grids = between_keys([0, 2, 3], key_grids)
    assert [float(g[0, 0, 0, 0]) for g in grids] == [1.0, 2.0, 3.0, 4.0]


def calm_frame(index: int) -> DecodedFrame:
    """One colour, drifting slowly: the mean-colour grid changes far less than KEY_TOLERANCE."""
    rgb = np.empty((12, 16, 3), dtype=np.float32)
    rgb[:] = (0.5, 0.3 + 0.0005 * index, 0.2)
    return rgb_frame(index, rgb)


def changing_frame(index: int) -> DecodedFrame:
    """A colour of its own (seeded): the grid jumps from every frame to the next."""
    rgb = np.empty((12, 16, 3), dtype=np.float32)
    rgb[:] = np.random.default_rng(index).uniform(0.1, 0.9, 3)
    return rgb_frame(index, rgb)


SHOTS = ((0, 5), (5, 21))  # blocks [0, 5), [5, 8), [8, 16), [16, 21): cut short at the cut and the end


def check_keys_and_between(out: dict, frames: list, keys: list[int]) -> None:
    """The keys have exactly the grid the style predicts for them; every other frame is linear
    between the keys either side of it in its shot."""
    alone = MeanColourStyle()
    for start, stop in SHOTS:
        shot_keys = [k for k in keys if start <= k < stop]
        assert shot_keys[0] == start and shot_keys[-1] == stop - 1  # a shot's ends are always keys
        for index in range(start, stop):
            if index in shot_keys:
                own = alone.grids_for(lowres_rgb(frames[index].planes, frames[index].to_rgb)[None])[0]
                np.testing.assert_array_equal(out[index], own)
            else:
                before = max(k for k in shot_keys if k < index)
                after = min(k for k in shot_keys if k > index)
                t = (index - before) / (after - before)
                np.testing.assert_allclose(out[index], out[before] + (out[after] - out[before]) * t, atol=1e-6)


def test_grids_disagree_by_their_mean_rendered_difference():
    style, lowres = MeanColourStyle(), np.full((12, 16, 3), 0.5, np.float32)
    grid = np.zeros((4, 2, 2, 2), np.float32)
    grid[:3] = 1 / 3

    def brighter(by: float) -> np.ndarray:
        return grid + np.float32(by) * (np.arange(4) == 3).astype(np.float32)[:, None, None, None]

    assert not grids_disagree(style, lowres, grid, brighter(0.5 * KEY_TOLERANCE))
    assert grids_disagree(style, lowres, grid, brighter(2 * KEY_TOLERANCE))


def smoothed_plan(style) -> RenderPlan:
    return RenderPlan([ShotRender(start, stop, Look(style)) for start, stop in SHOTS], temporal="light")


def test_smoothed_looks_predict_coarse_keys_and_refine_where_the_grid_changes():
    stride = KEY_STRIDE["light"]
    assert stride == 2 and COARSE_STRIDE == 4  # light smoothing (sigma 2 frames): keys 4 apart, 2 where needed

    calm = MeanColourStyle()
    frames = [calm_frame(i) for i in range(21)]
    out = {f.index: grid for f, _, grid in run(GridScheduler(smoothed_plan(calm)), frames)}  # no smoother: grids as predicted
    assert sorted(out) == list(range(21))
    # Nothing changes: one call per block, for its keys 4 apart. Block [5, 8) ends without a key:
    # its last frames lean on frame 8, the next block's first key.
    assert calm.batches == [2, 1, 2, 2]
    check_keys_and_between(out, frames, [0, 4, 5, 8, 12, 16, 20])
    assert not np.allclose(out[8], out[12])  # the grids did drift (below tolerance)

    changing = MeanColourStyle()
    frames = [changing_frame(i) for i in range(21)]
    out = {f.index: grid for f, _, grid in run(GridScheduler(smoothed_plan(changing)), frames)}
    # Every coarse gap disagrees, so every one gets the keys of the fine stride: a block's keys
    # first, then one more call for its gaps once the key after its last gap is known.
    assert changing.batches == [2, 1, 1, 2, 1, 2, 2, 1]
    check_keys_and_between(out, frames, [0, 2, 4, 5, 7, 8, 10, 12, 14, 16, 18, 20])
    assert not np.allclose(out[4], out[5])  # the cut: no blend across it


def test_a_shot_ending_on_a_block_boundary_keys_its_last_frame():
    style = MeanColourStyle()
    plan = RenderPlan([ShotRender(0, 16, Look(style)), ShotRender(16, 24, Look(style))], temporal="light")
    frames = [calm_frame(i) for i in range(24)]
    scheduler = GridScheduler(plan)
    out = {}
    for f in frames:
        out.update((g.index, grid) for g, _, grid in scheduler.push(f))
        assert len(scheduler._waiting) <= 2 * PREDICT_BATCH  # a block waits at most for the next one
    out.update((g.index, grid) for g, _, grid in scheduler.drain())
    assert sorted(out) == list(range(24))
    assert style.batches == [2, 2, 1, 2, 1]  # frame 15 gets its own call when the cut shows up
    alone = MeanColourStyle()
    for index in (15, 23):
        np.testing.assert_array_equal(out[index], alone.grids_for(lowres_rgb(frames[index].planes, frames[index].to_rgb)[None])[0])


class CountingColorizer(MeanColourStyle):
    """Stands in for a colorizer: sees the small luma and the frames' numbers (its key frames sit at
    frames of the shot), predicts a grid per frame it is given."""

    colorizes = True

    def __init__(self):
        super().__init__()
        self.frames: list[list[int]] = []

    def grids_for(self, lowres_batch: np.ndarray, frames=None) -> np.ndarray:
        self.batches.append(len(lowres_batch))
        self.frames.append(list(frames))
        return np.zeros((len(lowres_batch), 6, 2, 2, 2), np.float32)


def test_unsmoothed_and_colorizing_looks_predict_every_frame():
    for style, temporal in ((MeanColourStyle(), "off"), (CountingColorizer(), "light"), (CountingColorizer(), "strong")):
        run(GridScheduler(RenderPlan([ShotRender(0, None, Look(style))], temporal=temporal)), [frame(i, 0.5) for i in range(16)])
        assert style.batches == [8, 8], (type(style).__name__, temporal)
        if isinstance(style, CountingColorizer):
            assert style.frames == [list(range(8)), list(range(8, 16))]


def test_render_plan_rejects_gaps_and_unknown_modes():
    look = Look(get_style("neutral"))
    with pytest.raises(OptionError):
        RenderPlan([ShotRender(0, 5, look), ShotRender(6, 10, look)])
    with pytest.raises(OptionError):
        RenderPlan.single(look, temporal="wobbly")
    plan = RenderPlan([ShotRender(0, 5, look), ShotRender(5, None, look)])
    assert [plan.shot_index(i) for i in (0, 4, 5, 10_000)] == [0, 0, 1, 1]


def test_lowres_copy_is_small_and_area_averaged():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)
    small = lowres_rgb(tuple(rgb[..., c] for c in range(3)), rgb_matrix(8))
    assert small.shape == (144, 256, 3)
    assert small.dtype == np.float32
    # Averaging 7.5x7.5 blocks of uniform noise pulls every value towards the middle.
    assert abs(float(small.mean()) - rgb.mean() / 255) < 0.01
    assert small.std() < rgb.std() / 255 / 3


@pytest.mark.parametrize("grain", [0.0, 0.08])
def test_torch_renderer_matches_the_numba_renderer(grain):
    """The CUDA path's maths, run on CPU torch: the same output codes as the numba kernel (±1)."""
    from vidbw.kernels.colour import luma_output_coding, yuv_to_rgb_matrix
    from vidbw.render import FrameRenderer, TorchFrameRenderer

    rng = np.random.default_rng(1)
    y = rng.integers(16, 236, size=(37, 50), dtype=np.uint8)
    u = rng.integers(16, 241, size=(19, 25), dtype=np.uint8)
    v = rng.integers(16, 241, size=(19, 25), dtype=np.uint8)
    to_rgb = yuv_to_rgb_matrix("bt709", False, 8)
    look = Look.named("tri-x", grain=grain, grain_seed=3)
    grid = rng.normal(0.33, 0.1, size=(4, 4, 3, 5)).astype(np.float32)
    coding = luma_output_coding(False, 8)
    expected = np.empty_like(y)
    FrameRenderer().render((y, u, v), to_rgb, 7, look, grid, expected, coding)
    got = np.empty_like(y)
    TorchFrameRenderer("cpu").render((y, u, v), to_rgb, 7, look, grid, got, coding)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert expected.std() > 5  # a real picture, not a flat field that would agree trivially


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/proc/driver/nvidia/version"),
                    reason="only a Linux machine without the NVIDIA driver can rule CUDA out without torch")
def test_classic_conversion_does_not_load_torch_to_look_for_cuda():
    # Importing torch costs about a second of start-up on every classic-style conversion.
    code = ("import sys; from vidbw.render import make_renderer, FrameRenderer, TorchFrameRenderer; "
            "renderer = make_renderer('auto'); "
            "print(type(renderer) is FrameRenderer, 'torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["True", "False"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/proc/driver/nvidia/version"),
                    reason="only a Linux machine without the NVIDIA driver can rule CUDA out without torch")
def test_a_learned_style_renders_without_torch(tmp_path, clip_mkv):
    # The grid network and the pixel model run in numpy at render time: importing torch would hold
    # the GIL for ~0.75 s while the film's first frames wait for their first grid.
    out = tmp_path / "out.mkv"
    code = ("import sys; from vidbw.cli import main\n"
            "try:\n"
            f"    main(['convert', {str(clip_mkv)!r}, '-o', {str(out)!r}, '--style', 'street-noir', '--quiet'])\n"
            "except SystemExit as done:\n"
            "    assert not done.code, done.code\n"
            "print('torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == [str(out), "False"]  # the output's path, as --quiet prints it, then the check


def test_the_networks_run_on_one_blas_thread_even_when_numpy_came_first():
    # A second BLAS thread spins between the networks' small products on the encoder's cores (the
    # 60 s benchmark film: 46.5 s instead of 38). numpy is imported first here, as Ray workers do.
    code = ("import numpy, json\n"
            "from threadpoolctl import threadpool_info\n"
            "def blas(): return max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas')\n"
            "import vidbw.models.pixel_look as look\n"
            "from vidbw.styles import get_style\n"
            "seen, real = [], look.fit_grid\n"
            "look.fit_grid = lambda *a, **k: seen.append(blas()) or real(*a, **k)\n"
            "before = blas()\n"
            "get_style('landscape-master').grids_for(numpy.full((2, 36, 64, 3), 0.5, numpy.float32), proxy=0)\n"
            "print(json.dumps([before, seen, blas()]))")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # numpy's own default on a 2-core machine
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    before, inside, after = json.loads(shown)
    assert before == 2
    assert inside == [1, 1]  # each frame's refit, inside the networks' call
    assert after == 1  # held, not restored: a restore racing a render thread changed its sums
