"""Film scans as numbered image sequences: a folder converted to a film file is read as one film."""

from __future__ import annotations

import av
import numpy as np
import pytest

import media
from conftest import assert_ok, run_inprocess, temp_files
from media import SEQUENCE_KINDS as KINDS
from media import SEQUENCE_SIZE as SIZE
from media import write_frame, write_sequence

FRAMES = 12  # write_sequence's default


def convert(capsys, *args) -> object:
    run = run_inprocess(["convert", *args], capsys)
    assert_ok(run)
    return run


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_folder_of_numbered_frames_becomes_a_film(capsys, tmp_path, kind):
    folder = write_sequence(tmp_path / "scans", kind)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
    out = tmp_path / "reel.mkv"
    run = convert(capsys, folder, "-o", out, "--codec", "ffv1")
    assert f"done: {FRAMES} frames" in run.err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == before, "input touched"
    assert media.frame_times(out) == [pytest.approx(i / 24, abs=1e-3) for i in range(FRAMES)]  # Matroska: ms
    bits = KINDS[kind][3]
    assert media.video_info(out)["pix_fmt"].endswith("10le" if bits > 8 else "p")  # 10 bits kept, 8 stay 8
    levels = media.luma_levels(out)
    assert len(levels) == FRAMES
    for i in (0, 7):  # neutral is Rec.709 luma of each frame, in frame order
        rgb = media.pattern(i, *SIZE)
        expected = rgb @ np.array([media.KR, media.KG, media.KB])
        assert np.abs(levels[i] - expected).max() < 1.5 / 219, f"frame {i}"


def test_numbers_wider_than_their_padding_still_follow_on(capsys, tmp_path):
    """scan_998 ... scan_1001: printf's %03d writes 1000 as it is, so this is one sequence."""
    folder = write_sequence(tmp_path / "scans", "png", frames=4, first_frame=998)
    for p in folder.iterdir():  # the kind's 4 digits -> 3, as a scanner numbering from 998 writes them
        p.rename(p.with_name(f"scan_{int(p.stem[5:]):03d}.png"))
    out = tmp_path / "reel.mkv"
    convert(capsys, folder, "-o", out)
    assert len(media.frame_times(out)) == 4


@pytest.mark.parametrize("kind, suffix, codec, expected", [
    ("png", ".mp4", None, ("h264", "yuv420p")),  # delivery: 4:2:0, limited range, plays anywhere
    ("dpx10", ".mov", "prores", ("prores", "yuv444p12le")),  # a master keeps the scan's full chroma (4444)
])
def test_scans_are_written_as_video_is_coded(capsys, tmp_path, kind, suffix, codec, expected):
    """R'G'B' codes are full range by nature; the picture written from them is limited-range Y'CbCr."""
    folder = write_sequence(tmp_path / "scans", kind, frames=4)
    out = tmp_path / f"reel{suffix}"
    convert(capsys, folder, "-o", out, *(["--codec", codec] if codec else []))
    info = media.video_info(out)
    assert (info["codec"], info["pix_fmt"]) == expected
    assert info["color_range"] in (0, 1)  # limited (0: unsaid, which players read as limited), not 2 (full)
    level = media.luma_levels(out)[2]
    rec709 = media.pattern(2, *SIZE) @ np.array([media.KR, media.KG, media.KB])
    # Coded as it is tagged: read in the wrong range, the levels would be off by ~0.05 on average.
    assert np.abs(level - rec709).mean() < 0.01  # x264 at crf 18 blurs the pattern's sharp edges a little


def test_ntsc_rates_typed_short_are_read_exactly():
    from fractions import Fraction

    from vidbw.io.sequence import _exact_rate

    assert _exact_rate(23.976) == Fraction(24000, 1001) and _exact_rate(29.97) == Fraction(30000, 1001)
    assert _exact_rate(25) == 25 and _exact_rate(12.5) == Fraction(25, 2)


def test_the_sequence_is_timed_at_fps(capsys, tmp_path):
    folder = write_sequence(tmp_path / "scans", "png", frames=5)
    out = tmp_path / "reel.mov"
    convert(capsys, folder, "-o", out, "--fps", "25")
    assert media.frame_times(out) == [pytest.approx(i / 25) for i in range(5)]
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 25


def test_shots_of_a_sequence_are_timed_at_fps_and_key_frames_named_by_frame(capsys, tmp_path):
    """The colourist's round trip on scans: the key frame is named by its frame in the sequence (the
    first file is frame 0, whatever its number), the shot list is timed at --fps."""
    import json

    folder = write_sequence(tmp_path / "scans", "dpx10", frames=10)
    shots_json = tmp_path / "shots.json"
    run = run_inprocess(["shots", folder, "-o", shots_json, "--fps", "25", "--key-frames", tmp_path / "kf"], capsys)
    assert_ok(run)
    listed = json.loads(shots_json.read_text())
    assert (listed["fps"], listed["frames"], listed["shots"][0]["end"]) == (25.0, 10, 0.4)
    assert sorted(p.name for p in (tmp_path / "kf").iterdir()) == ["000005.png"]


def test_a_learned_style_finds_the_cut_in_a_sequence(capsys, tmp_path):
    """Two scenes in one sequence: the shot machinery sees a film, so each scene is its own shot."""
    folder = write_sequence(tmp_path / "scans", "png", frames=36)
    for i, path in enumerate(sorted(folder.iterdir())[18:]):  # the second scene: dark and bluish
        write_frame(path, np.round(media.pattern(i, *SIZE)[::-1, ::-1] * [40, 60, 200]).astype(np.uint8))
    out = tmp_path / "reel.mp4"
    run = convert(capsys, folder, "-o", out, "--style", "landscape-master", "--explain", "--fps", "12")
    assert "shot 0: frames 0-17" in run.err and "shot 1: frames 18-35" in run.err, run.err
    assert len(media.frame_times(out)) == 36


def test_a_sequence_can_be_colorized_with_its_luma_kept(capsys, tmp_path):
    folder = write_sequence(tmp_path / "scans", "dpx10", frames=6)
    out = tmp_path / "colour.mkv"
    convert(capsys, folder, "--colorize", "-o", out, "--codec", "ffv1")
    for i, level in enumerate(media.luma_levels(out)):
        expected = media.pattern(i, *SIZE) @ np.array([media.KR, media.KG, media.KB])
        assert np.abs(level - expected).max() < 1.5 / 219


def test_a_folder_to_a_folder_is_still_a_batch_of_photos(capsys, tmp_path):
    folder = write_sequence(tmp_path / "scans", "png", frames=3)
    run = convert(capsys, folder, "-o", tmp_path / "bw")
    assert "done: 3 images" in run.err
    assert sorted(p.name for p in (tmp_path / "bw").iterdir()) == sorted(p.name for p in folder.iterdir())


def _gap(folder):
    (folder / "scan_0003.png").unlink()
    return "the sequence has a gap: frame 2 is followed by 4"


def _mixed(folder):
    (folder / "scan_0020.jpg").write_bytes((folder / "scan_0001.png").read_bytes())
    return "mixes image formats (.jpg, .png)"


def _stray(folder):
    (folder / "notes.png").write_bytes((folder / "scan_0001.png").read_bytes())
    return "not one numbered sequence: notes.png"


def _exr_only(folder):
    for p in folder.iterdir():
        p.rename(p.with_suffix(".exr"))
    return "EXR is scene-linear"


def _twice(folder):
    (folder / "scan_02.png").write_bytes((folder / "scan_0002.png").read_bytes())
    return "frame 2 appears twice"


@pytest.mark.parametrize("spoil", [_gap, _mixed, _stray, _exr_only, _twice])
def test_a_folder_that_is_not_one_sequence_is_refused_in_one_line(capsys, tmp_path, spoil):
    folder = write_sequence(tmp_path / "scans", "png", frames=6)
    message = spoil(folder)
    out = tmp_path / "reel.mov"
    run = run_inprocess(["convert", folder, "-o", out], capsys)
    assert run.code != 0 and message in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err
    assert not out.exists() and temp_files(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["--fps", "25"], "--fps applies to image sequences"),
    (["--fps", "0.5"], "--fps must be between 1 and 240"),
])
def test_sequence_options_are_checked(capsys, tmp_path, clip_mkv, args, message):
    folder = write_sequence(tmp_path / "scans", "png", frames=3)
    source = clip_mkv if message.startswith("--fps applies") else folder
    run = run_inprocess(["convert", source, "-o", tmp_path / "out.mov", *args], capsys)
    assert run.code != 0 and message in run.err, run.err
    assert not (tmp_path / "out.mov").exists()
