"""Bad input and bad requests: one line on stderr, non-zero exit, no traceback, nothing written, input untouched.

These run `vidbw` as a real process, the way a user meets the errors. Also: Ctrl-C mid-conversion,
and damaged (truncated) files that may either fail cleanly or convert their decodable part.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import pytest

import media
from conftest import Run, assert_one_line_error, run_subprocess, temp_files, vidbw_command


@dataclass
class Case:
    args: list
    inputs: list[Path] = field(default_factory=list)  # files that must be unchanged afterwards
    output: Path | None = None  # must not exist afterwards (unless `keep_output`)
    words: tuple[str, ...] = ()
    keep_output: bytes | None = None  # an existing output's bytes, which must survive


def first_video_packet_pos(path: Path) -> int:
    with av.open(str(path)) as c:
        return next(p.pos for p in c.demux(c.streams.video[0]) if p.size)


def build(name: str, tmp: Path, request) -> Case:
    """The files and command line for one bad-input case."""
    clip = lambda: request.getfixturevalue("clip_mp4")  # noqa: E731
    out = tmp / "out" / "result.mp4"
    out.parent.mkdir()
    if name == "missing_file":
        return Case(["convert", tmp / "nope.mp4", "-o", out], [], out, ("not found",))
    if name == "zero_byte_file":
        src = tmp / "empty.mp4"
        src.write_bytes(b"")
        return Case(["convert", src, "-o", out], [src], out, ("empty",))
    if name == "text_file_named_mp4":
        src = tmp / "notes.mp4"
        src.write_text("These are my holiday notes, not a film.\n" * 20)
        return Case(["convert", src, "-o", out], [src], out, ("media",))
    if name == "random_bytes":
        src = tmp / "noise.mkv"
        src.write_bytes(os.urandom(50_000))
        return Case(["convert", src, "-o", out], [src], out)
    if name == "header_only_mkv":
        full = request.getfixturevalue("clip_mkv")
        src = tmp / "header.mkv"
        src.write_bytes(full.read_bytes()[: first_video_packet_pos(full) - 32])
        return Case(["convert", src, "-o", out.with_suffix(".mkv")], [src], out.with_suffix(".mkv"))
    if name == "header_only_mp4":
        full = request.getfixturevalue("faststart_mp4")
        src = tmp / "header.mp4"
        src.write_bytes(full.read_bytes()[: first_video_packet_pos(full) - 8])
        return Case(["convert", src, "-o", out], [src], out)
    if name == "truncated_mp4_without_index":
        full = clip()  # index (moov) at the end: a cut file has none
        src = tmp / "cut.mp4"
        src.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
        return Case(["convert", src, "-o", out], [src], out)
    if name == "audio_only":
        src = request.getfixturevalue("audio_m4a")
        return Case(["convert", src, "-o", out], [src], out, ("no video",))
    if name == "folder_without_images":
        folder = tmp / "empty_folder"
        folder.mkdir()
        (folder / "readme.txt").write_text("hi")
        target = tmp / "out" / "graded"
        return Case(["convert", folder, "-o", target], [folder / "readme.txt"], target, ("no images",))
    if name == "output_under_proc":
        return Case(["convert", clip(), "-o", "/proc/vidbw-test-output.mp4"], [clip()], Path("/proc/vidbw-test-output.mp4"))
    if name == "output_folder_is_a_file":
        blocker = tmp / "out" / "blocker"
        blocker.write_text("a file, not a folder")
        return Case(["convert", clip(), "-o", blocker / "result.mp4"], [clip(), blocker], blocker / "result.mp4", ("folder",))
    if name == "output_folder_missing":
        target = tmp / "out" / "no" / "such" / "result.mp4"
        return Case(["convert", clip(), "-o", target], [clip()], target, ("does not exist",))
    if name == "output_is_input":
        src = tmp / "film.mp4"
        shutil.copy(clip(), src)
        return Case(["convert", src, "-o", src, "--overwrite"], [src], None, ("input",))
    if name == "output_is_input_other_spelling":
        src = tmp / "film.mp4"
        shutil.copy(clip(), src)
        (tmp / "link.mp4").symlink_to(src)
        return Case(["convert", src, "-o", tmp / "out" / ".." / "link.mp4", "--overwrite"], [src], None, ("input",))
    if name == "existing_output_without_overwrite":
        out.write_bytes(b"an earlier render")
        return Case(["convert", clip(), "-o", out], [clip()], out, ("--overwrite",), keep_output=b"an earlier render")
    if name == "unknown_style":
        return Case(["convert", clip(), "-o", out, "--style", "psychedelic"], [clip()], out, ("psychedelic",))
    if name == "unknown_codec":
        return Case(["convert", clip(), "-o", out, "--codec", "h266"], [clip()], out, ("h266", "prores = prores_ks"))
    if name == "codec_wrong_for_container":
        return Case(["convert", clip(), "-o", out.with_suffix(".webm"), "--codec", "prores_ks"], [clip()], out.with_suffix(".webm"))
    if name == "unknown_option":
        return Case(["convert", clip(), "-o", out, "--frobnicate"], [clip()], out, ("--frobnicate",))
    if name == "unknown_preset":
        return Case(["convert", clip(), "-o", out, "--preset", "ludicrous"], [clip()], out, ("ludicrous",))
    if name == "unknown_pix_fmt":
        return Case(["convert", clip(), "-o", out, "--pix-fmt", "yuv999p"], [clip()], out, ("yuv999p",))
    if name == "crf_out_of_range":
        return Case(["convert", clip(), "-o", out, "--crf", "99"], [clip()], out, ("crf",))
    if name == "unknown_toning":
        return Case(["convert", clip(), "-o", out, "--toning", "purple"], [clip()], out, ("purple",))
    if name == "unknown_pipeline":
        return Case(["convert", clip(), "-o", out, "--pipeline", "no-such-recipe"], [clip()], out, ("no-such-recipe",))
    if name == "vfr_to_fixed_rate_codec":
        src = request.getfixturevalue("vfr_mkv")
        return Case(["convert", src, "-o", out.with_suffix(".mxf")], [src], out.with_suffix(".mxf"), ("frame rate",))
    if name == "odd_rate_to_mpeg2":
        src = tmp / "twelve.mp4"
        media.write_video(src, frames=6, rate=Fraction(12))
        return Case(["convert", src, "-o", out.with_suffix(".mxf")], [src], out.with_suffix(".mxf"), ("frame rate",))
    if name == "image_output_is_input":
        src = tmp / "photo.png"
        shutil.copy(request.getfixturevalue("images")["png8"], src)
        return Case(["convert", src, "-o", src, "--overwrite"], [src], None, ("input",))
    if name == "folder_output_is_input":
        folder = tmp / "photos"
        folder.mkdir()
        shutil.copy(request.getfixturevalue("images")["png8"], folder / "a.png")
        return Case(["convert", folder, "-o", folder, "--overwrite"], [folder / "a.png"], None, ("input",))
    if name == "unreadable_image":
        src = tmp / "broken.png"
        src.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
        return Case(["convert", src, "-o", tmp / "out" / "broken_bw.png"], [src], tmp / "out" / "broken_bw.png")
    if name == "failed_overwrite_keeps_old_output":
        full = request.getfixturevalue("clip_mkv")
        src = tmp / "header.mkv"
        src.write_bytes(full.read_bytes()[: first_video_packet_pos(full) + 40])  # header and a sliver of data
        target = out.with_suffix(".mkv")
        target.write_bytes(b"last week's good render")
        return Case(["convert", src, "-o", target, "--overwrite"], [src], target, keep_output=b"last week's good render")
    if name == "unknown_output_container":
        return Case(["convert", clip(), "-o", out.with_suffix(".xyz")], [clip()], out.with_suffix(".xyz"), (".xyz",))
    raise AssertionError(name)


CASES = [
    "missing_file", "zero_byte_file", "text_file_named_mp4", "random_bytes", "header_only_mkv", "header_only_mp4",
    "truncated_mp4_without_index", "audio_only", "folder_without_images", "output_under_proc",
    "output_folder_is_a_file", "output_folder_missing", "output_is_input", "output_is_input_other_spelling",
    "existing_output_without_overwrite", "unknown_style", "unknown_codec", "codec_wrong_for_container",
    "unknown_option", "unknown_preset", "unknown_pix_fmt", "crf_out_of_range", "unknown_toning", "unknown_pipeline",
    "unknown_output_container", "vfr_to_fixed_rate_codec", "odd_rate_to_mpeg2", "image_output_is_input",
    "folder_output_is_input", "unreadable_image", "failed_overwrite_keeps_old_output",
]


@pytest.fixture(scope="session")
def faststart_mp4(media_dir) -> Path:
    """The index (moov) at the front, so a truncated copy still says how many frames there were."""
    return media.write_video(media_dir / "faststart.mp4", container_options={"movflags": "faststart"})


def snapshot(paths) -> dict:
    return {p: media.sha256(p) for p in paths if Path(p).is_file()}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_fails_cleanly(request, tmp_path, name):
    case = build(name, tmp_path, request)
    before = snapshot(case.inputs)
    assert len(before) == len([p for p in case.inputs if Path(p).exists()])
    run = run_subprocess(case.args)
    assert_one_line_error(run, *case.words)
    assert snapshot(case.inputs) == before, "input changed"
    if case.output is not None:
        if case.keep_output is not None:
            assert case.output.read_bytes() == case.keep_output
        else:
            assert not case.output.exists(), f"{case.output} was written"
    folders = {tmp_path, tmp_path / "out", *(Path(p).parent for p in case.inputs)}
    assert temp_files(*folders) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a 0o500 folder; the /proc case covers root")
def test_read_only_output_folder(tmp_path, clip_mp4):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        run = run_subprocess(["convert", clip_mp4, "-o", folder / "out.mp4"])
        assert_one_line_error(run)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# --------------------------------------------------------------------------- damaged but partly readable


def assert_clean_error_or_honest_partial(run: Run, out: Path, expected_max: int, source_times=None) -> None:
    """Either a clean one-line error and no output, or a valid output plus a note that it is partial."""
    if run.code != 0:
        assert_one_line_error(run)
        assert not out.exists()
        return
    assert "Traceback" not in run.err
    frames = media.frame_times(out)
    assert 0 < len(frames) < expected_max
    if source_times is not None:
        assert frames == source_times[: len(frames)], "the decodable part lost its timing"
    assert re.search(r"ended early|truncat|decodable|damaged|incomplete", run.err, re.I), (
        f"partial output written without saying so; stderr:\n{run.err}")


@pytest.mark.parametrize("fixture, suffix", [
    ("faststart_mp4", ".mp4"),
    ("clip_mkv", ".mkv"),
    ("clip_ts", ".ts"),
])
def test_truncated_file(request, tmp_path, fixture, suffix):
    full = request.getfixturevalue(fixture)
    src = tmp_path / f"cut{suffix}"
    src.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    before = media.sha256(src)
    out = tmp_path / f"cut_bw{suffix}"
    run = run_subprocess(["convert", src, "-o", out])
    assert_clean_error_or_honest_partial(run, out, 24, media.frame_times(full))
    assert media.sha256(src) == before
    assert temp_files(tmp_path) == []


# --------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_stops_promptly_and_leaves_nothing(tmp_path, long_clip, sig):
    out = tmp_path / "long_bw.mp4"
    before = media.sha256(long_clip)
    # A shell without job control starts background commands (`pytest &`) with SIGINT ignored, and
    # children inherit that: give vidbw the default disposition, as a terminal's Ctrl-C finds it.
    proc = subprocess.Popen([*vidbw_command(), "convert", str(long_clip), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Wait until it is really converting: its temporary output exists (made once the input is probed
        # and the encode planned), then give it a second in the render loop.
        deadline = time.monotonic() + 60
        while not temp_files(tmp_path):
            assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
            assert time.monotonic() < deadline, "conversion never started"
            time.sleep(0.02)
        time.sleep(1.0)
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        sent = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 5, f"took {took:.1f}s to stop (exit {proc.returncode}); stderr: {stderr.strip()[-600:]}"
    assert proc.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert "interrupted" in stderr
    assert not out.exists()
    assert temp_files(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    assert media.sha256(long_clip) == before
