"""`vidbw eval colorize`: PSNR, SSIM, colourfulness ratio, CDC and the luma check of a colorization
against its colour original, and the gray baseline (the original's own luma, neutral chroma).

Clips are real files (FFV1 lossless, one x264) made from the tests' colour pattern; "outputs" are
the original with its chroma planes edited and its luma planes untouched, as a colorizer writes them.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import media
from conftest import assert_ok, assert_one_line_error, run_inprocess, run_subprocess
from vidbw.errors import InputError
from vidbw.eval.colorize import CDCAccumulator, channel_histograms, colourfulness, js_divergence, measure_colorize

SIZE = (128, 72)
FRAMES = 16


def _rewrite(src: Path, dst: Path, chroma=None, frames: int | None = None, codec: str = "ffv1",
             options: dict | None = None) -> Path:
    """Re-encode `src` plane by plane: luma copied, chroma planes through `chroma(index, u, v)`."""
    decoded = media.video_planes(src, frames)
    with av.open(str(dst), mode="w") as out:
        stream = out.add_stream(codec, rate=Fraction(24), options=options or {})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], decoded[0][0]
        for name, value in media.BT709_TAGS.items():
            setattr(stream.codec_context, name, value)
        for i, (pix_fmt, (y, u, v)) in enumerate(decoded):
            if chroma is not None:
                u, v = chroma(i, u.astype(np.float64), v.astype(np.float64))
            frame = av.VideoFrame(SIZE[0], SIZE[1], pix_fmt)
            for plane, values in zip(frame.planes, (y, u, v)):
                media.plane_view(plane, values.shape[1], values.shape[0], np.uint8)[...] = np.clip(np.round(values), 0, 255)
            frame.pts = i
            frame.time_base = Fraction(1, 24)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("colorize")
    truth = media.write_video(d / "truth.mkv", codec="ffv1", size=SIZE, frames=FRAMES)
    return {
        "truth": truth,
        # a mild miss: chroma 15 % less saturated, luma untouched
        "desaturated": _rewrite(truth, d / "desaturated.mkv", lambda i, u, v: (128 + 0.85 * (u - 128), 128 + 0.85 * (v - 128))),
        # colour that flickers: every other frame's chroma pushed towards blue-magenta
        "alternating": _rewrite(truth, d / "alternating.mkv", lambda i, u, v: (u + 24 * (i % 2), v + 24 * (i % 2))),
        "short": _rewrite(truth, d / "short.mkv", frames=12),
    }


# --------------------------------------------------------------------------- the metrics themselves


def test_js_divergence_colourfulness_and_histograms_by_hand():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, p[::-1]) == pytest.approx(math.log(2))  # disjoint supports: the maximum, ln 2
    assert js_divergence(np.array([1.0, 0]), np.array([0.5, 0.5])) == pytest.approx(
        0.5 * math.log(1 / 0.75) + 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)))

    gray = np.full((4, 4, 3), 0.4, np.float32)
    assert colourfulness(gray) == 0.0
    # half red, half blue: rg = (255, 0), yb = (127.5, -255): σ_rg = 127.5, σ_yb = 191.25, μ = (127.5, -63.75)
    img = np.zeros((1, 2, 3), np.float32)
    img[0, 0] = (1, 0, 0)
    img[0, 1] = (0, 0, 1)
    assert colourfulness(img) == pytest.approx(math.hypot(127.5, 191.25) + 0.3 * math.hypot(127.5, 63.75))

    h = channel_histograms(img)
    assert h.shape == (3, 256) and np.allclose(h.sum(axis=1), 1)
    assert h[0, 255] == h[0, 0] == 0.5 and h[1, 0] == 1.0


def test_cdc_uses_dilations_1_2_4_and_start_frames_of_every():
    rng = np.random.default_rng(0)
    hists = [rng.dirichlet(np.ones(256), size=3) for _ in range(10)]
    full = CDCAccumulator()
    for t, h in enumerate(hists):
        full.add(t, h)
    expected = np.mean([np.mean([js_divergence(hists[t], hists[t + d]) for t in range(10 - d)], axis=0) for d in (1, 2, 4)])
    assert full.value == pytest.approx(expected) and full.pairs == 9 + 8 + 6

    sub = CDCAccumulator(every=5)
    assert [t for t in range(10) if sub.needs(t)] == [0, 1, 2, 4, 5, 6, 7, 9]
    for t, h in enumerate(hists):
        if sub.needs(t):
            sub.add(t, h)
    expected = np.mean([np.mean([js_divergence(hists[s], hists[s + d]) for s in (0, 5)], axis=0) for d in (1, 2, 4)])
    assert sub.value == pytest.approx(expected) and sub.pairs == 6
    assert CDCAccumulator().value is None


# --------------------------------------------------------------------------- on real clips


def test_identical_clips_score_perfectly_and_gray_scores_zero_colour(clips):
    r = measure_colorize(clips["truth"], clips["truth"])
    assert r.frames == r.measured == FRAMES and r.size == SIZE and r.kind == "video"
    assert r.output.psnr == math.inf and r.output.ssim == pytest.approx(1.0)
    assert r.output.colourfulness_ratio == 1.0 and r.output.cdc == r.truth_cdc > 0
    assert r.luma_max_abs == 0 and r.luma_mean_abs == 0 and r.luma_coding == "8-bit limited range"
    assert r.truth_colourfulness > 50  # the pattern is very colourful
    assert r.gray.colourfulness_ratio == 0.0
    assert 5 < r.gray.psnr < 25 and r.gray.ssim < 0.9


def test_gray_baseline_is_below_a_mildly_desaturated_colorization(clips):
    r = measure_colorize(clips["truth"], clips["desaturated"])
    assert r.luma_max_abs == 0  # only chroma was touched
    assert 0.8 < r.output.colourfulness_ratio < 0.9
    assert r.gray.colourfulness_ratio < 1e-6
    assert r.output.psnr > r.gray.psnr + 10
    assert r.output.ssim > r.gray.ssim
    assert math.isfinite(r.output.psnr)


def test_alternating_chroma_has_a_higher_cdc_than_steady_colour(clips):
    steady = measure_colorize(clips["truth"], clips["desaturated"])
    flicker = measure_colorize(clips["truth"], clips["alternating"])
    assert flicker.truth_cdc == pytest.approx(steady.truth_cdc)
    assert flicker.output.cdc > 3 * steady.output.cdc
    assert flicker.output.cdc > 3 * flicker.truth_cdc
    assert flicker.luma_max_abs == 0


def test_lossy_reencode_changes_luma_a_little_and_is_reported_not_failed(clips, tmp_path):
    lossy = _rewrite(clips["truth"], tmp_path / "lossy.mp4", codec="libx264", options={"crf": "30", "preset": "ultrafast"})
    r = measure_colorize(clips["truth"], lossy)
    assert 0 < r.luma_mean_abs < 3 and r.luma_max_abs >= 1
    assert 25 < r.output.psnr < 60 and 0.9 < r.output.colourfulness_ratio < 1.1


def test_luma_of_a_10_bit_output_is_compared_in_the_truths_8_bit_codes(clips, tmp_path):
    ten = media.write_video(tmp_path / "ten.mkv", codec="ffv1", pix_fmt="yuv420p10le", size=SIZE, frames=FRAMES)
    r = measure_colorize(clips["truth"], ten)
    assert r.luma_coding == "8-bit limited range"
    assert 0 < r.luma_max_abs <= 0.5 + 1e-6  # the same pattern, rounded to 10 bits instead of 8
    assert r.output.psnr > 40 and r.output.colourfulness_ratio == pytest.approx(1.0, abs=0.01)


def test_every_nth_frame_measures_fewer_frames_but_still_checks_every_luma(clips):
    r = measure_colorize(clips["truth"], clips["alternating"], every=5)
    assert r.frames == FRAMES and r.measured == 4  # frames 0, 5, 10, 15
    assert r.cdc_pairs == 9  # (0|5|10, +1 +2 +4); 15 starts no pair
    assert r.output.cdc > 3 * r.truth_cdc


def test_a_stretch_of_frames_is_measured_alone(clips, tmp_path, capsys):
    """`frames`: the score of frames A to B - 1 only (before and after a key frame, say); CDC takes
    the pairs inside the stretch."""
    half = _rewrite(clips["truth"], tmp_path / "half.mkv", lambda i, u, v: (u, v) if i < 8 else (u + 20, v))
    before = measure_colorize(clips["truth"], half, frames=range(0, 8))
    assert before.output.psnr == math.inf and before.measured == 8 and before.span == (0, 7)
    assert before.cdc_pairs == 7 + 6 + 4 and before.frames == FRAMES
    after = measure_colorize(clips["truth"], half, frames=range(8, 100), every=2)
    assert after.measured == 4 and after.span == (8, 15) and after.output.psnr < 40
    run = run_inprocess(["eval", "colorize", clips["truth"], half, "--frames", "8:"], capsys)
    assert_ok(run)
    assert "frames 8-15, every frame measured" in run.out
    assert_one_line_error(run_inprocess(["eval", "colorize", clips["truth"], half, "--frames", "20:"], capsys),
                          "--frames", "beyond", "16 frames")
    assert_one_line_error(run_inprocess(["eval", "colorize", clips["truth"], half, "--frames", "8"], capsys),
                          "--frames", "START:END")


def test_image_folders_match_by_name_and_single_images_work(tmp_path):
    truth, output = tmp_path / "truth", tmp_path / "output"
    truth.mkdir()
    output.mkdir()
    for i in range(3):
        rgb = media.pattern_rgb8(4 * i, *SIZE)
        cv2.imwrite(str(truth / f"f{i}.png"), rgb[..., ::-1])
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float64)
        ycc[..., 1:] = 128 + 0.9 * (ycc[..., 1:] - 128)
        out = cv2.cvtColor(np.round(ycc).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
        cv2.imwrite(str(output / f"f{i}.png"), out[..., ::-1])
    r = measure_colorize(truth, output)
    assert r.kind == "folder" and r.frames == r.measured == 3 and r.cdc_pairs == 3  # (0,1), (1,2), (0,2)
    assert 0.85 < r.output.colourfulness_ratio < 0.95 and r.output.psnr > r.gray.psnr + 10
    assert r.luma_max_abs < 4  # 8-bit RGB round trip through YCbCr

    single = measure_colorize(truth / "f0.png", truth / "f0.png")
    assert single.output.psnr == math.inf and single.output.cdc is None and single.truth_cdc is None

    (output / "f2.png").rename(output / "other.png")
    with pytest.raises(InputError, match="same image names"):
        measure_colorize(truth, output)


def test_cli_text_and_json(clips, capsys):
    run = run_inprocess(["eval", "colorize", clips["truth"], clips["truth"], "--json"], capsys)
    assert_ok(run)
    data = json.loads(run.out)
    assert data["output"]["psnr"] is None  # infinite: identical pictures
    assert data["output"]["colourfulness_ratio"] == 1.0 and data["gray"]["colourfulness_ratio"] == 0.0
    run = run_inprocess(["eval", "colorize", clips["truth"], clips["desaturated"], "--every", "2"], capsys)
    assert_ok(run)
    assert "gray baseline" in run.out and "1 frame in 2 measured (8)" in run.out and "max |dY'| 0 codes" in run.out


def test_cli_mismatched_clips_fail_in_one_line(clips, tmp_path):
    run = run_subprocess(["eval", "colorize", clips["truth"], clips["short"]])
    assert_one_line_error(run, "length", "16", "12")
    odd = media.write_video(tmp_path / "wide.mkv", codec="ffv1", size=(144, 72), frames=FRAMES)
    run = run_subprocess(["eval", "colorize", clips["truth"], odd])
    assert_one_line_error(run, "size", "128x72", "144x72")
    run = run_subprocess(["eval", "colorize", clips["truth"], tmp_path])
    assert_one_line_error(run, "video", "folder")
