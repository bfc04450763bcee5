"""A B&W film's render plan: the look each shot gets (its style and, for a learned style, its proxy).

Classic styles need no analysis: one constant look. A learned style's shots come from the user's
shot list, the analysis pass, or (`shot_stream_for`) the render pass itself as it decodes.
"""

from __future__ import annotations

from pathlib import Path

from vidbw.errors import OptionError
from vidbw.io.probe import describe_video, open_input
from vidbw.render import Look, RenderPlan, ShotRender
from vidbw.results import ProgressCallback


def shot_render_plan(
    source: Path,
    look: Look,
    temporal: str,
    shots_file: Path | None = None,
    detector: str = "adaptive",
    progress: ProgressCallback | None = None,
    cuts_needed: bool = False,
):
    """The film's looks shot by shot, and the shot list they come from (None for one constant look).

    A shot list given by the user is used exactly as edited (style and proxy per shot). Without one,
    a learned style gets the analysis pass: cuts are detected and each shot's proxy is chosen once
    from its own frames, so the look never switches inside a shot. Classic styles need no analysis.
    The proxy choice's evidence is kept from the analysis pass (the film is decoded once before the
    render pass); only a user's shot list, or a shot too short for the kept frames, decodes some.
    """
    from vidbw.shots import (
        FilmSampler,
        assign_proxies,
        detect_shots,
        frame_count,
        read_shots,
        shots_for_style,
        validate,
    )
    from vidbw.styles import get_style

    if shots_file is None and look.style.is_constant and not cuts_needed:
        return RenderPlan.single(look, temporal), None

    def style_of(name):
        return look.style if name in (None, look.style.name) else get_style(name)

    if shots_file is not None:
        shot_list = validate(read_shots(shots_file, source), frame_count(source), get_style)
        shot_list = assign_proxies(shot_list, style_of, FilmSampler(source))
    elif look.style.is_constant:  # cuts only: the shots keep the one look (style None)
        shot_list = detect_shots(source, detector, style=None, progress=progress)
    else:
        shot_list = shots_for_style(source, look.style, detector, progress=progress)
    renders = []
    for shot in shot_list.shots:
        style = style_of(shot.style)
        proxy = shot.proxy
        if proxy is not None and not hasattr(style, "choose_proxy"):
            raise OptionError(f"shot {shot.index}: style '{style.name}' is a classic style and has no proxies")
        renders.append(ShotRender(shot.start_frame, shot.end_frame, look.with_style(style), proxy))
    return RenderPlan(renders, temporal), shot_list


def shot_stream_for(source: Path, look: Look, temporal: str, detector: str):
    """A `ShotStream` for a style that chooses a proxy per shot (a learned style) with a detector that
    streams; else None (the analysis pass runs first)."""
    from vidbw.shots.streaming import STREAMING_DETECTOR, ShotStream

    if look.style.is_constant or not hasattr(look.style, "choose_proxy") or detector != STREAMING_DETECTOR:
        return None

    with open_input(source) as container:
        info = describe_video(container, source)
    return ShotStream(RenderPlan.single(look, temporal), info.nominal_fps, info.width, info.height)
