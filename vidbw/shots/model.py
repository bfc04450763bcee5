"""The shot list: a film cut into contiguous runs of frames, each with its own style and proxy.

JSON is the format users edit and feed back with ``--shots`` (`vidbw.shots.read_shots` also reads an
OTIO timeline into this model)::

    {"fps": 23.976023976023978, "frames": 1440,
     "shots": [{"index": 0, "start_frame": 0, "end_frame": 118, "start": 0.0, "end": 4.921,
                "proxy": null, "style": "neutral"}, ...]}

Frames are authoritative: ``end_frame`` is exclusive, shots tile ``[0, frames)`` with no gap or
overlap. ``start``/``end`` (seconds) are there for people and are recomputed on save. ``index`` is
informational (error messages quote it); loading sorts by ``start_frame`` and renumbers.

A shot to colorize may name its coloured key frames in ``reference``: one image (``"keys/a.png"``,
a key frame without a time, for the whole shot), or a list of the frames a colourist coloured,
each with the frame of the film it shows: ``[{"frame": 0, "path": "keys/first.png"},
{"frame": 240, "path": "keys/last.png"}]``. Relative paths are read beside the shot list.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TypeGuard

from vidbw.errors import OptionError
from vidbw.io.atomic import atomic_output, check_output_path

__all__ = [
    "KeyFrame",
    "Shot",
    "ShotList",
    "Transition",
    "TRANSITION_KINDS",
    "validate",
    "KnownStyles",
    "read_shot_file",
    "write_shot_file",
]

# A set of style names, or a callable that says whether a name is known (it may raise
# OptionError with its own suggestion, e.g. `vidbw.styles.get_style`).
KnownStyles = Collection[str] | Callable[[str], object] | None


@dataclass(frozen=True)
class KeyFrame:
    """A coloured key frame of a shot to colorize: an image, and the frame of the film it shows."""

    path: str  # as written: a relative path is read beside the shot list
    frame: int | None = None  # None: a key frame without a time (one reference image for the whole shot)

    def to_dict(self) -> dict:
        return {"frame": self.frame, "path": self.path}


@dataclass(frozen=True)
class Shot:
    """Frames [start_frame, end_frame) of a film, rendered with one style (and one proxy)."""

    index: int
    start_frame: int
    end_frame: int  # exclusive
    start_time: float | None = None  # seconds, for people; None when not known
    end_time: float | None = None
    proxy: int | str | None = None  # a style proxy chosen per shot; None: the style decides
    style: str | None = None  # None: the film's --style
    # Colorization: the shot's coloured key frames (module docstring): one image path, as written, or
    # key frames at known frames of the shot, in order.
    reference: str | tuple[KeyFrame, ...] | None = None

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def middle_frame(self) -> int:
        """The shot's key frame when nobody chose one (automatic colorization colours it, `vidbw
        shots --key-frames` exports it): the middle, not the first, because a shot that fades in
        from black has nothing to colour at its start."""
        return self.start_frame + (self.end_frame - self.start_frame) // 2

    def key_frames(self, shot_list_file: str | os.PathLike | None) -> tuple[KeyFrame, ...]:
        """The shot's key frames (none: colorized automatically), their paths as written when
        absolute, else relative to the shot list's folder."""
        keys = (KeyFrame(self.reference),) if isinstance(self.reference, str) else self.reference or ()
        folder = Path(shot_list_file).parent if shot_list_file is not None else Path()
        return tuple(KeyFrame(str(folder / key.path), key.frame) for key in keys)  # an absolute path stays

    # Frame-index aliases, the convention of `vidbw.render.ShotRender` and `vidbw.jobs.plan.load_cuts`.
    @property
    def start(self) -> int:
        return self.start_frame

    @property
    def end(self) -> int:
        return self.end_frame

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start": None if self.start_time is None else round(self.start_time, 6),
            "end": None if self.end_time is None else round(self.end_time, 6),
            "proxy": self.proxy,
            "style": self.style,
            **({"reference": _reference_json(self.reference)} if self.reference is not None else {}),
        }


TRANSITION_KINDS = ("dissolve", "fade")


@dataclass(frozen=True)
class Transition:
    """A gradual transition over frames [start, end): a cross ``dissolve``, or a ``fade`` through black.

    The shots still tile the film: the boundary between the two shots lies inside the span (a
    dissolve's middle; the first frame with picture after a fade's black). A transition is a record
    for people and editing systems; rendering and smoothing follow the shots.
    """

    start: int
    end: int  # exclusive
    kind: str = "dissolve"

    def to_dict(self) -> dict:
        return {"start_frame": self.start, "end_frame": self.end, "kind": self.kind}


@dataclass
class ShotList:
    """The shots of one film, in order. `fps` is the nominal rate (for timecodes and seconds)."""

    fps: float
    frames: int
    shots: list[Shot] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)  # gradual transitions, in order

    # ------------------------------------------------------------------ building

    @classmethod
    def from_cuts(
        cls,
        cuts: Iterable[int],
        frames: int,
        fps: float,
        style: str | None = "neutral",
        times: Sequence[float] | None = None,
        transitions: Iterable[Transition] = (),
    ) -> ShotList:
        """Shots between cuts (the first frame of each new shot). No cuts: one shot.

        `times`, when given, holds each frame's start time in seconds (frames + 1 values, the last
        the film's end), so variable-frame-rate films get exact seconds; otherwise frame / fps.
        """
        if frames < 1:
            raise OptionError("a shot list needs at least one frame")
        bounds = [0, *sorted({int(c) for c in cuts if 0 < int(c) < frames}), frames]
        shot_list = cls(float(fps), int(frames), transitions=sorted(transitions, key=lambda t: (t.start, t.end)))
        shot_list.shots = [Shot(i, a, b, style=style) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
        return shot_list.with_times(times)

    def with_times(self, times: Sequence[float] | None = None) -> ShotList:
        """A copy whose shots carry start/end seconds (from `times` or frame / fps)."""

        def at(frame: int) -> float | None:
            if times is not None and len(times) > frame:
                return float(times[frame])
            return frame / self.fps if self.fps and self.fps > 0 else None

        shots = [replace(s, start_time=at(s.start_frame), end_time=at(s.end_frame)) for s in self.shots]
        return ShotList(self.fps, self.frames, shots, list(self.transitions))

    def renumbered(self) -> ShotList:
        """Shots sorted by start frame and numbered 0..n-1."""
        ordered = sorted(self.shots, key=lambda s: (s.start_frame, s.end_frame))
        shots = [replace(s, index=i) for i, s in enumerate(ordered)]
        return ShotList(self.fps, self.frames, shots, list(self.transitions))

    # ------------------------------------------------------------------ queries

    def cuts(self) -> list[int]:
        """The first frame of every shot after the first."""
        return [s.start_frame for s in self.shots[1:]]

    def shot_at(self, frame: int) -> Shot:
        """The shot holding `frame` (binary search; the list must be validated)."""
        lo, hi = 0, len(self.shots) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.shots[mid].start_frame <= frame:
                lo = mid
            else:
                hi = mid - 1
        return self.shots[lo]

    def __len__(self) -> int:
        return len(self.shots)

    def __iter__(self):
        return iter(self.shots)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict:
        data = {"fps": self.fps, "frames": self.frames, "shots": [s.to_dict() for s in self.shots]}
        if self.transitions:  # lists without transitions keep the original three keys
            data["transitions"] = [t.to_dict() for t in self.transitions]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data, where: str = "shot list") -> ShotList:
        """Parse the JSON structure; structural problems are one-line OptionErrors.

        Does not check that the shots tile the film: call `validate` for that.
        """
        if not isinstance(data, dict):
            raise OptionError(f"{where}: expected a JSON object with fps, frames and shots")
        fps = data.get("fps")
        if not is_frame_rate(fps):
            raise OptionError(f"{where}: 'fps' must be a positive number, got {fps!r}")
        frames = data.get("frames")
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
            raise OptionError(f"{where}: 'frames' must be a positive whole number, got {frames!r}")
        items = data.get("shots")
        if not isinstance(items, list) or not items:
            raise OptionError(f"{where}: 'shots' must be a non-empty list")
        shots = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise OptionError(f"{where}: shot #{position + 1} in the list is not an object")
            index = item.get("index", position)
            name = f"shot {index}" if _is_int(index) else f"shot #{position + 1}"
            if not _is_int(index):
                index = position
            for key in ("start_frame", "end_frame"):
                if key not in item:
                    raise OptionError(f"{where}: {name} has no '{key}'")
                if not _is_int(item[key]):
                    raise OptionError(f"{where}: {name}: '{key}' must be a whole frame number, got {item[key]!r}")
            style = item.get("style")
            if style is not None and (not isinstance(style, str) or not style.strip()):
                raise OptionError(f"{where}: {name}: 'style' must be a style name or null, got {style!r}")
            proxy = item.get("proxy")
            if proxy is not None and (isinstance(proxy, bool) or not isinstance(proxy, (int, str))):
                raise OptionError(f"{where}: {name}: 'proxy' must be a whole number, a name or null, got {proxy!r}")
            reference = _reference(item.get("reference"), f"{where}: {name}")
            shots.append(
                Shot(
                    index,
                    item["start_frame"],
                    item["end_frame"],
                    _seconds(item.get("start")),
                    _seconds(item.get("end")),
                    proxy,
                    style.strip() if style else None,
                    reference,
                )
            )
        return cls(float(fps), frames, shots, _transitions(data.get("transitions"), frames, where))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ShotList:
        """Read a shot list JSON file (what `vidbw shots` writes and users edit). `vidbw.shots.read_shots`
        reads OTIO timelines too."""
        path = Path(path)
        text = read_shot_file(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OptionError(
                f"shots file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        return cls.from_dict(data, where=f"shots file {path}")

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the JSON atomically (never a partial file; an existing one only with overwrite)."""
        return write_shot_file(path, self.to_json(), overwrite=overwrite)


def read_shot_file(path: str | os.PathLike) -> str:
    """A shot list file's text; a missing, unreadable or undecodable file is a one-line OptionError."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OptionError(f"shots file not found: {path}") from None
    except IsADirectoryError:
        raise OptionError(f"shots file is a folder: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"cannot read shots file {path}: {getattr(exc, 'strerror', None) or exc}") from None


def write_shot_file(path: str | os.PathLike, text: str, inputs: tuple[Path, ...] = (), overwrite: bool = False) -> Path:
    """Write a shot list's text atomically: the file appears whole or not at all, and an existing file
    (or one of `inputs`) is never replaced without `overwrite` (`vidbw.shots.formats` writes the others)."""
    path = Path(path)
    check_output_path(path, tuple(Path(p) for p in inputs), overwrite)
    with atomic_output(path, overwrite) as temp:
        temp.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- validation


def validate(shot_list: ShotList, frame_count: int | None = None, known_styles: KnownStyles = None) -> ShotList:
    """Check that `shot_list` tiles a film of `frame_count` frames; return it sorted and renumbered.

    Any partition of [0, frame_count) into non-empty runs is accepted (1-frame shots included), so
    merging or splitting shots by editing the JSON just works. Problems raise one-line OptionErrors
    that quote the shots' own `index` values, e.g. ``shot 3 overlaps shot 2 (starts at frame 118,
    shot 2 ends at 121)``. `known_styles` is a set of names or a callable that returns falsy or
    raises OptionError for an unknown name; None skips the style check.
    """
    if frame_count is not None and shot_list.frames != frame_count:
        raise OptionError(
            f"shot list is for {shot_list.frames} frames but the film has {frame_count} "
            "(made for another film or another cut? run `vidbw shots` again)"
        )
    total = shot_list.frames if frame_count is None else frame_count
    if not shot_list.shots:
        raise OptionError("shot list has no shots")
    for shot in shot_list.shots:
        if shot.end_frame <= shot.start_frame:
            raise OptionError(
                f"shot {shot.index} is empty or reversed (start_frame {shot.start_frame}, "
                f"end_frame {shot.end_frame}; end_frame is exclusive)"
            )
        if shot.start_frame < 0:
            raise OptionError(f"shot {shot.index} starts at frame {shot.start_frame}, before the film's first frame 0")
        for key in shot.key_frames(None):
            if key.frame is not None and not shot.start_frame <= key.frame < shot.end_frame:
                raise OptionError(
                    f"shot {shot.index}: key frame {key.path} is for frame {key.frame}, outside the shot "
                    f"(frames {shot.start_frame}-{shot.end_frame - 1})"
                )
    ordered = sorted(shot_list.shots, key=lambda s: (s.start_frame, s.end_frame))
    first = ordered[0]
    if first.start_frame != 0:
        raise OptionError(
            f"shot {first.index} starts at frame {first.start_frame}; the first shot must start at "
            f"frame 0 (frames 0-{first.start_frame - 1} belong to no shot)"
        )
    for before, after in zip(ordered, ordered[1:]):
        if after.start_frame < before.end_frame:
            raise OptionError(
                f"shot {after.index} overlaps shot {before.index} (starts at frame {after.start_frame}, "
                f"shot {before.index} ends at {before.end_frame})"
            )
        if after.start_frame > before.end_frame:
            raise OptionError(
                f"gap between shot {before.index} and shot {after.index}: frames {before.end_frame}-"
                f"{after.start_frame - 1} belong to no shot (shot {before.index} ends at "
                f"{before.end_frame}, shot {after.index} starts at {after.start_frame})"
            )
    last = ordered[-1]
    if last.end_frame != total:
        where = "before" if last.end_frame < total else "after"
        raise OptionError(
            f"last shot {last.index} ends at frame {last.end_frame}, {where} the end of the film "
            f"({total} frames; end_frame is exclusive)"
        )
    if known_styles is not None:
        for shot in ordered:
            if shot.style is not None:
                _check_style(shot, known_styles)
    shots = [replace(s, index=i) for i, s in enumerate(ordered)]
    return ShotList(shot_list.fps, shot_list.frames, shots, list(shot_list.transitions))


def _check_style(shot: Shot, known_styles: Collection[str] | Callable[[str], object]) -> None:
    assert shot.style is not None  # only shots that name a style are checked (see `validate`)
    if callable(known_styles):
        try:
            ok = known_styles(shot.style)
        except OptionError as exc:
            raise OptionError(f"shot {shot.index}: {exc}") from None
        if ok is None or ok is False:
            raise OptionError(f"shot {shot.index}: unknown style '{shot.style}' (vidbw styles lists them)")
        return
    if shot.style not in known_styles:
        import difflib

        close = difflib.get_close_matches(shot.style, list(known_styles), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise OptionError(f"shot {shot.index}: unknown style '{shot.style}'{hint} (vidbw styles lists them)")


def _transitions(items, frames: int, where: str) -> list[Transition]:
    """The optional `transitions` list of a shot list's JSON (absent in lists written before it existed)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise OptionError(f"{where}: 'transitions' must be a list")
    out = []
    for position, item in enumerate(items, 1):
        name = f"transition #{position}"
        if not isinstance(item, dict):
            raise OptionError(f"{where}: {name} is not an object")
        start, end, kind = item.get("start_frame"), item.get("end_frame"), item.get("kind", "dissolve")
        if not isinstance(start, int) or not isinstance(end, int) or not _is_int(start) or not _is_int(end):
            start = end = None
        if start is None or end is None or not 0 <= start < end <= frames:
            raise OptionError(
                f"{where}: {name} needs whole 'start_frame' < 'end_frame' within the film's {frames} frames, "
                f"got {start!r} and {end!r}"
            )
        if kind not in TRANSITION_KINDS:
            raise OptionError(f"{where}: {name}: 'kind' must be one of {', '.join(TRANSITION_KINDS)}, got {kind!r}")
        out.append(Transition(start, end, kind))
    return sorted(out, key=lambda t: (t.start, t.end))


def _reference(value, where: str) -> str | tuple[KeyFrame, ...] | None:
    """A shot's "reference" in the JSON: null, one image path, or a list of {"frame": N, "path": IMAGE}."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    if not isinstance(value, list) or not value:
        raise OptionError(
            f'{where}: \'reference\' must be an image path, a list of {{"frame": N, "path": IMAGE}} or null, '
            f"got {value!r}"
        )
    keys: dict[int, KeyFrame] = {}
    for item in value:
        frame, path = (item.get("frame"), item.get("path")) if isinstance(item, dict) else (None, None)
        if not _is_int(frame) or frame < 0 or not isinstance(path, str) or not path.strip():
            raise OptionError(
                f'{where}: a key frame in \'reference\' must be {{"frame": N, "path": IMAGE}}, got {item!r}'
            )
        if frame in keys:
            raise OptionError(f"{where}: two key frames for frame {frame}: {keys[frame].path} and {path.strip()}")
        keys[frame] = KeyFrame(path.strip(), frame)
    return tuple(keys[frame] for frame in sorted(keys))


def _reference_json(reference: str | tuple[KeyFrame, ...]) -> str | list[dict]:
    return reference if isinstance(reference, str) else [key.to_dict() for key in reference]


def _is_int(value) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_frame_rate(value) -> TypeGuard[int | float]:
    """Whether a parsed value is a usable frame rate: a finite, positive number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _seconds(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def rate_fraction(fps: float) -> Fraction:
    """The exact rate behind a float fps (23.976… -> 24000/1001, 25.0 -> 25)."""
    return Fraction(fps).limit_denominator(1001)
