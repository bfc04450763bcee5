"""Shot lists as OpenTimelineIO timelines, for editing systems (`vidbw shots --format otio`, `--shots film.otio`).

A timeline with one video track; each shot is a Clip of the film (an ExternalReference to its
absolute path, the whole film as its available range) whose source range is the shot's frames at
the film's rate, with the shot's fields under ``metadata["vidbw"]``. A dissolve or fade that holds
exactly one cut, and whose two halves fit in the shots beside it, is an otio Transition at that
cut: both sides are the same film, so an editing system that blends them shows the film's own
frames. The others (a fade-in at the film's start, one whose cut the minimum-shot rule removed)
have no pair of clips to sit between and are kept in the timeline's metadata.

Reading, the clips' source ranges are authoritative: an editor may trim clips, move cuts, split or
delete clips and change a shot's style or proxy in its metadata. The result is checked by
`validate` like a JSON list (the shots must tile the film). See docs/SHOTS.md.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from vidbw.errors import OptionError
from vidbw.shots.model import ShotList, Transition, is_frame_rate

__all__ = ["NAMESPACE", "to_timeline", "to_otio", "from_otio"]

NAMESPACE = "vidbw"  # the metadata key vidbw's fields live under, on the timeline, clips and transitions
# OTIO's model names one kind of transition, the dissolve; anything else is "Custom" (with vidbw's
# kind in its metadata).
_TRANSITION_TYPES = {"dissolve": otio.schema.TransitionTypes.SMPTE_Dissolve, "fade": otio.schema.TransitionTypes.Custom}


# --------------------------------------------------------------------------- writing


def to_timeline(shot_list: ShotList, film: str | os.PathLike) -> otio.schema.Timeline:
    """The shot list (sorted, tiling the film, as `validate` returns it) as an otio Timeline of `film`."""
    film = Path(film).absolute()
    rate = shot_list.fps

    def span(start: int, frames: int) -> TimeRange:
        return TimeRange(RationalTime(start, rate), RationalTime(frames, rate))

    placed, kept = _place_transitions(shot_list)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for shot in shot_list.shots:
        if shot.start_frame in placed:
            transition = placed[shot.start_frame]
            track.append(
                otio.schema.Transition(
                    name=transition.kind,
                    transition_type=_TRANSITION_TYPES[transition.kind],
                    in_offset=RationalTime(shot.start_frame - transition.start, rate),
                    out_offset=RationalTime(transition.end - shot.start_frame, rate),
                    metadata={NAMESPACE: {"kind": transition.kind}},
                )
            )
        track.append(
            otio.schema.Clip(
                name=f"shot {shot.index}",
                media_reference=otio.schema.ExternalReference(film.as_uri(), span(0, shot_list.frames)),
                source_range=span(shot.start_frame, shot.frames),
                metadata={NAMESPACE: {**shot.to_dict(), "key_frame": shot.middle_frame}},
            )
        )
    # The version `vidbw --version` reports: the installed distribution's.
    version = importlib.metadata.version("vidbw")
    info: dict = {"film": str(film), "frames": shot_list.frames, "fps": shot_list.fps, "version": version}
    if kept:
        info["transitions"] = [t.to_dict() for t in kept]
    return otio.schema.Timeline(name=film.stem, tracks=[track], metadata={NAMESPACE: info})


def to_otio(shot_list: ShotList, film: str | os.PathLike) -> str:
    """The timeline as OTIO's own JSON (a `.otio` file)."""
    return otio.core.serialize_json_to_string(to_timeline(shot_list, film), indent=2) + "\n"


def _place_transitions(shot_list: ShotList) -> tuple[dict[int, Transition], list[Transition]]:
    """Transitions that become otio Transitions, by the cut they sit at; and those kept as metadata.

    An otio Transition sits between two clips and overlaps `in_offset` frames of the first and
    `out_offset` of the second, so it needs exactly one cut inside its span and halves no longer
    than the shots beside it."""
    shots = shot_list.shots
    position = {shot.start_frame: i for i, shot in enumerate(shots) if i}
    placed: dict[int, Transition] = {}
    kept = []
    for transition in shot_list.transitions:
        inside = [cut for cut in position if transition.start < cut < transition.end]
        cut = inside[0] if len(inside) == 1 else None
        if (
            cut is not None
            and cut not in placed
            and cut - transition.start <= shots[position[cut] - 1].frames
            and transition.end - cut <= shots[position[cut]].frames
        ):
            placed[cut] = transition
        else:
            kept.append(transition)
    return placed, kept


# --------------------------------------------------------------------------- reading


def from_otio(text: str, where: str, film: str | os.PathLike | None = None) -> ShotList:
    """Parse an OTIO timeline written by `to_otio`, maybe edited in an editing system.

    Every clip of its one video track must be a piece of `film` (matched by file name, since an
    editing system may relink the media to another folder; without `film`, of the film the timeline
    names). Gaps are skipped (the frames they leave out are then missing from the list, which
    `validate` refuses, naming them); audio tracks are ignored. Problems are one-line OptionErrors.
    Does not check that the shots tile the film: call `validate` for that.
    """
    try:
        timeline = otio.core.deserialize_json_from_string(text)
    except (ValueError, KeyError, otio.exceptions.OTIOError) as exc:  # bad JSON, mistyped or missing fields
        detail = _MANGLED.sub(_demangled, " ".join(str(exc).strip("\"'").split()))
        missing = "a required field is missing: " if isinstance(exc, KeyError) else ""
        raise OptionError(f"{where} is not an OTIO timeline ({missing}{detail})") from None
    if not isinstance(timeline, otio.schema.Timeline):
        kind = "nothing" if timeline is None else getattr(timeline, "schema_name", lambda: type(timeline).__name__)()
        raise OptionError(f"{where} is not an OTIO timeline (it holds {kind})")
    tracks = timeline.video_tracks()
    if len(tracks) != 1:
        raise OptionError(
            f"{where}: the timeline has {len(tracks)} video tracks; vidbw reads one "
            "(flatten the others into it, or delete them)"
        )
    info = _section(timeline.metadata, where)
    clips = [(n, item) for n, item in enumerate(tracks[0]) if isinstance(item, otio.schema.Clip)]
    if not clips:
        raise OptionError(f"{where}: the video track has no clips")
    first_n, first = clips[0]
    expected = _expected_name(film, info, first)
    # A timeline an editing system wrote afresh may have lost vidbw's metadata: then the clips say.
    fps = info["fps"] if is_frame_rate(info.get("fps")) else _range(first, first_n, where).start_time.rate
    frames = info["frames"] if "frames" in info else _film_frames(first, fps)
    kept = info.get("transitions", [])
    if not isinstance(kept, list):
        raise OptionError(f"{where}: metadata 'transitions' must be a list, got {kept!r}")

    shots: list[dict] = []
    transitions: list[dict] = list(kept)
    pending: list[tuple[otio.schema.Transition, int]] = []  # each with how many clips come before it
    for n, item in enumerate(tracks[0]):
        if isinstance(item, otio.schema.Gap):
            continue
        if isinstance(item, otio.schema.Transition):
            pending.append((item, len(shots)))
            continue
        if not isinstance(item, otio.schema.Clip):
            raise OptionError(
                f"{where}: item {n + 1} of the video track is a {item.schema_name()}; vidbw reads clips, gaps and "
                "transitions (flatten nested tracks first)"
            )
        shots.append(_shot(item, n, len(shots), expected, fps, where))
    for transition, before in pending:
        record = _transition(transition, before, shots, fps, where)
        if record is not None:
            transitions.append(record)
    return ShotList.from_dict({"fps": fps, "frames": frames, "shots": shots, "transitions": transitions}, where)


def _shot(clip: otio.schema.Clip, n: int, position: int, expected: str, fps: float, where: str) -> dict:
    """One clip as a shot of the JSON structure `ShotList.from_dict` reads."""
    name = _clip_name(clip, n)
    reference = clip.media_reference
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        raise OptionError(
            f"{where}: {name} has no media file ({reference.schema_name()}); every clip must be a piece of {expected}"
        )
    media = _media_name(reference.target_url)
    if media != expected:
        raise OptionError(f"{where}: {name} is a piece of {media}, not of {expected}; every clip must be of the film")
    speed = [effect for effect in clip.effects if isinstance(effect, otio.schema.TimeEffect)]
    if speed:
        raise OptionError(
            f"{where}: {name} changes speed ({speed[0].schema_name()}); vidbw renders each frame of the film "
            "once, at its own speed"
        )
    # Source ranges count in the media's time, which starts where its available range does (an
    # editing system may start it at the film's timecode; vidbw writes 0).
    origin = _frame(reference.available_range.start_time, fps) if reference.available_range else 0
    span = _range(clip, n, where)
    start = _frame(span.start_time, fps) - origin
    end = start + _frame(span.duration, fps)
    fields = _section(clip.metadata, f"{where}: {name}")
    # As in JSON, the index is the shot's name in messages (the clip's name, "shot 3", as written) and
    # lists are renumbered when validated. Seconds are for people: the ones written stay while the
    # clip keeps its frames (from the frames' timestamps, exact for variable frame rate); a trimmed
    # end gets frame / fps.
    return {
        "index": fields.get("index", position),
        "start_frame": start,
        "end_frame": end,
        "start": fields.get("start") if fields.get("start_frame") == start else start / fps,
        "end": fields.get("end") if fields.get("end_frame") == end else end / fps,
        "style": fields.get("style"),
        "proxy": fields.get("proxy"),
        "reference": fields.get("reference"),
    }


def _transition(
    transition: otio.schema.Transition, before: int, shots: list[dict], fps: float, where: str
) -> dict | None:
    """An otio Transition as a transition record, spanning its offsets around the cut it sits at;
    None for one vidbw does not record (an editing system's wipe)."""
    fields = _section(transition.metadata, f"{where}: transition '{transition.name}'")
    kind = fields.get("kind")
    if kind is None and transition.transition_type == _TRANSITION_TYPES["dissolve"]:
        kind = "dissolve"  # one an editor added
    if kind is None or not shots:
        return None
    cut = shots[before]["start_frame"] if before < len(shots) else shots[-1]["end_frame"]
    start, end = cut - _frame(transition.in_offset, fps), cut + _frame(transition.out_offset, fps)
    return {"start_frame": start, "end_frame": end, "kind": kind}


def _range(clip: otio.schema.Clip, n: int, where: str) -> TimeRange:
    """The clip's frames of the media: its source range, else (untrimmed) the media's whole range."""
    span = clip.source_range
    if span is None and clip.media_reference is not None:
        span = clip.media_reference.available_range
    if span is None:
        raise OptionError(f"{where}: {_clip_name(clip, n)} has no source range")
    return span


def _film_frames(clip: otio.schema.Clip, fps: float) -> int | None:
    """How many frames the film has, from a clip's media (for a timeline without vidbw's metadata)."""
    available = clip.media_reference.available_range if clip.media_reference is not None else None
    return None if available is None else _frame(available.duration, fps)


def _frame(time: RationalTime, fps: float) -> int:
    """A time as a whole frame of the film: exact at the film's own rate (what vidbw writes), else
    rescaled and rounded (an editing system may count in its timeline's rate)."""
    return round(time.rescaled_to(fps).value)


def _expected_name(film, info: dict, first: otio.schema.Clip) -> str:
    """The file name every clip's media must have: the film's, else the one the timeline names, else
    the first clip's."""
    if film is not None:
        return Path(film).name
    if isinstance(info.get("film"), str) and info["film"]:
        return _media_name(info["film"])
    return _media_name(getattr(first.media_reference, "target_url", "") or "")


def _media_name(target: str) -> str:
    """The file name of a media reference's target: a file URL (as vidbw writes) or a plain path (as
    some editing systems write), POSIX or Windows."""
    path = otio.url_utils.filepath_from_url(target) if target.lower().startswith("file:") else target
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1]


def _section(metadata, where: str) -> dict:
    """The vidbw part of an otio object's metadata as plain Python (otio returns its own containers)."""
    section = _plain(metadata.get(NAMESPACE, {}))
    if not isinstance(section, dict):
        raise OptionError(f"{where}: metadata '{NAMESPACE}' must be an object, got {section!r}")
    return section


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


# otio's messages name its C++ types as compilers mangle them: N14opentimelineio7v0_18_14ClipE is Clip.
_MANGLED = re.compile(r"N\d+opentimelineio\w+?E\b")


def _demangled(match: re.Match) -> str:
    text, names, i = match.group(0), [], 1
    while (length := re.match(r"\d+", text[i:])) is not None:
        start = i + length.end()
        i = start + int(length.group())
        names.append(text[start:i])
    return names[-1] if names else text


def _clip_name(clip: otio.schema.Clip, n: int) -> str:
    return f"clip '{clip.name}'" if clip.name else f"clip {n + 1} of the track"
