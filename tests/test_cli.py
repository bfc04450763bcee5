"""The command line itself: styles, preview contact sheets, help/version, exit codes and output."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import media
from conftest import assert_ok, assert_one_line_error, run_inprocess, run_subprocess, temp_files

BACKGROUND = (24, 24, 24)  # vidbw.preview's sheet colour
THUMB_WIDTH, LABEL_HEIGHT, MARGIN = 480, 30, 8


def test_styles_lists_at_least_ten(capsys):
    from vidbw.styles import list_styles

    run = run_inprocess(["styles"], capsys)
    assert_ok(run)
    names = [s.name for s in list_styles()]
    assert len(names) >= 10
    for name in names:
        assert re.search(rf"\b{re.escape(name)}\b", run.out), f"style {name} not listed"
    for expected in ("neutral", "red", "orange", "yellow", "green", "infrared"):
        assert expected in names


def test_help_and_version(capsys):
    run = run_inprocess(["--help"], capsys)
    assert_ok(run)
    for command in ("convert", "preview", "styles"):
        assert command in run.out
    run = run_inprocess(["convert", "--help"], capsys)
    for option in ("--style", "--codec", "--crf", "--preset", "--pix-fmt", "--bit-depth", "--overwrite", "--pipeline",
                   "--toning"):
        assert option in run.out, option
    run = run_inprocess(["--version"], capsys)
    assert_ok(run)
    assert "0.1.0" in run.out


def test_convert_as_a_process(tmp_path, clip_mkv):
    out = tmp_path / "film_bw.mkv"
    run = run_subprocess(["convert", clip_mkv, "-o", out, "--preset", "ultrafast"])
    assert_ok(run)
    assert run.out == f"{out}\n", "stdout must be only the output path (scripts read it)"
    assert re.search(r"done: 24 frames", run.err)
    assert len(media.frame_times(out)) == 24
    assert temp_files(tmp_path) == []


def test_quiet_process_prints_nothing_on_stderr(tmp_path, images):
    out = tmp_path / "photo_bw.png"
    run = run_subprocess(["convert", images["png8"], "-o", out, "-q"])
    assert_ok(run)
    assert run.out == f"{out}\n"
    assert run.err.strip() == ""


# --------------------------------------------------------------------------- preview


def tile_columns(sheet: np.ndarray, y0: int, y1: int) -> list[tuple[int, int]]:
    """Runs of columns (x0, x1) in rows y0..y1 that hold anything but the sheet background."""
    band = sheet[y0:y1]
    used = (band != BACKGROUND).any(axis=2).any(axis=0)
    runs, start = [], None
    for x, flag in enumerate(list(used) + [False]):
        if flag and start is None:
            start = x
        elif not flag and start is not None:
            runs.append((start, x))
            start = None
    return runs


def check_sheet(path: Path, labels: list[str], picture_size: tuple[int, int]) -> np.ndarray:
    """The sheet is a PNG with one labelled tile per look plus the original, in one row."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.format == "PNG"
        sheet = np.asarray(img.convert("RGB"))
    width, height = picture_size
    tile_h = round(height * THUMB_WIDTH / width)
    tiles = len(labels) + 1
    assert sheet.shape == (tile_h + LABEL_HEIGHT + 2 * MARGIN, tiles * (THUMB_WIDTH + MARGIN) + MARGIN, 3)
    top = MARGIN + LABEL_HEIGHT
    runs = tile_columns(sheet, top, top + tile_h)
    assert [(b - a) for a, b in runs] == [THUMB_WIDTH] * tiles, runs
    for a, b in runs:  # each tile has a label: light text pixels in the strip above it
        strip = sheet[MARGIN : MARGIN + LABEL_HEIGHT, a:b]
        assert (strip.min(axis=2) > 180).sum() > 20, "tile has no label"
    thumbs = [sheet[top : top + tile_h, a:b].astype(int) for a, b in runs]
    assert np.ptp(thumbs[0], axis=2).max() > 60, "first tile should be the colour original"
    for thumb in thumbs[1:]:
        assert np.ptp(thumb, axis=2).max() == 0, "look tiles should be gray"
    return sheet


def test_preview_contact_sheet_from_video(capsys, tmp_path, clip_mkv):
    sheet_path = tmp_path / "sheet.png"
    before = media.sha256(clip_mkv)
    run = run_inprocess(["preview", clip_mkv, "--at", "0.5", "--styles", "neutral,red", "-o", sheet_path], capsys)
    assert_ok(run)
    assert run.out.strip() == str(sheet_path)
    sheet = check_sheet(sheet_path, ["neutral", "red"], (160, 90))
    # The red filter darkens the blue patch compared with neutral.
    top = MARGIN + LABEL_HEIGHT
    runs = tile_columns(sheet, top, top + 270)
    ys, xs = media.patch_box(media.BLUE_PATCH, THUMB_WIDTH, 270)
    neutral = sheet[top:][ys, runs[1][0]:][:, xs][10:-10, 10:-10].mean()
    red = sheet[top:][ys, runs[2][0]:][:, xs][10:-10, 10:-10].mean()
    assert red < neutral - 5
    assert media.sha256(clip_mkv) == before
    assert temp_files(tmp_path) == []


def test_preview_picks_the_frame_at_the_requested_time(capsys, tmp_path, clip_mkv):
    import av

    sheet_path = tmp_path / "at.png"
    run = run_inprocess(["preview", clip_mkv, "--at", "0.5", "--styles", "neutral", "-o", sheet_path], capsys)
    assert_ok(run)
    sheet = np.asarray(Image.open(sheet_path).convert("RGB")).astype(int)
    top = MARGIN + LABEL_HEIGHT
    original = sheet[top : top + 270, MARGIN : MARGIN + THUMB_WIDTH]
    with av.open(str(clip_mkv)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    errors = {}
    for index in range(8, 17):  # the moving square is 5 px further on each frame
        thumb = np.asarray(Image.fromarray(frames[index]).resize((THUMB_WIDTH, 270), Image.Resampling.LANCZOS)).astype(int)
        errors[index] = np.abs(thumb - original).mean()
    assert min(errors, key=errors.get) == 12, errors  # 0.5 s at 24 fps


def test_preview_of_an_image_with_all_styles(capsys, tmp_path, images):
    from vidbw.styles import list_styles

    sheet_path = tmp_path / "all.png"
    run = run_inprocess(["preview", images["png8"], "-o", sheet_path], capsys)
    assert_ok(run)
    with Image.open(sheet_path) as img:
        columns = min(4, len(list_styles()) + 1)
        assert img.width == columns * (THUMB_WIDTH + MARGIN) + MARGIN
        rows = -(-(len(list_styles()) + 1) // columns)
        assert img.height == rows * (round(48 * THUMB_WIDTH / 64) + LABEL_HEIGHT + MARGIN) + MARGIN


def test_preview_respects_rotation(capsys, tmp_path, clip_mp4):
    """clip.mp4 is stored 160x90 with a 90-degree display rotation: players show it 90x160."""
    sheet_path = tmp_path / "rotated.png"
    run = run_inprocess(["preview", clip_mp4, "--styles", "neutral", "-o", sheet_path], capsys)
    assert_ok(run)
    check_sheet(sheet_path, ["neutral"], (90, 160))


@pytest.mark.parametrize("args, words", [
    (["--at", "99"], ("outside",)),
    (["--styles", "neutral,nonsense"], ("nonsense",)),
    (["--styles", " , "], ("style",)),
])
def test_preview_errors(capsys, tmp_path, clip_mkv, args, words):
    sheet_path = tmp_path / "sheet.png"
    run = run_inprocess(["preview", clip_mkv, "-o", sheet_path, *args], capsys)
    assert_one_line_error(run, *words)
    assert not sheet_path.exists()
    assert temp_files(tmp_path) == []


def test_preview_does_not_overwrite(capsys, tmp_path, clip_mkv):
    sheet_path = tmp_path / "sheet.png"
    sheet_path.write_bytes(b"old")
    run = run_inprocess(["preview", clip_mkv, "-o", sheet_path], capsys)
    assert_one_line_error(run, "--overwrite")
    assert sheet_path.read_bytes() == b"old"
    run = run_inprocess(["preview", clip_mkv, "--styles", "noir", "-o", sheet_path, "--overwrite"], capsys)
    assert_ok(run)
    check_sheet(sheet_path, ["noir"], (160, 90))
