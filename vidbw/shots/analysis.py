"""The analysis pass: every frame of a film decoded once and shrunk to a small 8-bit RGB copy.

Frames are numbered exactly as the render pass numbers them (the same `read_media`, so a damaged
packet's stand-in frame counts here too), which is what makes shot lists line up with renders.
Decoding is threaded; each frame's planes are area-averaged to the analysis size with
`cv2.resize(INTER_AREA)` *before* conversion to RGB, so the full-resolution frame is never
converted. Nothing is skipped: every frame is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import numpy as np

from vidbw.io.decode import DecodedFrame, DecodeStats, frame_timestamps, read_media
from vidbw.io.probe import VideoInfo, describe_video, open_input
from vidbw.kernels.colour import planes_to_small_rgb

__all__ = ["ANALYSIS_WIDTH", "LowresFilm", "frame_count", "planes_to_rgb8", "scaled_to_width", "rec709_luma"]

ANALYSIS_WIDTH = 240  # cut detection; the flicker metric uses 480


def scaled_to_width(width: int, height: int, target_width: int) -> tuple[int, int]:
    """(w, h) for a frame scaled to `target_width` (never enlarged), aspect ratio kept."""
    if width <= target_width:
        return width, height
    return target_width, max(1, round(height * target_width / width))


def planes_to_rgb8(planes, to_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Like `planes_to_small_rgb`, as uint8 RGB (what the cut detectors take)."""
    rgb = planes_to_small_rgb(planes, to_rgb, size)
    rgb *= 255.0
    return np.rint(rgb, out=rgb).astype(np.uint8)


def rec709_luma(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma Y' = 0.2126 R' + 0.7152 G' + 0.0722 B' as float32 in [0, 1], from float R'G'B'
    in [0, 1] or from uint8 R'G'B'."""
    scale = np.float32(1 / 255) if rgb.dtype == np.uint8 else np.float32(1)
    rgb = rgb.astype(np.float32, copy=False)
    return (rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722) * scale


@dataclass
class LowresFilm:
    """Iterate a film as small RGB frames (uint8, or float32 with `as_float`), in presentation order.

    After iterating: `frames` (how many), `times` (each frame's start in seconds from the first
    frame's pts, plus the end of the last frame), `stats` (decode problems survived).
    """

    path: Path
    width: int = ANALYSIS_WIDTH
    as_float: bool = False  # yield float32 R'G'B' in [0, 1] instead of uint8
    # Skip the decoder's in-loop deblocking filter (H.264/HEVC/VP8/VP9), for a faster analysis pass
    # (benchmarks/bench_shots.py times it).
    # Every frame is still decoded; the small copies differ from an exact decode by < 1 level on
    # average (a little blockiness that area-averaging hides), which cut detection does not see.
    fast_decode: bool = False
    info: VideoInfo | None = None
    frames: int = 0
    times: list[float] = field(default_factory=list)
    stats: DecodeStats = field(default_factory=DecodeStats)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        with open_input(self.path) as container:  # the one-line checks: missing, not media, no video
            self.info = describe_video(container, self.path)

    @property
    def fps(self) -> float:
        """Nominal frame rate (the stream's average rate; 25 when the file does not say)."""
        assert self.info is not None  # set by __post_init__
        return self.info.nominal_fps

    @property
    def size(self) -> tuple[int, int]:
        assert self.info is not None  # set by __post_init__
        return scaled_to_width(self.info.width, self.info.height, self.width)

    def __iter__(self) -> Iterator[np.ndarray]:
        info = self.info
        assert info is not None  # set by __post_init__
        self.stats = DecodeStats()
        self.frames = 0
        self.times = []
        pts_list: list[int | None] = []
        container = open_input(self.path)
        try:
            if self.fast_decode:
                container.streams.video[0].codec_context.options = {"skip_loop_filter": "all"}
            size = self.size
            for item in read_media(container, info, [], self.stats):
                assert isinstance(item, DecodedFrame)  # no streams copied: only frames come
                rgb = (planes_to_small_rgb if self.as_float else planes_to_rgb8)(item.planes, item.to_rgb, size)
                pts_list.append(item.pts)
                self.frames += 1
                yield rgb
        finally:
            container.close()
        self.times = _frame_times(pts_list, info.time_base, self.fps)


def _frame_times(pts: list[int | None], time_base: Fraction | None, fps: float) -> list[float]:
    """Start time of every frame (seconds from the first frame) and the end of the last one."""
    n = len(pts)
    step = 1.0 / fps
    if n == 0:
        return [0.0]
    if time_base is None or any(p is None for p in pts):
        return [i * step for i in range(n + 1)]
    known = cast("list[int]", pts)  # no None: checked above
    first = known[0]
    times = [float((p - first) * time_base) for p in known]
    if any(b < a for a, b in zip(times, times[1:])):  # not monotonic (odd muxing): fall back to the rate
        return [i * step for i in range(n + 1)]
    last_step = times[-1] - times[-2] if n > 1 and times[-1] > times[-2] else step
    times.append(times[-1] + last_step)
    return times


def frame_count(path: str | os.PathLike) -> int:
    """Frames in a film as the render pass counts them: the length of its frame table.

    Cheap (one demux pass, packets only, unless the container carries no timestamps); equal to the
    analysis pass's count for intact files.
    """
    path = Path(path)
    with open_input(path) as container:
        describe_video(container, path)
        return len(frame_timestamps(container))
