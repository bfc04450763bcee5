"""The warping-error flicker metric (Lai et al. 2018) and `vidbw eval flicker`.

Sanity checks on real footage: the source's own Rec.709 luma scores 1.0, added per-frame
brightness flicker scores clearly higher, and a steady `vidbw convert` scores about 1. The
tone-matched ratio reads any fixed tone curve of the luma as 1 and still sees per-frame changes
of gain, offset or curve shape.
"""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from conftest import assert_ok, assert_one_line_error, run_inprocess
from vidbw.eval.flicker import (ColourFlicker, FlowEstimator, fit_shot_mixes, fit_tone_curve, measure_flicker, measure_flicker_frames,
                                measure_flicker_many)
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
    report = measure_flicker_frames(iter(frames), (rec709_luma(f) for f in frames))
    assert report.pairs == 11 and report.frames == 12
    assert report.ratio == 1.0 and report.brightness_ratio == 1.0
    assert report.warp_error_source > 0


def test_added_brightness_flicker_raises_the_ratio():
    frames = _panning(20)
    rng = np.random.default_rng(5)
    offsets = rng.uniform(-0.04, 0.04, len(frames))
    flicker = [np.clip(rec709_luma(f) + o, 0, 1) for f, o in zip(frames, offsets)]
    report = measure_flicker_frames(iter(frames), iter(flicker))
    assert report.ratio > 1.2 and report.ratio_contrast_matched > 1.2
    assert report.brightness_ratio > 2


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_film_that_does_not_move_gives_valid_json_reports():
    still = [_textured(3)] * 6
    steady = measure_flicker_frames(iter(still), (rec709_luma(f) for f in still))
    assert steady.warp_error_source == 0 and steady.ratio == 1.0  # nothing moves, nothing flickers
    flickering = measure_flicker_frames(iter(still), (np.clip(rec709_luma(f) + 0.03 * (i % 2), 0, 1)
                                                      for i, f in enumerate(still)))
    assert flickering.ratio == float("inf")
    data = _strict_json(flickering.to_json())
    assert data["ratio"] is None and data["warp_error_output"] > 0
    # a colorization of it: the same rule, where the colour report used to divide by zero into NaN
    assert ColourFlicker(0.0, 0.0, 5).ratio == 1.0
    assert _strict_json(ColourFlicker(0.002, 0.0, 5).to_json())["ratio"] is None


def test_more_contrast_is_not_flicker_once_contrast_is_matched():
    frames = _panning(16)
    punchy = [np.clip(0.5 + 1.6 * (rec709_luma(f) - 0.5), 0, 1) for f in frames]
    steady = measure_flicker_frames(iter(frames), iter(punchy))
    assert steady.ratio > 2  # the plain ratio reads steeper contrast as bigger differences
    assert steady.contrast_gain == pytest.approx(1.6, rel=0.05)
    assert steady.ratio_contrast_matched == pytest.approx(1.0, abs=0.1)
    rng = np.random.default_rng(6)
    jitter = [np.clip(p + rng.uniform(-0.04, 0.04), 0, 1) for p in punchy]
    assert measure_flicker_frames(iter(frames), iter(jitter)).ratio_contrast_matched > 1.2


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


@pytest.mark.parametrize("name, curve", [
    ("s-curve", _s_curve),
    ("crushed blacks and whites", lambda l: np.clip(2 * (l - 0.25), 0, 1).astype(np.float32)),
    ("flat gamma 0.5", lambda l: np.sqrt(np.clip(l, 0, 1)).astype(np.float32)),
])
def test_any_fixed_tone_curve_reads_one_once_tone_is_matched(name, curve):
    frames = _noisy(_panning(16))
    report = measure_flicker_frames(iter(frames), (curve(rec709_luma(f)) for f in frames))
    assert abs(report.ratio - 1) > 0.4  # the plain ratio reads the curve's slope as (less or more) flicker
    assert report.ratio_tone_matched == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("kind", ["gain", "offset", "gamma"])
def test_per_frame_changes_of_the_mapping_are_not_absorbed_by_the_tone_matched_reference(kind):
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
    assert flickering.ratio_tone_matched > 1.25 * steady.ratio_tone_matched
    assert flickering.ratio_tone_matched > 1.3


RED = np.array([1.0, 0.0, 0.0], np.float32)
BLUE = np.array([0.1, 0.2, 0.7], np.float32)


def test_a_steady_classic_filter_reads_one_once_its_mix_is_matched():
    """A red filter + S-curve is flicker-free, but its red channel carries other noise than luma:
    only the mix-matched reference (the shot's least-squares mix, then a curve) sees it as steady."""
    frames = _noisy(_panning(16))
    outputs = [_s_curve(f @ RED) for f in frames]
    steady = measure_flicker_frames(iter(frames), iter(outputs))
    assert steady.ratio_tone_matched > 2  # luma cannot stand in for the red channel on this texture
    assert steady.ratio_mix_matched == pytest.approx(1.0, abs=0.03)
    mix = np.array(steady.mixes[0])
    assert abs(mix[1]) < 0.02 and abs(mix[2]) < 0.02 and mix[0] > 1  # the fitted mix is the red channel
    gains = np.random.default_rng(8).uniform(0.97, 1.03, 16)
    flickering = measure_flicker_frames(iter(frames), iter([np.clip(o * g, 0, 1) for o, g in zip(outputs, gains)]))
    assert flickering.ratio_mix_matched > 1.3


def test_each_shot_gets_its_own_mix():
    first, second = _noisy(_panning(10, seed=1)), _noisy(_panning(10, seed=2), seed=4)
    outputs = [_s_curve(f @ RED) for f in first] + [np.clip(0.1 + 0.8 * (f @ BLUE), 0, 1) for f in second]
    report = measure_flicker_frames(iter(first + second), iter(outputs), cuts=[10])
    assert len(report.mixes) == 2
    assert np.array(report.mixes[1]) == pytest.approx([0.08, 0.16, 0.56, 0.1], abs=0.01)  # 0.8 * BLUE + 0.1
    assert report.ratio_mix_matched == pytest.approx(1.0, abs=0.03)
    # without the cut one mix must serve both looks, and the two looks differ in the noise they carry
    mixes = fit_shot_mixes(iter(first + second), [iter(outputs)])
    assert list(mixes[0]) == [0]


def test_a_luma_source_has_no_mix_matched_ratio():
    frames = [rec709_luma(f) for f in _panning(6)]
    report = measure_flicker_frames(iter(frames), iter(frames))
    assert np.isnan(report.ratio_mix_matched) and report.mixes == []
    assert report.to_dict()["ratio_mix_matched"] is None and not any("mix-matched" in line for line in report.lines())


def test_pairs_across_cuts_are_skipped():
    frames = _panning(10, seed=1) + _panning(10, seed=2)
    lumas = [rec709_luma(f) for f in frames]
    with_cut = measure_flicker_frames(iter(frames), iter(lumas), cuts=[10])
    assert with_cut.pairs == 18 and with_cut.skipped_at_cuts == 1
    # an output that changes style at the cut is not penalised there
    restyled = [l if i < 10 else 1 - l for i, l in enumerate(lumas)]
    assert measure_flicker_frames(iter(frames), iter(restyled), cuts=[10]).ratio == pytest.approx(1.0, abs=1e-6)
    assert measure_flicker_frames(iter(frames), iter(restyled)).ratio > 2  # without the cut it would be
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
    assert steady.pairs == FRAMES - 1 and steady.size == SIZE
    assert steady.ratio == pytest.approx(1.0, abs=0.02)
    assert steady.ratio_tone_matched == pytest.approx(1.0, abs=0.02)
    assert steady.ratio_mix_matched == pytest.approx(1.0, abs=0.02)
    assert np.array(steady.mixes[0][:3]) == pytest.approx([0.2126, 0.7152, 0.0722], abs=0.03)
    flickering = measure_flicker(source, flicker, shots=ShotList.from_cuts([], FRAMES, 24.0))
    assert flickering.ratio > 1.2 and flickering.brightness_ratio > 1.5
    assert flickering.ratio_tone_matched > 1.2 and flickering.ratio_mix_matched > 1.2


def test_several_outputs_share_one_flow_and_match_single_measurements(real_clips):
    source, gray, flicker = real_clips
    shots = ShotList.from_cuts([], FRAMES, 24.0)
    both = measure_flicker_many(source, [gray, flicker], shots=shots, max_frames=12)
    for report, output in zip(both, (gray, flicker)):
        alone = measure_flicker(source, output, shots=shots, max_frames=12).to_dict()
        shared = report.to_dict()
        assert np.allclose(shared.pop("mixes"), alone.pop("mixes"), rtol=1e-9, atol=1e-12)
        numbers = [k for k, v in alone.items() if isinstance(v, float)]
        assert {k: shared[k] for k in numbers} == pytest.approx({k: alone[k] for k in numbers}, rel=1e-9)
        assert {k: v for k, v in shared.items() if k not in numbers} == {k: v for k, v in alone.items() if k not in numbers}
    assert both[1].ratio_tone_matched > both[0].ratio_tone_matched


def test_a_steady_vidbw_conversion_scores_about_one(real_clips, tmp_path, capsys):
    source, _gray, _flicker = real_clips
    converted = tmp_path / "bw.mp4"
    assert_ok(run_inprocess(["convert", source, "-o", converted, "--style", "neutral", "-q"], capsys))
    shots_file = ShotList.from_cuts([], FRAMES, 24.0).save(tmp_path / "shots.json")
    run = run_inprocess(["eval", "flicker", source, converted, "--shots", shots_file, "--json"], capsys)
    assert_ok(run)
    report = json.loads(run.out)
    assert report["pairs"] == FRAMES - 1 and report["skipped_at_cuts"] == 0
    assert 0.9 < report["ratio"] < 1.15, report
    assert 0.9 < report["ratio_contrast_matched"] < 1.15 and report["contrast_gain"] == pytest.approx(1.0, abs=0.05)
    assert 0.95 < report["ratio_tone_matched"] < 1.1, report
    assert 0.95 < report["ratio_mix_matched"] < 1.1, report
    text = run_inprocess(["eval", "flicker", source, converted, "--shots", shots_file], capsys)
    assert_ok(text)
    assert all(f"{name} ratio" in text.out for name in ("warping error", "tone-matched", "mix-matched"))
    assert 0.8 < report["brightness_ratio"] < 1.25, report
    run = run_inprocess(["eval", "flicker", source, converted, "--max-frames", "10"], capsys)  # cuts detected
    assert_ok(run)
    assert run.out.startswith("warping error ratio ") and "9 frame pairs" in run.out


def test_a_steady_red_filter_conversion_reads_one_once_its_mix_is_matched(real_clips, tmp_path, capsys):
    source, _gray, _flicker = real_clips
    converted = tmp_path / "red.mkv"
    assert_ok(run_inprocess(["convert", source, "-o", converted, "--style", "red", "--codec", "ffv1", "-q"], capsys))
    report = measure_flicker(source, converted, shots=ShotList.from_cuts([], FRAMES, 24.0))
    assert report.ratio > 1.1  # the red channel carries more of the source's noise than luma does
    assert report.ratio_mix_matched == pytest.approx(1.0, abs=0.05)
    assert report.mixes[0][0] > 2 * max(abs(report.mixes[0][1]), abs(report.mixes[0][2]))


def test_eval_flicker_bad_input_is_one_line(tmp_path, capsys, clip_mkv):
    assert_one_line_error(run_inprocess(["eval", "flicker", tmp_path / "nope.mp4", clip_mkv], capsys), "input not found")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert_one_line_error(run_inprocess(["eval", "flicker", clip_mkv, clip_mkv, "--shots", bad], capsys), "not valid JSON")
