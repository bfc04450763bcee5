"""A film's colorization plan: each shot's colour source (its key frame, given or automatic),
and what to tell the user about colour already in the film."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vidbw.colorize.correspondence import colour_content
from vidbw.colorize.keyframes import keyframe_references
from vidbw.errors import OptionError
from vidbw.io.frames import display_turns
from vidbw.io.probe import describe_video, open_input
from vidbw.kernels.colour import lowres_size
from vidbw.render import Look, RenderPlan, ShotRender
from vidbw.results import ProgressCallback, input_colour_note
from vidbw.shots.model import KeyFrame, Shot

COLOUR_CHECK_FRAMES = 48  # frames from the start that tell whether a colorization's input has colour


def colorize_render_plan(
    source: Path,
    request,
    temporal: str | None,
    shots_file: Path | None = None,
    detector: str = "adaptive",
    progress: ProgressCallback | None = None,
):
    """The film's colour sources shot by shot: (RenderPlan, shot list, explain lines).

    Cuts come from the user's shot list or the analysis pass, so smoothing resets at every cut and
    colours never bleed across one. A shot takes its key frames from the shot list's "reference",
    else those of a key-frame folder (images named by frame number) that fall in it, else the one
    --reference image; shots without any get their middle frame coloured by the network as their key
    frame. Every reference is read and checked before rendering.

    `temporal` None is light: key frames drive every shot, and their fine grids follow moving
    subjects, which strong smoothing softens (docs/COLORIZE.md).
    """
    from vidbw.shots import FilmSampler, ShotList, detect_shots, frame_count, read_shots, validate

    with open_input(source) as container:
        info = describe_video(container, source)
    analysis_size = lowres_size(info.width, info.height)
    if shots_file is not None:
        shot_list = validate(read_shots(shots_file, source), frame_count(source))
    else:
        shot_list = detect_shots(source, detector, style=None, progress=progress)
    keyframes: dict[int, Path] = {}
    if request.reference is not None and request.reference.is_dir():
        keyframes = keyframe_references(request.reference)
        beyond = [f for f in keyframes if f >= shot_list.frames]
        if beyond:
            raise OptionError(
                f"key frame {keyframes[beyond[0]].name} is for frame {beyond[0]}, but the film has "
                f"{shot_list.frames} frames (0-{shot_list.frames - 1})"
            )
    renders, explain, resolved = [], [], []
    frames = FilmSampler(source)  # the automatic key frames, decoded alike by a single pass and a job's workers
    # Key frames are pictures as players show them: a film's display rotation says how they turn.
    uses_references = request.reference is not None or any(shot.reference is not None for shot in shot_list.shots)
    turns = display_turns(frames.decoded(0).source) if uses_references else 0
    for shot in shot_list.shots:
        keys = shot.key_frames(shots_file) or _other_key_frames(shot, keyframes, request.reference)
        colour_source = (
            request.from_key_frames(keys, analysis_size, turns) if keys else request.automatic_key(frames, shot)
        )
        renders.append(ShotRender(shot.start_frame, shot.end_frame, Look(colour_source)))
        resolved.append(replace(shot, reference=_resolved(keys)))
        explain.append(f"shot {shot.index}: frames {shot.start_frame}-{shot.end_frame - 1}, {colour_source.describe()}")
    temporal = temporal or "light"
    # The shot list says where each shot's colour came from (absolute key-frame paths; none:
    # automatic), so it renders the same again anywhere: chunked jobs hand it to their workers.
    return RenderPlan(renders, temporal), ShotList(shot_list.fps, shot_list.frames, resolved), explain


def _other_key_frames(shot: Shot, keyframes: dict[int, Path], reference: Path | None) -> tuple[KeyFrame, ...]:
    """The key frames of a shot whose shot list names none: those of a key-frame folder that fall in
    the shot, else the one --reference image (a key frame without a time); none: automatic."""
    in_shot = [KeyFrame(str(keyframes[f]), f) for f in sorted(keyframes) if shot.start_frame <= f < shot.end_frame]
    if in_shot:
        return tuple(in_shot)
    return (KeyFrame(str(reference)),) if reference is not None and reference.is_file() else ()


def _resolved(keys: tuple[KeyFrame, ...]) -> str | tuple[KeyFrame, ...] | None:
    """A shot's key frames for the resolved shot list, by absolute path (None: automatic)."""
    absolute = tuple(KeyFrame(str(Path(key.path).resolve()), key.frame) for key in keys)
    if len(absolute) == 1 and absolute[0].frame is None:
        return absolute[0].path  # the shot list's plain form for one key frame without a time
    return absolute or None


def film_colour_notes(source: Path) -> list[str]:
    """What to tell the user about colour already in a film given to colorize, judged from its first
    COLOUR_CHECK_FRAMES frames (none when it is gray). Apart from the plan: a chunked job's workers
    rebuild the plan for every segment and have nothing to report."""
    from vidbw.shots.analysis import LowresFilm

    sample = [frame for _, frame in zip(range(COLOUR_CHECK_FRAMES), LowresFilm(source, as_float=True))]
    note = input_colour_note(*colour_content(np.stack(sample))) if sample else None
    return [note] if note else []
