"""Shot-list files: JSON (what users edit), CSV (for spreadsheets), CMX3600 EDL (for editors) and
OpenTimelineIO (for editing systems, read back by `--shots`; `vidbw.shots.otio`).

Timecodes are non-drop-frame at the film's rate rounded to a whole number (23.976 -> 24, 29.97 ->
30): frame numbers map one-to-one onto timecodes, which is what an editor conforming the film
expects; the EDL says so in a comment line.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vidbw.errors import OptionError
from vidbw.shots.model import ShotList, read_shot_file, write_shot_file

__all__ = [
    "FORMATS",
    "format_for_path",
    "read_shots",
    "render_shots",
    "write_shots",
    "to_csv",
    "to_edl",
    "timecode",
    "timecode_rate",
]

FORMATS = ("json", "csv", "edl", "otio")


def timecode_rate(fps: float) -> int:
    """The whole-number rate non-drop-frame timecode counts at (23.976 -> 24, 29.97 -> 30)."""
    return max(1, int(round(fps)))


def timecode(frame: int, rate: int) -> str:
    """HH:MM:SS:FF, non-drop-frame, at a whole-number rate."""
    if frame < 0:
        raise ValueError(f"negative frame {frame}")
    seconds, ff = divmod(frame, rate)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:0{len(str(rate - 1))}d}"


def _fps_text(fps: float) -> str:
    text = f"{fps:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def to_json(shot_list: ShotList) -> str:
    return shot_list.to_json()


def to_csv(shot_list: ShotList) -> str:
    """One row per shot; seconds with millisecond precision, timecodes as in the EDL."""
    rate = timecode_rate(shot_list.fps)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["index", "start_frame", "end_frame", "frames", "start", "end", "start_tc", "end_tc", "style", "proxy"]
    )
    for shot in shot_list.shots:
        writer.writerow(
            [
                shot.index,
                shot.start_frame,
                shot.end_frame,
                shot.frames,
                "" if shot.start_time is None else f"{shot.start_time:.3f}",
                "" if shot.end_time is None else f"{shot.end_time:.3f}",
                timecode(shot.start_frame, rate),
                timecode(shot.end_frame, rate),
                shot.style or "",
                "" if shot.proxy is None else shot.proxy,
            ]
        )
    return out.getvalue()


def to_edl(
    shot_list: ShotList,
    title: str = "vidbw shots",
    clip_name: str | None = None,
    reel: str = "AX",
    source_start: int = 0,
    record_start: int = 0,
) -> str:
    """A CMX3600 EDL: one cut event per shot, source and record timecodes (out points exclusive).

    `source_start`/`record_start` offset the timecodes in frames (e.g. a film whose own timecode
    starts at 01:00:00:00 at 24 fps: source_start=86400).
    """
    rate = timecode_rate(shot_list.fps)
    reel = "".join(ch for ch in reel.upper() if ch.isalnum() or ch == "_")[:8] or "AX"
    title = " ".join(title.split())[:70] or "vidbw shots"
    lines = [
        f"TITLE: {title}",
        "FCM: NON-DROP FRAME",
        f"* VIDBW: SOURCE {_fps_text(shot_list.fps)} FPS, {shot_list.frames} FRAMES; "
        "NON-DROP-FRAME TIMECODE COUNTED AT "
        f"{rate} FRAMES PER SECOND (ONE TIMECODE FRAME PER FILM FRAME)",
        "",
    ]
    for n, shot in enumerate(shot_list.shots, 1):
        src_in, src_out = timecode(source_start + shot.start_frame, rate), timecode(source_start + shot.end_frame, rate)
        rec_in, rec_out = timecode(record_start + shot.start_frame, rate), timecode(record_start + shot.end_frame, rate)
        lines.append(f"{n:03d}  {reel:<8} {'V':<5} {'C':<8} {src_in} {src_out} {rec_in} {rec_out}")
        if clip_name:
            lines.append(f"* FROM CLIP NAME: {clip_name}")
        detail = f"VIDBW SHOT {shot.index} FRAMES {shot.start_frame}-{shot.end_frame - 1}"
        if shot.style:
            detail += f" STYLE {shot.style}"
        if shot.proxy is not None:
            detail += f" PROXY {shot.proxy}"
        lines.append(f"* COMMENT: {detail}")
        lines.append("")
    return "\n".join(lines)


def render_shots(
    shot_list: ShotList,
    fmt: str = "json",
    title: str | None = None,
    clip_name: str | None = None,
    source: str | os.PathLike | None = None,
) -> str:
    """The shot list as text in one of FORMATS. OTIO needs `source`, the film its clips are pieces of."""
    if fmt == "json":
        return to_json(shot_list)
    if fmt == "csv":
        return to_csv(shot_list)
    if fmt == "edl":
        return to_edl(
            shot_list, title=title or (Path(clip_name).stem if clip_name else "vidbw shots"), clip_name=clip_name
        )
    if fmt == "otio":
        from vidbw.shots.otio import to_otio  # imports opentimelineio, which only this format needs

        if source is None:
            raise OptionError("an OTIO shot list needs the film's path (`source`)", param="source")
        return to_otio(shot_list, source)
    raise OptionError(f"unknown shot list format '{fmt}' (use {', '.join(FORMATS)})")


def format_for_path(path: str | os.PathLike, default: str = "json") -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else default


def write_shots(
    shot_list: ShotList,
    path: str | os.PathLike,
    fmt: str | None = None,
    overwrite: bool = False,
    inputs: tuple[Path, ...] = (),
    title: str | None = None,
    clip_name: str | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write the shot list atomically: the file appears whole or not at all, and an existing file
    (or one of `inputs`) is never replaced without `overwrite`."""
    path = Path(path)
    fmt = fmt or format_for_path(path)
    text = render_shots(shot_list, fmt, title, clip_name, source)
    return write_shot_file(path, text, inputs, overwrite)


def read_shots(path: str | os.PathLike, film: str | os.PathLike | None = None) -> ShotList:
    """The shot list a `--shots` file holds: JSON, or an OTIO timeline (`.otio`) whose clips must be
    pieces of `film` when it is given. Not validated against the film: see `validate`."""
    path = Path(path)
    if path.suffix.lower() == ".otio":
        from vidbw.shots.otio import from_otio  # imports opentimelineio, which only this format needs

        return from_otio(read_shot_file(path), f"shots file {path}", film)
    return ShotList.load(path)
