"""Numbered image sequences read as films: film scans (DPX, TIFF, PNG ...) in one folder.

A folder converted to a film file (`vidbw convert scans/ -o reel.mov`) is read through FFmpeg's
image2 demuxer, one file a frame, in frame-number order, at `--fps` (24 unless said: scans are
film). From there on it is a film like any other: shots, temporal smoothing and the encoder see
frames with timestamps. A folder converted to a folder stays a batch of separate photographs.

The files must form one unbroken sequence: one prefix, one suffix, frame numbers without gaps (a
gap would end FFmpeg's reading early, silently). Anything else is refused with one line.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidbw.errors import InputError, OptionError

__all__ = [
    "SEQUENCE_SUFFIXES",
    "ImageSequence",
    "find_sequence",
    "open_sequence",
    "reading_rate",
    "current_rate",
    "DEFAULT_RATE",
]

# What FFmpeg decodes as display-referred pictures. EXR is scene-linear float: its look would need a
# view transform first, so it is refused rather than graded as if it were video.
SEQUENCE_SUFFIXES = {".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}
DEFAULT_RATE = Fraction(24)
_rate = DEFAULT_RATE
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@contextlib.contextmanager
def reading_rate(fps: float | Fraction | None) -> Iterator[None]:
    """Sequences opened inside this block are timed at `fps` frames a second (None: the default, 24)."""
    global _rate
    before = _rate
    if fps is not None:
        rate = _exact_rate(fps)
        if not 1 <= rate <= 240:
            raise OptionError(f"`fps` must be between 1 and 240, got {float(fps):g}", param="fps")
        _rate = rate
    try:
        yield
    finally:
        _rate = before


def current_rate() -> Fraction:
    """The rate sequences are read at now (what a chunked job records for its workers)."""
    return _rate


def _exact_rate(fps: float | Fraction) -> Fraction:
    """The rate meant: 23.976 typed is NTSC film's 24000/1001, as 29.97 and 59.94 are 30000/1001 and 60000/1001."""
    for whole in (24, 30, 48, 60, 120):
        if abs(float(fps) - whole * 1000 / 1001) < 0.002:
            return Fraction(whole * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


@dataclass(frozen=True)
class ImageSequence:
    folder: Path
    pattern: str  # FFmpeg's image2 pattern, relative to `folder` ("reel_%06d.dpx"; a literal % written %%)
    first: int
    count: int

    def paths(self) -> list[Path]:
        """The frame files, in frame order."""
        name = self.pattern.replace("%%", "\0")  # a literal %, kept out of the number's formatting
        return [
            self.folder / (name % number).replace("\0", "%") for number in range(self.first, self.first + self.count)
        ]


def find_sequence(folder: Path) -> ImageSequence:
    """The folder's numbered frames as one sequence; a one-line InputError when they are not one.

    A conversion opens its source several times (checks, shot analysis, render), and a reel of scans
    can hold 100 000 files: the folder is listed once for as long as its entries stay the same (a
    folder's modification time changes when a file is added, removed or renamed in it)."""
    return _sequence_in(folder, folder.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sequence_in(folder: Path, mtime_ns: int) -> ImageSequence:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    frames = [p for p in files if p.suffix.lower() in SEQUENCE_SUFFIXES]
    if not frames:
        exr = (
            " (EXR is scene-linear: export DPX or TIFF for grading)"
            if any(p.suffix.lower() == ".exr" for p in files)
            else ""
        )
        raise InputError(
            f"no image sequence in folder{exr} (looked for {', '.join(sorted(SEQUENCE_SUFFIXES))}): {folder}"
        )
    suffixes = {p.suffix for p in frames}
    if len(suffixes) > 1:
        raise InputError(
            f"the folder mixes image formats ({', '.join(sorted(suffixes))}); a sequence is one format: {folder}"
        )
    parts = [_NUMBERED.match(p.stem) for p in frames]
    matches = [m for m in parts if m is not None]
    if len(matches) != len(parts) or len({m.group(1) for m in matches}) > 1:
        odd = next(p.name for p, m in zip(frames, parts) if not m or m.group(1) != matches[0].group(1))
        raise InputError(f"not one numbered sequence: {odd} does not fit {frames[0].name}'s naming: {folder}")
    digits = [m.group(2) for m in matches]
    numbers = sorted(int(d) for d in digits)
    twice = next((a for a, b in zip(numbers, numbers[1:]) if a == b), None)
    if twice is not None:
        raise InputError(f"frame {twice} appears twice (numbers padded differently?): {folder}")
    gap = next((a for a, b in zip(numbers, numbers[1:]) if b != a + 1), None)
    if gap is not None:
        after = numbers[numbers.index(gap) + 1]
        raise InputError(
            f"the sequence has a gap: frame {gap} is followed by {after}; fill it or convert the parts: {folder}"
        )
    # FFmpeg names frame n with printf: zero-padded to the first frame's width, wider numbers as they are.
    width = len(min(digits, key=int))
    if any(d != f"{int(d):0{width}d}" for d in digits):
        raise InputError(f"frame numbers are padded inconsistently (e.g. {frames[0].name}): {folder}")
    number = f"%0{width}d" if width > 1 else "%d"
    prefix = matches[0].group(1).replace("%", "%%")
    return ImageSequence(folder, f"{prefix}{number}{frames[0].suffix.replace('%', '%%')}", numbers[0], len(numbers))


def open_sequence(folder: Path) -> av.container.InputContainer:
    """The folder's sequence as an FFmpeg input, timed at the current reading rate (see `reading_rate`)."""
    sequence = find_sequence(folder)
    options = {"framerate": f"{_rate.numerator}/{_rate.denominator}", "start_number": str(sequence.first)}
    try:
        # The whole path is a pattern to FFmpeg: a % in a folder's name must be doubled too.
        path = str(folder).replace("%", "%%") + "/" + sequence.pattern
        return av.open(path, mode="r", format="image2", options=options)
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot read the image sequence ({reason}): {folder}") from None
