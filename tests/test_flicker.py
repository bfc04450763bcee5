"""The warping-error flicker metric (Lai et al. 2018) and `vidbw eval flicker`.

Any steady classic look (channel mix + tone curve, B&W or colour) reads ≈ 1 against itself held
still, whatever its contrast; per-frame changes of gain, offset, curve shape, or a curve drifting
inside a shot read clearly above. Mapping flicker: Rec.709 luma is its own floor, a local mix fixed
to the frame while the content pans reads far above it. On real footage the source's luma scores 1,
luma jitter scores higher, and steady `vidbw convert` renders score about 1.
"""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from conftest import assert_ok, assert_one_line_error, run_inprocess
from vidbw.eval.flicker import (FlowEstimator, fit_shot_mixes, fit_tone_curve, measure_colour_flicker, measure_flicker,
                                measure_flicker_frames, measure_flicker_many)
from vidbw.shots import ShotList
from vidbw.shots.analysis import rec709_luma

SIZE = (320, 180)
FRAMES = 40


def _textured(seed: int, size=(200, 120)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((size[1] // 8, size[0] // 8, 3)).astype(np.float32)
    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _panning(n: int, seed: int = 0, step: int = 2) -> list[np.ndarray]:
    """A textured picture panning `step` px per frame (float RGB in [0, 1])."""
    big = _textured(seed, (200 + step * n, 120))
    return [big[:, i * step:i * step + 200].copy() for i in range(n)]


# --------------------------------------------------------------------------- the measure itself


def _codes(frame):
    return (np.rint(frame * 255) / 255).astype(np.float32)  # an 8-bit output


def test_flow_and_occlusion_mask_follow_a_pan():
    frames = _panning(2, step=4)
    a, b = (rec709_luma(f) for f in frames)
    pair = FlowEstimator().pair(a, b)
    # content moves left by 4 px, so x in frame t is found at x - 4 in frame t+1
    dx = pair.flow.map_x - np.arange(a.shape[1])[None, :]
    assert np.median(dx[20:-20, 20:-20]) == pytest.approx(-4, abs=0.3)
    assert not pair.valid[:, :3].any()  # pixels that leave the frame are masked
    assert pair.valid.mean() > 0.8
    assert pair.error(a, b) < 1e-4  # warping t+1 back onto t explains the pan


def test_source_luma_against_itself_is_exactly_one():
    frames = _panning(12)
    report = measure_flicker_frames(iter(frames), (_codes(rec709_luma(f)) for f in frames))  # as an 8-bit film
    assert report.pairs == 11 and report.frames == 12
    assert report.ratio_rec709 == 1.0
    assert report.warp_error_rec709 > 0
    assert report.brightness_flicker_output == pytest.approx(report.brightness_flicker_source, abs=1e-3)
    assert report.ratio_held_still == pytest.approx(1.0, abs=1e-3) and report.mapping_ratio == 1.0


def test_added_brightness_flicker_raises_every_measure():
    frames = _noisy(_panning(20))
    rng = np.random.default_rng(5)
    offsets = rng.uniform(-0.04, 0.04, len(frames))
    flicker = [np.clip(rec709_luma(f) + o, 0, 1) for f, o in zip(frames, offsets)]
    report = measure_flicker_frames(iter(frames), iter(flicker))
    assert report.ratio_rec709 > 1.2 and report.ratio_held_still > 1.2
    assert report.mapping_ratio > 10 and report.mapping_ratio_held_still > 10  # a global offset moves every block's fit
    assert report.brightness_flicker_output > 3 * report.brightness_flicker_source


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_film_that_does_not_move_gives_valid_json_reports():
    still = [_textured(3)] * 6
    steady = measure_flicker_frames(iter(still), (rec709_luma(f) for f in still))
    assert steady.warp_error_rec709 == 0 and steady.ratio_rec709 == 1.0  # nothing moves, nothing flickers
    assert steady.ratio_held_still == 1.0 and steady.mapping_ratio == 1.0
    flickering = measure_flicker_frames(iter(still), (np.clip(rec709_luma(f) + 0.03 * (i % 2), 0, 1)
                                                      for i, f in enumerate(still)))
    assert flickering.ratio_rec709 == float("inf") and flickering.ratio_held_still == float("inf")
    data = _strict_json(flickering.to_json())
    assert data["ratio_rec709"] is None and data["ratio_held_still"] is None and data["warp_error_output"] > 0


def _noisy(frames, sigma=0.01, seed=3):
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 1).astype(np.float32) for f in frames]


def _s_curve(luma):
    return (0.5 + 0.5 * np.tanh(3.0 * (luma - 0.5)) / np.tanh(1.5)).astype(np.float32)


def test_tone_curve_fit_recovers_what_the_data_follow():
    x = np.linspace(0, 1, 20_000, dtype=np.float32)
    line = fit_tone_curve([x], [0.2 + 0.5 * x])
    assert np.abs(line(x) - (0.2 + 0.5 * x)).max() < 1e-5  # knots at the bins' mean points lie on the line
    curve = fit_tone_curve([x], [_s_curve(x)])
    assert len(curve.x) == 32 and np.abs(curve(x) - _s_curve(x)).max() < 0.01
    # beyond the data the end segments continue (not flat), clipped to [0, 1]
    mid = fit_tone_curve([0.3 + 0.4 * x], [0.3 + 0.4 * x])
    assert mid(np.array([0.1, 0.9, 0.0], np.float32)) == pytest.approx([0.1, 0.9, 0.0], abs=1e-5)
    steep = fit_tone_curve([0.3 + 0.4 * x], [2 * x])  # output 2 * (source - 0.3) / 0.4 ... clipped
    assert steep(np.array([0.0, 1.0], np.float32)).tolist() == [0.0, 1.0]
    # noisy, partly decreasing data: least squares made monotone (pool-adjacent-violators)
    rng = np.random.default_rng(0)
    noisy = fit_tone_curve([x], [0.5 - 0.05 * x + rng.normal(0, 0.05, x.size)])
    assert np.all(np.diff(noisy.y) >= 0) and np.all(np.diff(noisy.x) > 0)
    assert noisy(x).mean() == pytest.approx(0.475, abs=0.01) and np.ptp(noisy(x)) < 0.05


RED = np.array([1.0, 0.0, 0.0], np.float32)
BLUE = np.array([0.1, 0.2, 0.7], np.float32)
MIXES = {"luma": np.array([0.2126, 0.7152, 0.0722], np.float32), "red": RED, "infrared": np.array([0.45, 1.05, -0.5], np.float32)}


CURVES = {
    "s-curve": _s_curve,
    "crushed blacks and whites": lambda l: np.clip(2 * (l - 0.25), 0, 1).astype(np.float32),
    "flat gamma 0.5": lambda l: np.sqrt(np.clip(l, 0, 1)).astype(np.float32),
}


@pytest.mark.parametrize("mix, name", [
    *((mix, name) for mix in ("luma", "red") for name in ("s-curve", "crushed blacks and whites")),
    ("luma", "flat gamma 0.5"),
    ("infrared", "s-curve"),
])
def test_any_steady_classic_look_reads_one_against_itself_held_still(mix, name):
    """A classic look (a channel mix, then a tone curve) is its own held-still reference: ≈ 1 whatever
    its contrast, where the Rec.709 ratio reads the curve's slope and the mix's noise.

    The mix is fitted by linear least squares before the curve, so with a strongly bent curve on a
    mix other than luma's it is fitted a little off its direction: gamma 0.5 after the red channel
    reads 1.26, crushed blacks and whites after infrared 1.04 (a limit of the reference)."""
    curve = CURVES[name]
    frames = _noisy(_panning(16))
    report = measure_flicker_frames(iter(frames), (_codes(curve(np.clip(f @ MIXES[mix], 0, 1))) for f in frames))
    assert report.ratio_held_still == pytest.approx(1.0, abs=0.03)
    assert report.mapping_ratio_held_still == pytest.approx(1.0, abs=0.1)
    if mix != "luma" or name != "flat gamma 0.5":
        assert abs(report.ratio_rec709 - 1) > 0.3


@pytest.mark.parametrize("kind", ["gain", "offset", "gamma"])
def test_per_frame_changes_of_the_mapping_raise_the_held_still_ratio(kind):
    frames = _noisy(_panning(16))
    rng = np.random.default_rng(8)
    jitter = {"gain": rng.uniform(0.97, 1.03, 16), "offset": rng.uniform(-0.02, 0.02, 16),
              "gamma": rng.uniform(0.95, 1.05, 16)}[kind]
    lumas = [rec709_luma(f) for f in frames]
    if kind == "gain":
        outputs = [np.clip(_s_curve(l) * j, 0, 1) for l, j in zip(lumas, jitter)]
    elif kind == "offset":
        outputs = [np.clip(_s_curve(l) + j, 0, 1) for l, j in zip(lumas, jitter)]
    else:  # the curve changes shape from frame to frame, not just its level
        outputs = [_s_curve(np.clip(l, 0, 1) ** j) for l, j in zip(lumas, jitter)]
    steady = measure_flicker_frames(iter(frames), (_s_curve(l) for l in lumas))
    flickering = measure_flicker_frames(iter(frames), iter(outputs))
    assert steady.ratio_held_still == pytest.approx(1.0, abs=0.03)
    assert flickering.ratio_held_still > 1.3
    assert flickering.mapping_flicker > 3 * steady.mapping_flicker


def test_one_curve_per_shot_so_a_curve_that_drifts_inside_a_shot_is_flicker():
    """The held-still reference has one tone curve for the whole shot (not one per pair): a look
    whose contrast drifts slowly over the shot cannot hide in it."""
    frames = _noisy(_panning(16))
    drift = [np.clip(0.5 + (0.7 + 0.05 * i) * (rec709_luma(f) - 0.5), 0, 1) for i, f in enumerate(frames)]
    report = measure_flicker_frames(iter(frames), iter(drift))
    assert report.ratio_held_still > 1.2


def test_each_shot_gets_its_own_transform():
    first, second = _noisy(_panning(10, seed=1)), _noisy(_panning(10, seed=2), seed=4)
    outputs = [_s_curve(f @ RED) for f in first] + [np.clip(0.1 + 0.8 * (f @ BLUE), 0, 1) for f in second]
    report = measure_flicker_frames(iter(first + second), iter(outputs), cuts=[10])
    assert len(report.transforms) == 2 and len(report.transforms[1]) == 1  # per shot, per output channel
    assert np.array(report.transforms[1][0]) == pytest.approx([0.08, 0.16, 0.56, 0.1], abs=0.01)  # 0.8 * BLUE + 0.1
    mix = np.array(report.transforms[0][0])
    assert abs(mix[1]) < 0.02 and abs(mix[2]) < 0.02 and mix[0] > 1  # the first shot's is the red channel
    assert report.ratio_held_still == pytest.approx(1.0, abs=0.03)
    # without the cut one mix must serve both looks, and the two looks differ in the noise they carry
    mixes = fit_shot_mixes(iter(first + second), [iter(outputs)])
    assert list(mixes[0]) == [0]
    assert measure_flicker_frames(iter(first + second), iter(outputs)).ratio_held_still > 1.1


def test_a_colour_output_is_held_still_by_a_colour_transform_and_curves():
    frames = _noisy(_panning(16))
    matrix = np.array([[0.9, 0.1, 0.0], [0.2, 0.6, 0.2], [0.0, 0.3, 0.8]], np.float32)  # a steady grade
    graded = [_codes(_s_curve(np.clip(f @ matrix.T, 0, 1))) for f in frames]
    steady = measure_flicker_frames(iter(frames), iter(graded))
    assert steady.colour and len(steady.transforms[0]) == 3
    assert steady.ratio_held_still == pytest.approx(1.0, abs=0.03)
    assert steady.mapping_ratio_held_still == pytest.approx(1.0, abs=0.1)
    rng = np.random.default_rng(4)  # the red channel alone pumps
    pumping = [np.clip(g + np.array([rng.uniform(-0.03, 0.03), 0, 0], np.float32), 0, 1) for g in graded]
    assert measure_flicker_frames(iter(frames), iter(pumping)).ratio_held_still > 1.2


def _swimming(frames, amplitude, period=80.0):
    """A look whose local mix is fixed to the frame, not to the content: the red weight varies across
    the frame as a sine of x (amplitude in R' weight), so content panning through it changes its mix."""
    h, w = frames[0].shape[:2]
    red = (amplitude * np.sin(2 * np.pi * np.arange(w) / period)).astype(np.float32)[None, :]
    return [_codes(np.clip(rec709_luma(f) + red * (f[..., 0] - f[..., 1]), 0, 1)) for f in frames]


def test_a_local_mix_that_does_not_follow_the_content_raises_mapping_flicker():
    frames = _noisy(_panning(12, step=3))
    steady = measure_flicker_frames(iter(frames), iter(_swimming(frames, 0.0)))
    assert steady.mapping_ratio == pytest.approx(1.0, abs=1e-6)  # Rec.709 luma as an 8-bit film: its own floor
    swimming = measure_flicker_frames(iter(frames), iter(_swimming(frames, 0.2)))
    assert swimming.mapping_ratio > 20 and swimming.mapping_ratio_held_still > 20
    # on a still camera the same look is a fixed function of the content: close to the floor
    still = _noisy([_textured(0)] * 12)
    fixed = measure_flicker_frames(iter(still), iter(_swimming(still, 0.2)))
    assert fixed.mapping_ratio < 2


def test_pairs_across_cuts_are_skipped():
    frames = _panning(10, seed=1) + _panning(10, seed=2)
    lumas = [_codes(rec709_luma(f)) for f in frames]
    with_cut = measure_flicker_frames(iter(frames), iter(lumas), cuts=[10])
    assert with_cut.pairs == 18 and with_cut.skipped_at_cuts == 1
    # an output that changes style at the cut is not penalised there
    restyled = [l if i < 10 else 1 - l for i, l in enumerate(lumas)]
    assert measure_flicker_frames(iter(frames), iter(restyled), cuts=[10]).ratio_rec709 == pytest.approx(1.0, abs=1e-6)
    assert measure_flicker_frames(iter(frames), iter(restyled)).ratio_rec709 > 2  # without the cut it would be
    assert measure_flicker_frames(iter(frames), iter(lumas), max_frames=5).pairs == 4


# --------------------------------------------------------------------------- real footage, files


def _encode(path, frames_rgb8, rate=24, codec="libx264", pix_fmt="yuv420p", options=None):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(rate), options=options if options is not None else {"crf": "12", "preset": "veryfast"})
        stream.width, stream.height = frames_rgb8[0].shape[1], frames_rgb8[0].shape[0]
        stream.pix_fmt = pix_fmt
        for rgb in frames_rgb8:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def real_clips(shared_media, tmp_path_factory):
    """40 frames of real footage (320x180), its Rec.709 luma as gray video, and a flickering luma."""
    folder = tmp_path_factory.mktemp("flicker")
    rgb = []
    with av.open(str(shared_media / "video" / "juggler_park_720p.mp4")) as container:
        for frame in container.decode(video=0):
            rgb.append(cv2.resize(frame.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_AREA))
            if len(rgb) == FRAMES:
                break
    source = _encode(folder / "source.mp4", rgb, options={"qp": "0", "preset": "veryfast"}, codec="libx264rgb",
                     pix_fmt="rgb24")
    luma = [np.rint(rec709_luma(f) * 255).astype(np.uint8) for f in rgb]
    gray = _encode(folder / "luma.mkv", [np.repeat(l[..., None], 3, axis=2) for l in luma], codec="ffv1", pix_fmt="bgr0",
                   options={})
    rng = np.random.default_rng(11)
    flickering = [np.clip(l.astype(np.int16) + int(rng.integers(-12, 13)), 0, 255).astype(np.uint8) for l in luma]
    flicker = _encode(folder / "flicker.mkv", [np.repeat(l[..., None], 3, axis=2) for l in flickering], codec="ffv1",
                      pix_fmt="bgr0", options={})
    return source, gray, flicker


def test_luma_video_scores_one_and_flicker_scores_higher(real_clips):
    source, gray, flicker = real_clips
    steady = measure_flicker(source, gray, shots=ShotList.from_cuts([], FRAMES, 24.0))
    assert steady.pairs == FRAMES - 1 and steady.size == SIZE and steady.mapping_size == SIZE
    assert steady.ratio_rec709 == pytest.approx(1.0, abs=0.02)
    assert steady.ratio_held_still == pytest.approx(1.0, abs=0.02)
    assert steady.mapping_ratio == pytest.approx(1.0, abs=0.1)  # the luma film is its own floor
    assert np.array(steady.transforms[0][0][:3]) == pytest.approx([0.2126, 0.7152, 0.0722], abs=0.03)
    flickering = measure_flicker(source, flicker, shots=ShotList.from_cuts([], FRAMES, 24.0))
    assert flickering.ratio_rec709 > 1.2 and flickering.ratio_held_still > 1.2
    assert flickering.mapping_ratio > 5
    assert flickering.brightness_flicker_output > 5 * flickering.brightness_flicker_source


def test_several_outputs_share_one_flow_and_match_single_measurements(real_clips):
    source, gray, flicker = real_clips
    shots = ShotList.from_cuts([], FRAMES, 24.0)
    both = measure_flicker_many(source, [gray, flicker], shots=shots, max_frames=12)
    for report, output in zip(both, (gray, flicker)):
        alone = measure_flicker(source, output, shots=shots, max_frames=12).to_dict()
        shared = report.to_dict()
        assert np.allclose(shared.pop("transforms"), alone.pop("transforms"), rtol=1e-9, atol=1e-12)
        numbers = [k for k, v in alone.items() if isinstance(v, float)]
        assert {k: shared[k] for k in numbers} == pytest.approx({k: alone[k] for k in numbers}, rel=1e-9)
        assert {k: v for k, v in shared.items() if k not in numbers} == {k: v for k, v in alone.items() if k not in numbers}
    assert both[1].ratio_held_still > both[0].ratio_held_still


def test_a_steady_vidbw_conversion_scores_about_one(real_clips, tmp_path, capsys):
    source, _gray, _flicker = real_clips
    converted = tmp_path / "bw.mp4"
    assert_ok(run_inprocess(["convert", source, "-o", converted, "--style", "neutral", "-q"], capsys))
    shots_file = ShotList.from_cuts([], FRAMES, 24.0).save(tmp_path / "shots.json")
    run = run_inprocess(["eval", "flicker", source, converted, "--shots", shots_file, "--json"], capsys)
    assert_ok(run)
    report = json.loads(run.out)
    assert report["pairs"] == FRAMES - 1 and report["skipped_at_cuts"] == 0
    assert 0.9 < report["ratio_rec709"] < 1.15, report
    assert 0.95 < report["ratio_held_still"] < 1.05, report
    # a lossy x264 output carries coding noise that changes every frame: above the floor (5.2 here),
    # which is why the ≈ 1 checks of mapping flicker use lossless renders
    assert report["mapping_flicker"] > report["mapping_floor"] > 0, report
    assert abs(report["brightness_flicker_output"] - report["brightness_flicker_source"]) < 0.1, report
    keys = {"ratio_held_still", "mapping_flicker", "mapping_floor", "mapping_ratio", "mapping_held_still",
            "mapping_ratio_held_still", "ratio_rec709", "brightness_flicker_output", "brightness_flicker_source"}
    assert keys <= set(report)
    text = run_inprocess(["eval", "flicker", source, converted, "--shots", shots_file], capsys)
    assert_ok(text)
    assert all(name in text.out for name in ("held-still ratio", "mapping flicker", "Rec.709 ratio",
                                              "brightness flicker index"))
    run = run_inprocess(["eval", "flicker", source, converted, "--max-frames", "10"], capsys)  # cuts detected
    assert_ok(run)
    assert run.out.startswith("held-still ratio ") and "9 frame pairs" in run.out


@pytest.mark.parametrize("style", ["red", "noir"])
def test_steady_classic_conversions_read_one_held_still(real_clips, tmp_path, capsys, style):
    source, _gray, _flicker = real_clips
    converted = tmp_path / f"{style}.mkv"
    assert_ok(run_inprocess(["convert", source, "-o", converted, "--style", style, "--codec", "ffv1", "-q"], capsys))
    report = measure_flicker(source, converted, shots=ShotList.from_cuts([], FRAMES, 24.0))
    assert report.ratio_rec709 > 1.1  # the look's contrast and channel mix, not flicker
    assert report.ratio_held_still == pytest.approx(1.0, abs=0.03)
    assert report.mapping_ratio_held_still == pytest.approx(1.0, abs=0.15)
    if style == "red":
        mix = report.transforms[0][0]
        assert mix[0] > 2 * max(abs(mix[1]), abs(mix[2]))


def test_colour_flicker_of_a_steady_grade_and_of_a_pumping_one(real_clips, tmp_path, capsys):
    source, _gray, _flicker = real_clips
    rgb = [f for f in _decode(source)]
    matrix = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.9]], np.float32)
    graded = [np.clip(np.rint(_s_curve(f @ matrix.T) * 255), 0, 255).astype(np.uint8) for f in rgb]
    rng = np.random.default_rng(2)
    pumped = [np.clip(g.astype(np.int16) + np.array([int(rng.integers(-8, 9)), 0, 0]), 0, 255).astype(np.uint8)
              for g in graded]
    steady_path = _encode(tmp_path / "grade.mkv", graded, codec="ffv1", pix_fmt="bgr0", options={})
    pumped_path = _encode(tmp_path / "pumped.mkv", pumped, codec="ffv1", pix_fmt="bgr0", options={})
    shots = ShotList.from_cuts([], FRAMES, 24.0)
    steady = measure_colour_flicker(source, steady_path, shots=shots)
    assert steady.colour and len(steady.transforms[0]) == 3
    assert steady.ratio_held_still == pytest.approx(1.0, abs=0.03)
    assert measure_colour_flicker(source, pumped_path, shots=shots).ratio_held_still > 1.2
    run = run_inprocess(["eval", "flicker", source, pumped_path, "--colour", "--shots",
                         shots.save(tmp_path / "s.json")], capsys)
    assert_ok(run)
    assert "output R'G'B'" in run.out and "3x4 colour transform" in run.out


def _decode(path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24").astype(np.float32) / 255


def test_eval_flicker_bad_input_is_one_line(tmp_path, capsys, clip_mkv):
    assert_one_line_error(run_inprocess(["eval", "flicker", tmp_path / "nope.mp4", clip_mkv], capsys), "input not found")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert_one_line_error(run_inprocess(["eval", "flicker", clip_mkv, clip_mkv, "--shots", bad], capsys), "not valid JSON")
