"""One proxy per shot: the hook through which a learned style picks its scene-level proxy.

A style that can choose (it has ``choose_proxy(evidence) -> int | str``) is shown the content
evidence (`vidbw.models.content`: 42 numbers per frame) of a few low-resolution frames of each
shot; the choice is written into the shot (`Shot.proxy`), so the style never switches inside a shot
and the user can see and edit it in the JSON. Styles without ``choose_proxy`` (every classic style)
leave ``proxy`` as None and nothing is decoded.

Where the evidence comes from (both describe the same frames: the analysis pass's small copy, at
most 256 px on its longer side):

* `ProxySamples`: the evidence of every frame, taken from the analysis pass while it runs, so a
  film is decoded once before the render pass; bounded, since the cuts are known only when the
  pass ends (176 bytes a frame: every frame of a film of up to 3 h 18 min at 24 fps);
* `FilmSampler`: frames decoded for the purpose, with seeks; for a shot list given with ``--shots``
  (no analysis pass) and for shots that the reservoir holds no frame of.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.io.decode import DecodeStats, frame_timestamps, read_media
from vidbw.io.probe import describe_video, open_input
from vidbw.kernels.colour import LOWRES_MAX_SIDE, small_size
from vidbw.models.content import CONTENT_DIM, content_features
from vidbw.shots.analysis import ANALYSIS_WIDTH, planes_to_rgb8, scaled_to_width
from vidbw.shots.detect import DEFAULT_DETECTOR, detect_shots
from vidbw.shots.model import Shot, ShotList

__all__ = [
    "assign_proxies",
    "FilmSampler",
    "ProxySamples",
    "frame_evidence",
    "sample_indices",
    "shots_for_style",
    "PROXY_WINDOW",
]

EvidenceProvider = Callable[[Shot], np.ndarray]  # shot -> float32 (k, CONTENT_DIM) content evidence

PER_SHOT = 3  # frames whose evidence choose_proxy sees per shot
# ... spread over the shot's opening frames only, so that the render pass can choose a shot's proxy
# while it decodes, holding no more than this many frames back (`vidbw.shots.streaming`).
PROXY_WINDOW = 24
RESERVOIR_BYTES = 48 << 20  # ProxySamples' memory: every frame's evidence up to ~286,000 frames
SEEK_GAP = 250  # frames: a target further ahead of the decoder than this is reached by a seek, not decoded to


def assign_proxies(
    shot_list: ShotList, style, evidence_provider: EvidenceProvider, overwrite: bool = False
) -> ShotList:
    """A copy of `shot_list` whose shots carry the proxy their style chooses.

    `style` is a Style used for every shot, or a callable `name -> Style` that resolves each shot's
    own style (`shot.style`, or None for the film's default). A style without `choose_proxy`
    leaves the shot's proxy as it is (None from `vidbw shots`). Proxies the user set in the JSON are
    kept unless `overwrite`. `evidence_provider(shot)` is called only for shots whose style chooses,
    in film order; it returns the float32 (k, CONTENT_DIM) content evidence of k of the shot's frames
    (`ProxySamples`, `FilmSampler`).
    """
    resolve = style if callable(style) and not hasattr(style, "grids_for") else (lambda _name: style)
    shots = []
    for shot in shot_list.shots:
        chooser = getattr(resolve(shot.style), "choose_proxy", None)
        if chooser is None or (shot.proxy is not None and not overwrite):
            shots.append(shot)
            continue
        proxy = chooser(evidence_provider(shot))
        if isinstance(proxy, np.integer):
            proxy = int(proxy)
        shots.append(replace(shot, proxy=proxy))
    return ShotList(shot_list.fps, shot_list.frames, shots)


def sample_indices(shot: Shot, per_shot: int) -> list[int]:
    """`per_shot` frames spread evenly over the shot's first `PROXY_WINDOW` frames (centres of equal
    parts), distinct."""
    n = min(shot.frames, PROXY_WINDOW)
    k = max(1, min(per_shot, n))
    return sorted({shot.start_frame + int((i + 0.5) * n / k) for i in range(k)})


def frame_evidence(analysis_rgb8: np.ndarray, max_side: int = LOWRES_MAX_SIDE) -> np.ndarray:
    """The content evidence (CONTENT_DIM,) of an analysis-pass frame (uint8 RGB, `LowresFilm`): of
    the frame itself when its longer side is at most `max_side` (240 x 135 for a 16:9 film), else of
    its area-averaged copy at that size (a portrait film), as the grid network would see it."""
    h, w = analysis_rgb8.shape[:2]
    size = small_size(w, h, max_side)
    small = analysis_rgb8 if size == (w, h) else cv2.resize(analysis_rgb8, size, interpolation=cv2.INTER_AREA)
    return content_features(small.astype(np.float32) / np.float32(255))


class ProxySamples:
    """An evidence provider filled by the analysis pass itself, so choosing proxies decodes nothing.

    `collect(frames)` passes the analysis pass's frames through (to the cut detector) and keeps the
    `frame_evidence` of every `stride`-th one (stride 1 unless the film is very long). Memory is
    bounded by `max_bytes` whatever the film's length: when the reservoir is full, every other kept
    entry is dropped and the stride doubles, so the kept frames stay evenly spread. Afterwards
    `samples(shot)` gives, for each of the shot's `sample_indices`, the evidence of the kept frame
    inside the shot nearest to it (exactly those frames while the stride is 1). A shot holding no kept
    frame (one shorter than the stride) is handed to `fallback`, typically a `FilmSampler`.
    """

    ENTRY_BYTES = CONTENT_DIM * 4 + 8  # float32 evidence + int64 frame index

    def __init__(
        self,
        fallback: EvidenceProvider | None = None,
        per_shot: int = PER_SHOT,
        max_side: int = LOWRES_MAX_SIDE,
        max_bytes: int = RESERVOIR_BYTES,
    ):
        self.fallback = fallback
        self.per_shot = per_shot
        self.max_side = max_side
        self.capacity = max(2, max_bytes // self.ENTRY_BYTES)
        self.stride = 1
        self.count = 0  # entries kept
        self._indices = np.empty(0, np.int64)
        self._evidence = np.empty((0, CONTENT_DIM), np.float32)
        self.fallback_shots = 0  # shots that needed the fallback (for reports and tests)

    @property
    def indices(self) -> np.ndarray:
        """Frame index of each kept entry, ascending."""
        return self._indices[: self.count]

    @property
    def evidence(self) -> np.ndarray:
        """float32 (count, CONTENT_DIM): the kept frames' evidence, in the order of `indices`."""
        return self._evidence[: self.count]

    def collect(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield `frames` (the analysis pass's uint8 RGB frames, numbered from 0) unchanged, keeping evidence."""
        self.stride, self.count = 1, 0
        self._indices = np.empty(min(self.capacity, 4096), np.int64)
        self._evidence = np.empty((len(self._indices), CONTENT_DIM), np.float32)
        for index, frame in enumerate(frames):
            if index % self.stride == 0 and self.count == self.capacity:
                self._thin()  # doubles the stride, so this frame may no longer be one to keep
            if index % self.stride == 0:
                if self.count == len(self._indices):
                    self._grow()
                self._indices[self.count] = index
                self._evidence[self.count] = frame_evidence(frame, self.max_side)
                self.count += 1
            yield frame

    def _grow(self) -> None:
        """Room for twice as many entries (up to the capacity): memory follows the film's length."""
        size = min(self.capacity, 2 * len(self._indices))
        indices, evidence = np.empty(size, np.int64), np.empty((size, CONTENT_DIM), np.float32)
        indices[: self.count], evidence[: self.count] = self.indices, self.evidence
        self._indices, self._evidence = indices, evidence

    def _thin(self) -> None:
        """Keep every other entry (the frame indices that are multiples of twice the stride)."""
        self.stride *= 2
        keep = np.flatnonzero(self.indices % self.stride == 0)
        self.count = len(keep)
        self._indices[: self.count] = self._indices[keep]
        self._evidence[: self.count] = self._evidence[keep]

    def __call__(self, shot: Shot) -> np.ndarray:
        indices = self.indices
        lo, hi = np.searchsorted(indices, [shot.start_frame, shot.end_frame])
        if lo == hi:
            self.fallback_shots += 1
            if self.fallback is None:
                raise ValueError(
                    f"shot {shot.index}: no analysis frame kept in frames {shot.start_frame}-{shot.end_frame - 1}"
                )
            return self.fallback(shot)
        picked = set()
        for target in sample_indices(shot, self.per_shot):
            j = int(np.searchsorted(indices[lo:hi], target)) + lo
            near = [i for i in (j - 1, j) if lo <= i < hi]
            picked.add(min(near, key=lambda i: abs(int(indices[i]) - target)))
        return self.evidence[sorted(picked)].copy()


class FilmSampler:
    """An evidence provider that decodes: the `frame_evidence` of each shot's `sample_indices` frames.

    Requests in film order are served by decoding forward; a frame more than `SEEK_GAP` frames
    ahead of the decoder (or behind it) is reached by a seek to the keyframe before it, frames being
    numbered through the film's frame table (one demux pass, made on the first seek) as in a
    segment render. Only the current frame is held.
    """

    def __init__(self, source: str | os.PathLike, per_shot: int = PER_SHOT, max_side: int = LOWRES_MAX_SIDE):
        self.source = Path(source)
        self.per_shot = per_shot
        self.max_side = max_side
        self._reader: Generator | None = None  # DecodedFrames from the current position
        self._next = 0  # index of the frame the reader yields next
        self._seeked = False  # the reader started at a seek
        self._table: list[int] | None = None  # every frame's pts, for seeking; [] when the film cannot seek
        self._size = (0, 0)

    def __call__(self, shot: Shot) -> np.ndarray:
        return np.stack([self._evidence(index, shot) for index in sample_indices(shot, self.per_shot)])

    def _evidence(self, index: int, shot: Shot) -> np.ndarray:
        item = self.decoded(index, f"shot {shot.index}: ")
        return frame_evidence(planes_to_rgb8(item.planes, item.to_rgb, self._size), self.max_side)

    def decoded(self, index: int, context: str = ""):
        """The DecodedFrame numbered `index`, the same wherever decoding started (a single pass, a
        job worker): colorization's automatic key frames come from here too."""
        if self._reader is None or index < self._next or index - self._next > SEEK_GAP:
            self._start(index)
        item = self._read_to(index)
        if item is None and self._seeked:  # the seek missed the frame (an odd file): read it from the start
            self._table = []
            self._start(index)
            item = self._read_to(index)
        if item is None:
            raise InputError(f"{context}frame {index} is past the film's end (it has fewer frames than its shots say)")
        return item

    def _read_to(self, index: int):
        assert self._reader is not None  # made by _start
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
        self._size = scaled_to_width(info.width, info.height, ANALYSIS_WIDTH)
        numbering = {}
        self._seeked = (
            index > SEEK_GAP and bool(self._frame_table(container)) and index < len(cast("list[int]", self._table))
        )  # _frame_table has made it
        if self._seeked:
            assert self._table is not None  # made by _frame_table just above
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


def shots_for_style(
    source: str | os.PathLike,
    style,
    detector: str = DEFAULT_DETECTOR,
    min_shot_seconds: float | None = None,  # None: the detector's default
    progress=None,
) -> ShotList:
    """The analysis pass for one style: the film's shots and, when the style chooses proxies (a learned
    style), each shot's proxy, chosen from evidence kept during the same pass (the film is decoded once).
    What `vidbw shots --style` writes and what `vidbw convert --style` renders without `--shots`."""
    chooses = hasattr(style, "choose_proxy")
    samples = ProxySamples(fallback=FilmSampler(source)) if chooses else None
    shot_list = detect_shots(source, detector, min_shot_seconds, style=style.name, progress=progress, samples=samples)
    return assign_proxies(shot_list, style, samples) if samples is not None else shot_list  # i.e. if chooses
