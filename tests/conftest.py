"""Shared fixtures: tiny real media generated once per session, and ways to run the CLI.

The media come from `tests/media.py` (PyAV + numpy, no downloads). Session fixtures write them to a
session temp folder; tests must never write beside them (use `-o` into `tmp_path`, or `copy_in`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # `import media` whether or not tests/ is a package

import media  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_MEDIA = REPO.parent / "shared" / "media"
TEMP_MARKER = ".vidbw-partial"

# Variable-frame-rate timestamps in milliseconds: irregular steps, including a long hold.
VFR_STEPS = [40, 40, 20, 60, 33, 33, 100, 17, 41, 40, 40, 40]


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_inprocess(args, capsys) -> Run:
    """`vidbw ARGS` inside this process (fast); SystemExit becomes the exit code."""
    from vidbw.cli import main

    capsys.readouterr()
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def vidbw_command() -> list[str]:
    exe = shutil.which("vidbw") or str(Path(sys.executable).with_name("vidbw"))
    if Path(exe).exists():
        return [exe]
    return [sys.executable, "-c", "from vidbw.cli import main; main()"]


def run_subprocess(args, timeout: float = 120, **kwargs) -> Run:
    """`vidbw ARGS` as a real process, as a user would run it (exit code, stderr, no traceback)."""
    env = dict(os.environ)
    env.pop("VIDBW_DEBUG", None)
    proc = subprocess.run([*vidbw_command(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_ok(run: Run) -> None:
    assert run.code == 0, f"exit {run.code}; stderr:\n{run.err}"
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err


def assert_one_line_error(run: Run, *words: str) -> str:
    """A non-zero exit and exactly one stderr line, `vidbw: error: ...`, with no traceback."""
    assert run.code != 0, f"expected a failure; stdout={run.out!r} stderr={run.err!r}"
    assert "Traceback" not in run.err, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{run.err}"
    assert lines[0].startswith("vidbw: error: "), lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    return lines[0]


def temp_files(*folders: Path) -> list[Path]:
    """Leftover `.vidbw-partial` files in the folders (should always be empty)."""
    found = []
    for folder in folders:
        if Path(folder).is_dir():
            found += [p for p in Path(folder).iterdir() if TEMP_MARKER in p.name]
    return found


# --------------------------------------------------------------------------- media


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def copy_in(tmp_path):
    """Copy a fixture into this test's folder (for tests that write beside the input)."""

    def copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or Path(src).name)
        shutil.copy2(src, dst)
        return dst

    return copy


@pytest.fixture(scope="session")
def clip_mp4(media_dir) -> Path:
    """H.264 yuv420p 160x90, 24 frames at 24 fps, AAC stereo, a title, rotation 90, BT.709 tags."""
    return media.write_video(media_dir / "clip.mp4", audio="aac", metadata={"title": "vidbw test clip"}, rotation=90)


@pytest.fixture(scope="session")
def clip_mkv(media_dir) -> Path:
    """H.264 yuv420p 160x90 in Matroska, 24 frames, no audio."""
    return media.write_video(media_dir / "clip.mkv")


@pytest.fixture(scope="session")
def clip10_mkv(media_dir) -> Path:
    """10-bit H.264 (yuv420p10le) in Matroska."""
    return media.write_video(media_dir / "clip10.mkv", pix_fmt="yuv420p10le")


@pytest.fixture(scope="session")
def prores422_mov(media_dir) -> Path:
    """ProRes 422 HQ 10-bit with PCM audio."""
    return media.write_video(media_dir / "prores422.mov", codec="prores_ks", pix_fmt="yuv422p10le", audio="pcm_s16le",
                             options={"profile": "3"})


@pytest.fixture(scope="session")
def prores4444_mov(media_dir) -> Path:
    """ProRes 4444 (yuv444p10le in; FFmpeg decodes it as 12-bit 4:4:4)."""
    return media.write_video(media_dir / "prores4444.mov", codec="prores_ks", pix_fmt="yuv444p10le", options={"profile": "4"})


@pytest.fixture(scope="session")
def prores_alpha_mov(media_dir) -> Path:
    """ProRes 4444 with a moving alpha ramp (yuva444p10le in; FFmpeg decodes it as 12-bit)."""
    return media.write_video(media_dir / "prores_alpha.mov", codec="prores_ks", pix_fmt="yuva444p10le",
                             options={"profile": "4"}, frames=12)


@pytest.fixture(scope="session")
def ffv1_alpha_mkv(media_dir) -> Path:
    """FFV1 4:2:0 8-bit with a moving alpha ramp (yuva420p), lossless: alpha must come back exact."""
    return media.write_video(media_dir / "ffv1_alpha.mkv", codec="ffv1", pix_fmt="yuva420p", frames=12)


@pytest.fixture(scope="session")
def full_range_mkv(media_dir) -> Path:
    """8-bit H.264 tagged (and coded) full range, BT.709."""
    return media.write_video(media_dir / "full.mkv", color_tags={**media.BT709_TAGS, "color_range": 2})


@pytest.fixture(scope="session")
def hdr_mkv(media_dir) -> Path:
    """An HDR10 clip: 10-bit H.264 tagged BT.2020 primaries and matrix with the PQ transfer, with the
    static metadata HDR10 masters carry (mastering display `media.HDR10_DISPLAY`, MaxCLL 1000, MaxFALL 400)."""
    tags = {"color_primaries": 9, "color_trc": 16, "colorspace": 9, "color_range": 1}
    params = f"mastering-display={media.HDR10_DISPLAY}:cll={media.HDR10_LIGHT[0]},{media.HDR10_LIGHT[1]}"
    return media.write_video(media_dir / "hdr.mkv", pix_fmt="yuv420p10le", color_tags=tags,
                             options={"x264-params": params})


@pytest.fixture(scope="session")
def odd_mkv(media_dir) -> Path:
    """Odd dimensions, 65x49, FFV1 yuv444p."""
    return media.write_video(media_dir / "odd.mkv", codec="ffv1", pix_fmt="yuv444p", size=(65, 49))


@pytest.fixture(scope="session")
def vfr_mkv(media_dir) -> Path:
    """Variable frame rate: 24 frames at irregular millisecond timestamps."""
    pts = [0]
    for i in range(23):
        pts.append(pts[-1] + VFR_STEPS[i % len(VFR_STEPS)])
    return media.write_video(media_dir / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))


@pytest.fixture(scope="session")
def subs_mkv(media_dir, clip_mkv) -> Path:
    """The Matroska clip with an SRT subtitle stream."""
    return media.add_subtitles(clip_mkv, media_dir / "subs.mkv", media_dir)


@pytest.fixture(scope="session")
def timecode_mov(media_dir, prores422_mov) -> Path:
    """The ProRes clip with a QuickTime timecode (tmcd) data track."""
    return media.add_timecode(prores422_mov, media_dir / "timecode.mov")


@pytest.fixture(scope="session")
def clip_webm(media_dir) -> Path:
    return media.write_video(media_dir / "clip.webm", codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"})


@pytest.fixture(scope="session")
def clip_avi(media_dir) -> Path:
    return media.write_video(media_dir / "clip.avi")


@pytest.fixture(scope="session")
def clip_mxf(media_dir) -> Path:
    return media.write_video(media_dir / "clip.mxf", codec="mpeg2video", pix_fmt="yuv422p", rate=Fraction(25))


@pytest.fixture(scope="session")
def clip_ts(media_dir) -> Path:
    """H.264 in MPEG-TS, with AAC audio."""
    return media.write_video(media_dir / "clip.ts", fmt="mpegts", audio="aac")


@pytest.fixture(scope="session")
def audio_m4a(media_dir) -> Path:
    return media.write_audio_only(media_dir / "audio.m4a")


@pytest.fixture(scope="session")
def long_clip(media_dir) -> Path:
    """1280x720, 1500 frames (60 s): long enough to interrupt mid-conversion on a fast machine (the
    2-core VM converts it in ~8 s; 750 frames took ~4 s, and a signal once landed after the end)."""
    return media.write_video(media_dir / "long.mp4", size=(1280, 720), frames=1500, rate=Fraction(25), distinct_frames=10)


@pytest.fixture(scope="session")
def images(media_dir) -> dict[str, Path]:
    folder = media_dir / "images"
    folder.mkdir()
    return {
        "jpg": media.write_image(folder / "photo.jpg"),
        "png8": media.write_image(folder / "chart8.png"),
        "png16": media.write_image(folder / "chart16.png", bits=16),
        "tiff16": media.write_image(folder / "scan16.tif", bits=16),
        "png_alpha": media.write_image(folder / "logo_alpha.png", alpha=True),
    }


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"shared media folder not present: {SHARED_MEDIA}")
    return SHARED_MEDIA
