"""Shots: cut detection on a fast low-resolution analysis pass, and the editable shot list.

    from vidbw.shots import detect_shots, read_shots, validate
    shots = detect_shots("film.mp4", detector="adaptive", min_shot_seconds=0.5, style="tri-x")
    shots.save("film.shots.json")
    edited = validate(read_shots("film.shots.json", "film.mp4"), frame_count, known_styles)  # or film.otio

See docs/SHOTS.md for the file formats and how `--shots` feeds an edited list back.
"""

from vidbw.shots.analysis import ANALYSIS_WIDTH, LowresFilm, frame_count
from vidbw.shots.detect import (
    DEFAULT_DETECTOR,
    DEFAULT_MIN_SHOT_SECONDS,
    DETECTORS,
    detect_cuts,
    detect_shots,
    enforce_min_shot,
    min_shot_frames,
)
from vidbw.shots.formats import FORMATS, read_shots, render_shots, timecode, timecode_rate, write_shots
from vidbw.shots.model import KeyFrame, Shot, ShotList, validate
from vidbw.shots.proxies import FilmSampler, ProxySamples, assign_proxies, shots_for_style

__all__ = [
    "ANALYSIS_WIDTH",
    "DEFAULT_DETECTOR",
    "DEFAULT_MIN_SHOT_SECONDS",
    "DETECTORS",
    "FORMATS",
    "FilmSampler",
    "KeyFrame",
    "LowresFilm",
    "ProxySamples",
    "Shot",
    "ShotList",
    "assign_proxies",
    "shots_for_style",
    "detect_cuts",
    "detect_shots",
    "enforce_min_shot",
    "frame_count",
    "min_shot_frames",
    "read_shots",
    "render_shots",
    "timecode",
    "timecode_rate",
    "validate",
    "write_shots",
]
