"""Restoration in the streaming engine: decoded frames in, restored frames out, a few frames later.

Each part is a stage that holds its input frames until the frame it restores has all the
neighbours it reads (`Part.reach` frames ahead, or the end of the shot or the film), and the frames
behind it that later windows still need; so memory is bounded by the parts' radii, not the film.
The stages are chained: a part reads the previous part's output. A frame's result depends only
on the film's frames within the sum of the reaches, which is the context a chunked job decodes
(`Restoration.reach`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidbw.io.decode import DecodedFrame
from vidbw.kernels.colour import luma_weights
from vidbw.kernels.ycbcr import rgb_to_ycbcr709, ycbcr709_to_rgb
from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["RestoreStream", "RestoredFrame", "restore_work_frames"]


@dataclass
class RestoredFrame(DecodedFrame):
    """A decoded frame after restoration; `grain` (luma levels, signed) goes back on after the look."""

    grain: np.ndarray | None = None


class _Stage:
    """One part and the frames it holds: inputs by index, with their summaries."""

    def __init__(self, part: Part, shot_of):
        self.part = part
        self.shot_of = shot_of
        self.inputs: dict[int, WorkFrame] = {}
        self.summaries: dict[int, object] = {}
        self.cache: dict[int, object] = {}
        self.next_index: int | None = None  # the next frame to restore
        self.last_index: int | None = None  # the latest frame pushed

    def push(self, frame: WorkFrame) -> list[WorkFrame]:
        self.inputs[frame.index] = frame
        self.summaries[frame.index] = self.part.summarise(frame)
        self.last_index = frame.index
        if self.next_index is None:
            self.next_index = frame.index
        return self._ready(final=False)

    def finish(self) -> list[WorkFrame]:
        return self._ready(final=True) if self.next_index is not None else []

    def _ready(self, final: bool) -> list[WorkFrame]:
        out = []
        reach = self.part.reach
        assert self.next_index is not None and self.last_index is not None
        while self.next_index <= self.last_index:
            index = self.next_index
            shot = self.shot_of(index)
            complete = self.last_index >= index + reach or self.shot_of(self.last_index) != shot
            if not (complete or final):
                break
            out.append(self.part.restore(self._window(index, shot)))
            self.next_index += 1
            self._forget_before(self.next_index - reach)
        return out

    def _window(self, index: int, shot: int) -> Window:
        def around(items: dict, radius: int) -> dict:
            return {
                k: items[index + k]
                for k in range(-radius, radius + 1)
                if index + k in items and self.shot_of(index + k) == shot
            }

        return Window(
            around(self.inputs, self.part.radius), around(self.summaries, self.part.summary_radius), self.cache
        )

    def _forget_before(self, first_needed: int) -> None:
        for items in (self.inputs, self.summaries, self.cache):
            for old in [k for k in items if k < first_needed - 1]:
                del items[old]


def _shot_finder(shot_starts: Sequence[int]):
    starts = sorted(set(shot_starts) | {0})
    return lambda index: bisect.bisect_right(starts, index)


def _through(stages: list[_Stage], frames: list[WorkFrame], final: bool) -> list[WorkFrame]:
    """Push frames through the chained stages; with `final`, flush each stage in turn."""
    for stage in stages:
        passed = []
        for frame in frames:
            passed.extend(stage.push(frame))
        if final:
            passed.extend(stage.finish())
        frames = passed
    return frames


def restore_work_frames(parts: Sequence[Part], frames: list[WorkFrame], shot_starts: Sequence[int] = ()):
    """Restore a clip held in memory (frames with consecutive indices) exactly as the stream does: for
    evaluating and testing parts without decoding. A sub-list is what a chunk sees."""
    shot_of = _shot_finder(shot_starts)
    return _through([_Stage(part, shot_of) for part in parts], list(frames), final=True)


class RestoreStream:
    """Frames in decode order in; the same frames restored out, in order, once their windows are full.

    >>> stream = RestoreStream(Restoration().make_parts(), shot_starts=[0, 120], bit_depth=8)
    >>> for frame in decoded: [render(f) for f in stream.push(frame)]
    >>> [render(f) for f in stream.finish()]

    `shot_starts` are the first frames of the film's shots: no part looks across a cut.
    """

    def __init__(self, parts: Sequence[Part], shot_starts: Sequence[int], bit_depth: int):
        shot_of = _shot_finder(shot_starts)
        self._stages = [_Stage(part, shot_of) for part in parts]
        self.peak = float(2**bit_depth - 1)
        self._decoded: dict[int, DecodedFrame] = {}
        self._work_in: dict[int, WorkFrame] = {}  # what each frame entered as: planes no part replaced are not re-coded

    @property
    def reach(self) -> int:
        return sum(stage.part.reach for stage in self._stages)

    def push(self, frame: DecodedFrame) -> list[RestoredFrame]:
        self._decoded[frame.index] = frame
        work = self._work_in[frame.index] = self._to_work(frame)
        return [self._to_decoded(f) for f in _through(self._stages, [work], final=False)]

    def finish(self) -> list[RestoredFrame]:
        return [self._to_decoded(f) for f in _through(self._stages, [], final=True)]

    # ------------------------------------------------------------------ planes <-> work frames

    def _coded(self, value: np.ndarray, dtype) -> np.ndarray:
        return _coded_plane(value, self.peak, dtype)

    def _to_work(self, frame: DecodedFrame) -> WorkFrame:
        weights = luma_weights(frame.to_rgb)
        if weights[1] == 0.0 and weights[2] == 0.0:  # Y'CbCr planes: the luma is plane 0
            scale = np.float32(1 / self.peak)
            y, cb, cr = (cv2.multiply(plane, 1.0, scale=float(scale), dtype=cv2.CV_32F) for plane in frame.planes)
            black = float(-weights[3] / weights[0]) / self.peak  # the code whose luma level is 0
            decoded = (y, frame.planes[0]) if frame.planes[0].dtype == np.uint8 else None
            return WorkFrame(frame.index, y, cb, cr, black=black, decoded=decoded)
        else:  # R'G'B' planes (in whatever order): restored as BT.709 Y'CbCr, put back afterwards
            y, cb, cr = rgb_to_ycbcr709(_planes_to_rgb(frame))
            cb, cr = cb + np.float32(0.5), cr + np.float32(0.5)
        return WorkFrame(frame.index, y, cb, cr)

    def _to_decoded(self, work: WorkFrame) -> RestoredFrame:
        original = self._decoded.pop(work.index)
        entered = self._work_in.pop(work.index)
        weights = luma_weights(original.to_rgb)
        grain = work.grain
        if weights[1] == 0.0 and weights[2] == 0.0:
            planes = tuple(
                plane if now is before else self._coded(now, plane.dtype)
                for plane, now, before in zip(
                    original.planes, (work.y, work.cb, work.cr), (entered.y, entered.cb, entered.cr)
                )
            )
            if grain is not None:  # from code / peak to luma levels
                grain = grain * np.float32(self.peak * weights[0])
        elif work.y is entered.y and work.cb is entered.cb and work.cr is entered.cr:
            planes = original.planes
        else:
            codes = _rgb_to_codes(
                ycbcr709_to_rgb(work.y, work.cb - np.float32(0.5), work.cr - np.float32(0.5)), original
            )
            planes = tuple(
                self._coded(value / np.float32(self.peak), p.dtype) for value, p in zip(codes, original.planes)
            )
        return RestoredFrame(
            planes,  # type: ignore[arg-type]
            original.to_rgb,
            original.pts,
            original.index,
            original.concealed,
            original.source,
            grain=grain,
        )


def _coded_plane(value: np.ndarray, peak: float, dtype) -> np.ndarray:
    """Work values (code / peak) back to rounded, clipped codes: one OpenCV pass (it rounds half to
    even, as np.rint does, and saturates to the type), then the clip to `peak` where the type holds more."""
    depth, most = (cv2.CV_8U, 255) if np.dtype(dtype) == np.uint8 else (cv2.CV_16U, 65535)
    codes = cv2.multiply(value, 1.0, scale=peak, dtype=depth)
    return codes if peak >= most else cv2.min(codes, peak)


def _planes_to_rgb(frame: DecodedFrame) -> np.ndarray:
    """(h, w, 3) float32 R'G'B' in [0, 1] of a frame whose planes are R'G'B' in some order."""
    stacked = np.stack([plane.astype(np.float32) for plane in frame.planes], axis=-1)
    return stacked @ frame.to_rgb[:, :3].T + frame.to_rgb[:, 3]


def _rgb_to_codes(rgb: np.ndarray, frame: DecodedFrame) -> tuple[np.ndarray, ...]:
    """The inverse of `_planes_to_rgb`: the frame's three planes as float code values."""
    inverse = np.linalg.inv(frame.to_rgb[:, :3].astype(np.float64)).astype(np.float32)
    codes = (rgb - frame.to_rgb[:, 3]) @ inverse.T
    return tuple(codes[..., i] for i in range(3))
