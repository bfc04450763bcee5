"""What every restoration part works on and the one interface they share.

A part (deflicker, dust, scratches, stabilize, grain) restores one frame at a time from a window of
its neighbours *in the same shot*. It reads its inputs and returns a new frame; it never changes
the frames it was given. So a frame's result depends only on the part's inputs within
`radius`/`summary_radius` frames of it, and a chunked job (which decodes a little context on each
side of a segment) renders exactly what a single pass does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

__all__ = ["WorkFrame", "Window", "Part", "chroma_mask", "resample_to"]


@dataclass(frozen=True)
class WorkFrame:
    """One picture as restoration sees it: float32 planes, code values divided by the largest code.

    `y` is the luma at full size; `cb` and `cr` are the chroma planes at their own (possibly
    subsampled) size, neutral near 0.5. R'G'B' sources arrive here as Y'CbCr 4:4:4 (BT.709) and go
    back to R'G'B' afterwards. Values may leave [0, 1] in between; they are clipped on the way out.
    """

    index: int
    y: np.ndarray
    cb: np.ndarray
    cr: np.ndarray
    # The grain taken out of `y` by grain reduction (same size, signed), put back after the look.
    grain: np.ndarray | None = None
    # Where black sits in `y`: 16/255 for limited-range video, 0 for full range. Light (exposure,
    # flicker) scales what is above it.
    black: float = 0.0
    # The 8-bit luma as decoded, with the `y` made from it: (that y, its codes). `luma_codes` reads it
    # while `y` is still that array; a part that replaces `y` leaves it behind, stale and unread.
    decoded: tuple[np.ndarray, np.ndarray] | None = None

    def with_planes(self, y: np.ndarray | None = None, cb: np.ndarray | None = None, cr: np.ndarray | None = None):
        """A copy with some planes replaced (the others are shared, not copied)."""
        return replace(
            self,
            y=self.y if y is None else y,
            cb=self.cb if cb is None else cb,
            cr=self.cr if cr is None else cr,
        )

    def luma_codes(self) -> np.ndarray:
        """`y` as rounded 8-bit codes (uint8): the decoded plane itself while `y` is still what was
        decoded, else converted."""
        if self.decoded is not None and self.decoded[0] is self.y:
            return self.decoded[1]
        return cv2.convertScaleAbs(self.y, alpha=255.0)  # rounded and saturated to 0..255

    @property
    def chroma_shape(self) -> tuple[int, int]:
        return self.cb.shape  # type: ignore[return-value]


@dataclass
class Window:
    """The frames around the one being restored, offsets relative to it (0 is the frame itself).

    `frame(k)` is the part's input at offset k for |k| <= radius, `summary(k)` what the part's
    `summarise` said of it for |k| <= summary_radius; both are None outside the frame's shot or the
    film. `cache` is the part's own per-frame memo (by frame index), for results that neighbouring
    windows reuse; entries older than the window are dropped by the stream.
    """

    frames: dict[int, WorkFrame]
    summaries: dict[int, Any]
    cache: dict[int, Any] = field(default_factory=dict)

    @property
    def centre(self) -> WorkFrame:
        return self.frames[0]

    def frame(self, offset: int) -> WorkFrame | None:
        return self.frames.get(offset)

    def summary(self, offset: int) -> Any:
        return self.summaries.get(offset)


class Part:
    """One restoration step. Subclasses set `name`, the radii, and implement `restore`."""

    name: str = ""
    radius: int = 0  # neighbours whose pixels `restore` reads, on each side
    summary_radius: int = 0  # neighbours whose summaries `restore` reads, on each side

    def summarise(self, frame: WorkFrame) -> Any:
        """A small description of one input frame (statistics, a thumbnail), computed once per frame."""
        return None

    def restore(self, window: Window) -> WorkFrame:
        raise NotImplementedError

    @property
    def reach(self) -> int:
        """How far this part looks, in frames, on either side."""
        return max(self.radius, self.summary_radius)


def resample_to(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float plane (or mask as float) resized to `shape` (h, w) by area averaging; itself when equal."""
    if plane.shape[:2] == shape:
        return plane
    return cv2.resize(plane, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def chroma_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A full-size bool mask carried to the chroma planes' size: a chroma sample is in it when any
    luma sample it covers is."""
    if mask.shape == shape:
        return mask
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0
