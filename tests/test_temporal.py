"""Temporal grid smoothing: centred Gaussian within a shot, reset at cuts, bounded memory, in order."""

from __future__ import annotations

import numpy as np
import pytest

from vidbw.errors import OptionError
from vidbw.temporal import MODES, GridSmoother, smooth_grids

SHAPE = (4, 8, 4, 6)


def run(smoother: GridSmoother, grids, shots, start: int = 0):
    """Push everything, flush; return the outputs in emission order and the buffer sizes seen."""
    out = []
    for i, (grid, shot) in enumerate(zip(grids, shots)):
        out.extend(smoother.push(start + i, shot, grid))
        assert len(smoother._buffer) <= 2 * smoother.radius + 1
    out.extend(smoother.flush())
    return out


@pytest.mark.parametrize("mode", ["off", "light", "strong"])
def test_every_grid_comes_out_once_in_order(mode):
    rng = np.random.default_rng(0)
    shots = [0] * 30 + [1] + [2] * 7 + [3] * 40
    grids = rng.normal(size=(len(shots), *SHAPE)).astype(np.float32)
    smoother = GridSmoother(mode)
    out = run(smoother, grids, shots, start=100)
    assert [i for i, _ in out] == list(range(100, 100 + len(shots)))
    assert all(g.dtype == np.float32 and g.shape == SHAPE for _, g in out)
    assert smoother.max_buffered <= 2 * smoother.radius + 1
    assert smoother.max_buffered == (2 * smoother.radius + 1 if mode != "off" else 1)


@pytest.mark.parametrize("mode", ["light", "strong"])
def test_latency_is_the_radius(mode):
    smoother = GridSmoother(mode)
    r = smoother.radius
    emitted_at = {}
    for i in range(60):
        for index, _ in smoother.push(i, "shot", np.zeros(SHAPE, np.float32)):
            emitted_at[index] = i
    assert all(emitted_at[k] - k == r for k in emitted_at)
    assert len(emitted_at) == 60 - r
    assert [i for i, _ in smoother.flush()] == list(range(60 - r, 60))


def test_constant_grids_stay_exactly_constant():
    rng = np.random.default_rng(1)
    for mode in ("light", "strong"):
        shots = [0] * 3 + [1] * 50 + [2] + [3] * 20
        values = rng.normal(size=(4, *SHAPE)).astype(np.float32)
        grids = np.stack([values[s] for s in shots])
        out = smooth_grids(grids, shots, mode)
        np.testing.assert_array_equal(out, grids)


def test_noise_variance_drops_and_strong_smooths_more():
    rng = np.random.default_rng(2)
    n = 400
    base = rng.normal(size=SHAPE).astype(np.float32)
    grids = (base + 0.1 * rng.normal(size=(n, *SHAPE))).astype(np.float32)
    shots = [0] * n
    raw = np.var(grids - base)
    light = np.var(smooth_grids(grids, shots, "light")[20:-20] - base)
    strong = np.var(smooth_grids(grids, shots, "strong")[20:-20] - base)
    # A Gaussian of σ frames cuts white-noise variance by about 2·σ·√π.
    assert light < raw / 5 and strong < light / 2.5
    assert np.abs(smooth_grids(grids, shots, "light").mean(axis=0) - base).max() < 0.02  # no bias


def test_no_leakage_across_a_cut_a_step_stays_a_step():
    n = 60
    shots = [0] * 30 + [1] * 30
    grids = np.stack([np.full(SHAPE, 0.0 if s == 0 else 1.0, np.float32) for s in shots])
    for mode in ("light", "strong"):
        out = smooth_grids(grids, shots, mode)
        np.testing.assert_array_equal(out[:30], 0.0)
        np.testing.assert_array_equal(out[30:], 1.0)
        assert len(out) == n


def test_window_is_truncated_and_renormalised_at_shot_ends():
    shots = [0] * 10
    grids = np.stack([np.full(SHAPE, float(i), np.float32) for i in range(10)])
    out = smooth_grids(grids, shots, "light")
    sigma, radius = MODES["light"]
    offsets = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (offsets / sigma) ** 2)
    # frame 0 sees only frames 0..4, weights renormalised over them
    expected0 = (w[radius:] * np.arange(0, radius + 1)).sum() / w[radius:].sum()
    assert out[0, 0, 0, 0, 0] == pytest.approx(expected0, rel=1e-6)
    # frame 5 is symmetric but truncated at 9 (offsets -4..4 -> frames 1..9)
    expected5 = (w * np.arange(1, 10)).sum() / w.sum()
    assert out[5, 0, 0, 0, 0] == pytest.approx(expected5, rel=1e-6)
    # a linear ramp in the middle of a long shot is unchanged (symmetric window)
    long = np.stack([np.full(SHAPE, float(i), np.float32) for i in range(40)])
    assert smooth_grids(long, [0] * 40, "light")[20, 0, 0, 0, 0] == pytest.approx(20.0, rel=1e-6)


def test_one_frame_shots_pass_through_untouched():
    rng = np.random.default_rng(3)
    shots = [0, 1, 2, 3, 3, 3, 4, 5]
    grids = rng.normal(size=(len(shots), *SHAPE)).astype(np.float32)
    out = smooth_grids(grids, shots, "strong")
    for i in (0, 1, 2, 6, 7):
        np.testing.assert_array_equal(out[i], grids[i])
    assert not np.array_equal(out[4], grids[4])  # the 3-frame shot is smoothed, with itself only
    np.testing.assert_allclose(out[3:6].mean(axis=0), out[3:6].mean(axis=0))
    assert np.all(np.minimum.reduce(grids[3:6]) - 1e-6 <= out[4]) and np.all(out[4] <= np.maximum.reduce(grids[3:6]) + 1e-6)


def test_flush_mid_stream_starts_afresh():
    smoother = GridSmoother("light")
    a = np.zeros(SHAPE, np.float32)
    b = np.ones(SHAPE, np.float32)
    out = []
    for i in range(5):
        out += smoother.push(i, 0, a)
    out += smoother.flush()
    for i in range(5, 10):
        out += smoother.push(i, 0, b)  # same shot id after a flush: still not mixed with the old grids
    out += smoother.flush()
    assert [i for i, _ in out] == list(range(10))
    assert all(np.array_equal(g, a) for _, g in out[:5]) and all(np.array_equal(g, b) for _, g in out[5:])


def test_bad_use_is_refused():
    with pytest.raises(OptionError, match="unknown `temporal` 'medium'") as err:
        GridSmoother("medium")
    assert err.value.param == "temporal"  # the CLI shows it as --temporal
    smoother = GridSmoother("light")
    smoother.push(3, 0, np.zeros(SHAPE, np.float32))
    with pytest.raises(ValueError, match="must increase"):
        smoother.push(3, 0, np.zeros(SHAPE, np.float32))
    with pytest.raises(ValueError, match="grid shape changed"):
        smoother.push(4, 0, np.zeros((4, 8, 1, 1), np.float32))
    smoother.push(5, 1, np.zeros((4, 8, 1, 1), np.float32))  # a new shot may have another shape


def test_the_pipeline_scheduler_uses_it(tmp_path):
    from vidbw.pipeline import make_smoother

    assert make_smoother("off") is None
    smoother = make_smoother("strong")
    assert isinstance(smoother, GridSmoother) and smoother.radius == 12
