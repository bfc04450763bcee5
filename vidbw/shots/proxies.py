"""One proxy per shot: the hook through which a learned style picks its scene-level proxy.

A style that can choose (it has ``choose_proxy(frames) -> int | str``) is shown a few low-resolution
frames of each shot; the choice is written into the shot (`Shot.proxy`), so the style never
switches inside a shot and the user can see and edit it in the JSON. Styles without
``choose_proxy`` (every classic style) leave ``proxy`` as None and nothing is decoded.

Where the frames come from (both give the same frames: the analysis pass's small copy, at most
256 px on its longer side):

* `ProxySamples`: kept from the analysis pass while it runs, so a film is decoded once before the
  render pass; a bounded reservoir, since the cuts are known only when the pass ends;
* `FilmSampler`: decoded for the purpose, with seeks; for a shot list given with ``--shots`` (no
  analysis pass) and for shots that the reservoir holds no frame of.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.io.probe import describe_video, open_input
from vidbw.io.video import DecodeStats, frame_timestamps, read_media
from vidbw.kernels.colour import small_size
from vidbw.shots.analysis import ANALYSIS_WIDTH, lowres_size, planes_to_rgb8
from vidbw.shots.model import Shot, ShotList

__all__ = ["assign_proxies", "FilmSampler", "ProxySamples", "proxy_frame", "sample_indices"]

FramesProvider = Callable[[Shot], np.ndarray]  # shot -> float32 (k, h, w, 3) R'G'B' in [0, 1]

PER_SHOT = 3  # frames shown to choose_proxy per shot
PROXY_MAX_SIDE = 256  # the grid network's input size (render.LOWRES_MAX_SIDE); choose_proxy never sees more
RESERVOIR_BYTES = 48 << 20  # ProxySamples' memory: ~500 analysis frames of a 16:9 film, whatever its length
SEEK_GAP = 250  # frames: a target further ahead of the decoder than this is reached by a seek, not decoded to


def assign_proxies(shot_list: ShotList, style, frames_provider: FramesProvider, overwrite: bool = False) -> ShotList:
    """A copy of `shot_list` whose shots carry the proxy their style chooses.

    `style` is a Style used for every shot, or a callable `name -> Style` that resolves each shot's
    own style (`shot.style`, or None for the film's default). A style without `choose_proxy`
    leaves the shot's proxy as it is (None from `vidbw shots`). Proxies the user set in the JSON are
    kept unless `overwrite`. `frames_provider(shot)` is called only for shots whose style chooses,
    in film order; it returns float32 (k, h, w, 3) R'G'B' frames in [0, 1] (`ProxySamples`,
    `FilmSampler`).
    """
    resolve = style if callable(style) and not hasattr(style, "grids_for") else (lambda _name: style)
    shots = []
    for shot in shot_list.shots:
        chooser = getattr(resolve(shot.style), "choose_proxy", None)
        if chooser is None or (shot.proxy is not None and not overwrite):
            shots.append(shot)
            continue
        proxy = chooser(frames_provider(shot))
        if isinstance(proxy, np.integer):
            proxy = int(proxy)
        shots.append(replace(shot, proxy=proxy))
    return ShotList(shot_list.fps, shot_list.frames, shots)


def sample_indices(shot: Shot, per_shot: int) -> list[int]:
    """`per_shot` frames spread evenly inside the shot (centres of equal parts), distinct."""
    n = shot.frames
    k = max(1, min(per_shot, n))
    return sorted({shot.start_frame + int((i + 0.5) * n / k) for i in range(k)})


def proxy_frame(analysis_rgb8: np.ndarray, max_side: int = PROXY_MAX_SIDE) -> np.ndarray:
    """The copy of an analysis-pass frame (uint8 RGB, `LowresFilm`) kept for the proxy choice: the
    frame itself when its longer side is at most `max_side` (240 x 135 for a 16:9 film), else
    area-averaged down to that (a portrait film)."""
    h, w = analysis_rgb8.shape[:2]
    size = small_size(w, h, max_side)
    if size == (w, h):
        return analysis_rgb8.copy()
    return cv2.resize(analysis_rgb8, size, interpolation=cv2.INTER_AREA)


def _as_float(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack(frames).astype(np.float32) / np.float32(255)


class ProxySamples:
    """A frames provider filled by the analysis pass itself, so choosing proxies decodes nothing.

    `collect(frames)` passes the analysis pass's frames through (to the cut detector) and keeps every
    `stride`-th one (`proxy_frame`, with its index). Memory is bounded by `max_bytes` whatever the
    film's length: when the reservoir is full, every other kept frame is dropped and the stride
    doubles, so the kept frames stay evenly spread. Afterwards `samples(shot)` gives, for each of
    the shot's `sample_indices`, the kept frame inside the shot nearest to it (exactly those frames
    while the stride is 1; at most stride/2 frames away after). A shot holding no kept frame (one
    shorter than the stride) is handed to `fallback`, typically a `FilmSampler` (a targeted decode).
    """

    def __init__(self, fallback: FramesProvider | None = None, per_shot: int = PER_SHOT,
                 max_side: int = PROXY_MAX_SIDE, max_bytes: int = RESERVOIR_BYTES):
        self.fallback = fallback
        self.per_shot = per_shot
        self.max_side = max_side
        self.max_bytes = max_bytes
        self.stride = 1
        self.indices: list[int] = []
        self.frames: list[np.ndarray] = []
        self.fallback_shots = 0  # shots that needed the fallback (for reports and tests)

    def collect(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield `frames` (the analysis pass's uint8 RGB frames, numbered from 0) unchanged, keeping samples."""
        self.stride, self.indices, self.frames = 1, [], []
        capacity = 0
        for index, frame in enumerate(frames):
            if index % self.stride == 0:
                kept = proxy_frame(frame, self.max_side)
                if not capacity:
                    capacity = max(2, self.max_bytes // kept.nbytes)
                if len(self.frames) >= capacity:
                    self._thin()
                if index % self.stride == 0:
                    self.indices.append(index)
                    self.frames.append(kept)
            yield frame

    def _thin(self) -> None:
        """Keep every other sample (the indices that are multiples of twice the stride)."""
        self.stride *= 2
        keep = [i for i, index in enumerate(self.indices) if index % self.stride == 0]
        self.indices = [self.indices[i] for i in keep]
        self.frames = [self.frames[i] for i in keep]

    def __call__(self, shot: Shot) -> np.ndarray:
        lo = bisect.bisect_left(self.indices, shot.start_frame)
        hi = bisect.bisect_left(self.indices, shot.end_frame)
        if lo == hi:
            self.fallback_shots += 1
            if self.fallback is None:
                raise ValueError(f"shot {shot.index}: no analysis frame kept in frames {shot.start_frame}-{shot.end_frame - 1}")
            return self.fallback(shot)
        picked = set()
        for target in sample_indices(shot, self.per_shot):
            j = bisect.bisect_left(self.indices, target, lo, hi)
            near = [i for i in (j - 1, j) if lo <= i < hi]
            picked.add(min(near, key=lambda i: abs(self.indices[i] - target)))
        return _as_float([self.frames[i] for i in sorted(picked)])


class FilmSampler:
    """A frames provider that decodes: the `sample_indices` frames of each shot, as `proxy_frame`s.

    Requests in film order are served by decoding forward; a frame more than `SEEK_GAP` frames
    ahead of the decoder (or behind it) is reached by a seek to the keyframe before it, frames being
    numbered through the film's frame table (one demux pass, made on the first seek) as in a
    segment render. Only the current frame is held.
    """

    def __init__(self, source: str | os.PathLike, per_shot: int = PER_SHOT, max_side: int = PROXY_MAX_SIDE):
        self.source = Path(source)
        self.per_shot = per_shot
        self.max_side = max_side
        self._reader: Iterator | None = None  # DecodedFrames from the current position
        self._next = 0  # index of the frame the reader yields next
        self._seeked = False  # the reader started at a seek
        self._table: list[int] | None = None  # every frame's pts, for seeking; [] when the film cannot seek
        self._size = (0, 0)

    def __call__(self, shot: Shot) -> np.ndarray:
        return _as_float([self._frame(index, shot) for index in sample_indices(shot, self.per_shot)])

    def _frame(self, index: int, shot: Shot) -> np.ndarray:
        if self._reader is None or index < self._next or index - self._next > SEEK_GAP:
            self._start(index)
        item = self._read_to(index)
        if item is None and self._seeked:  # the seek missed the frame (an odd file): read it from the start
            self._table = []
            self._start(index)
            item = self._read_to(index)
        if item is None:
            raise ValueError(f"shot {shot.index}: frame {index} is past the film's end")
        return proxy_frame(planes_to_rgb8(item.planes, item.to_rgb, self._size), self.max_side)

    def _read_to(self, index: int):
        try:
            for item in self._reader:
                self._next = item.index + 1
                if item.index >= index:
                    return item if item.index == index else None
        except InputError:  # after a seek: a frame missing from the frame table
            if not self._seeked:
                raise
        return None

    def _start(self, index: int) -> None:
        if self._reader is not None:
            self._reader.close()
        container = open_input(self.source)
        info = describe_video(container, self.source)
        self._size = lowres_size(info.width, info.height, ANALYSIS_WIDTH)
        numbering = {}
        self._seeked = index > SEEK_GAP and bool(self._frame_table(container)) and index < len(self._table)
        if self._seeked:
            container.seek(self._table[index], stream=container.streams.video[0], backward=True)
            numbering = {"index_of_pts": _FrameIndex(self._table)}
        self._next = 0

        def frames():
            try:
                yield from read_media(container, info, [], DecodeStats(), **numbering)
            finally:
                container.close()

        self._reader = frames()

    def _frame_table(self, container) -> list[int]:
        """The film's frame table (sorted pts), made once; [] when seeking cannot be trusted."""
        if self._table is None:
            try:
                table = frame_timestamps(container)
            except InputError:  # no timestamps: read forward only
                table = []
            self._table = table if len(set(table)) == len(table) else []
        return self._table


class _FrameIndex:
    """pts -> frame index over a sorted frame table (read_media's `index_of_pts`), without a dict."""

    def __init__(self, table: list[int]):
        self.table = table

    def __contains__(self, pts) -> bool:
        i = bisect.bisect_left(self.table, pts) if pts is not None else len(self.table)
        return i < len(self.table) and self.table[i] == pts

    def __getitem__(self, pts) -> int:
        if pts not in self:
            raise KeyError(pts)
        return bisect.bisect_left(self.table, pts)
