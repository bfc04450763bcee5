"""`vidbw convert --shots`: the render follows an edited shot list exactly, and a wrong list is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import media
from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files


def shot_list(frames: int, cuts: list[int], styles: list[str]) -> dict:
    bounds = [0, *cuts, frames]
    return {
        "fps": 24.0,
        "frames": frames,
        "shots": [
            {"index": i, "start_frame": a, "end_frame": b, "start": a / 24, "end": b / 24, "proxy": None, "style": s}
            for i, (a, b, s) in enumerate(zip(bounds, bounds[1:], styles))
        ],
    }


def lumas(path) -> list[np.ndarray]:
    return [planes[0].astype(int) for _, planes in media.video_planes(path)]


def test_changing_one_shots_style_changes_exactly_that_shot(tmp_path, clip_mkv, capsys):
    frames = len(media.frame_times(clip_mkv))
    first = tmp_path / "first.json"
    first.write_text(json.dumps(shot_list(frames, [8, 16], ["neutral", "neutral", "neutral"])))
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(shot_list(frames, [8, 16], ["neutral", "red", "neutral"])))
    out_a, out_b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    # Lossless output, so "unchanged" can mean bit-identical.
    assert_ok(run_inprocess(["convert", clip_mkv, "-o", out_a, "--codec", "ffv1", "--shots", first], capsys))
    run = run_inprocess(["convert", clip_mkv, "-o", out_b, "--codec", "ffv1", "--shots", edited, "--explain"], capsys)
    assert_ok(run)
    assert "shot 1: frames 8-15, style red" in run.err
    assert "styles from edited.json (default neutral)" in run.err  # not "style neutral": the list decides
    a, b = lumas(out_a), lumas(out_b)
    assert len(a) == len(b) == frames
    changed = [i for i in range(frames) if not np.array_equal(a[i], b[i])]
    assert changed == list(range(8, 16))
    assert media.frame_times(out_b) == media.frame_times(clip_mkv)


@pytest.mark.parametrize("problem, shots, words", [
    ("wrong length", lambda n: shot_list(n + 5, [8], ["neutral", "neutral"]), ("frames",)),
    ("gap", lambda n: {**shot_list(n, [8], ["neutral", "neutral"]),
                       "shots": [{"index": 0, "start_frame": 0, "end_frame": 7, "style": "neutral"},
                                 {"index": 1, "start_frame": 8, "end_frame": n, "style": "neutral"}]}, ("frame",)),
    ("overlap", lambda n: {**shot_list(n, [8], ["neutral", "neutral"]),
                           "shots": [{"index": 0, "start_frame": 0, "end_frame": 10, "style": "neutral"},
                                     {"index": 1, "start_frame": 8, "end_frame": n, "style": "neutral"}]}, ("overlap",)),
    ("unknown style", lambda n: shot_list(n, [8], ["neutral", "nior"]), ("nior",)),
])
def test_a_shot_list_that_does_not_fit_is_refused_before_rendering(tmp_path, clip_mkv, capsys, problem, shots, words):
    frames = len(media.frame_times(clip_mkv))
    listing = tmp_path / "shots.json"
    listing.write_text(json.dumps(shots(frames)))
    out = tmp_path / "out.mkv"
    run = run_inprocess(["convert", clip_mkv, "-o", out, "--shots", listing], capsys)
    assert_one_line_error(run, *words)
    assert not out.exists()
    assert temp_files(tmp_path) == []


def test_one_frame_shots_render(tmp_path, clip_mkv, capsys):
    frames = len(media.frame_times(clip_mkv))
    listing = tmp_path / "shots.json"
    listing.write_text(json.dumps(shot_list(frames, [1, 2, 3], ["red", "green", "noir", "neutral"])))
    out = tmp_path / "out.mkv"
    assert_ok(run_inprocess(["convert", clip_mkv, "-o", out, "--codec", "ffv1", "--shots", listing], capsys))
    assert len(media.frame_times(out)) == frames
