"""Dense optical flow between two frames: OpenCV DIS (medium preset) both ways, and what the
forward-backward check says about it.

The one place for flow: the flicker measure (`vidbw eval flicker`), reference-mode colorization
(carrying a key frame's colours), and the colorizer's training pairs and correspondence score all
read the same `Flow`, so a pixel that one of them trusts is computed the same way in all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DISFlow", "Flow"]


@dataclass(frozen=True)
class Flow:
    """Where each pixel x of frame a lands in frame b, x + forward(x), and how far the backward flow
    from there misses the way home (`mismatch`: forward(x) + backward(x + forward(x)))."""

    forward: np.ndarray  # (h, w, 2) float32
    map_x: np.ndarray  # (h, w) float32: x + forward_x, as cv2.remap takes it
    map_y: np.ndarray
    mismatch: np.ndarray  # (h, w, 2) float32: zero where the two flows agree
    back: np.ndarray  # (h, w, 2) float32: backward flow sampled at x + forward(x)

    @property
    def inside(self) -> np.ndarray:
        """bool (h, w): x + forward(x) lands inside frame b."""
        h, w = self.map_x.shape
        return (self.map_x >= 0) & (self.map_x <= w - 1) & (self.map_y >= 0) & (self.map_y <= h - 1)

    @property
    def disagreement(self) -> np.ndarray:
        """(h, w) float32: the forward-backward mismatch in pixels."""
        return np.hypot(self.mismatch[..., 0], self.mismatch[..., 1])

    def consistent(self) -> np.ndarray:
        """bool (h, w): not occluded and inside the frame, by the check of Sundaram et al. (2010) that
        Lai et al. (2018) use for the warping error: |f + b|² <= 0.01 (|f|² + |b|²) + 0.5."""
        mismatch = np.square(self.mismatch).sum(axis=-1)
        magnitude = np.square(self.forward).sum(axis=-1) + np.square(self.back).sum(axis=-1)
        return self.inside & (mismatch <= 0.01 * magnitude + 0.5)

    def warp(self, image_b: np.ndarray) -> np.ndarray:
        """Frame b (or anything on its pixels) sampled at x + forward(x): b warped back onto a."""
        return cv2.remap(image_b, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class DISFlow:
    """`DISFlow()(a, b)`: the `Flow` from a to b, for 8-bit single-channel frames of one size.

    Keeps one DIS instance and the pixel grid between calls (a film's frames share a size). `preset`
    is a cv2.DISOPTICAL_FLOW_PRESET_*: restoration, which runs on every frame, takes a faster one."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]  # OpenCV exports this alias; its stub only has DISOpticalFlow.create
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, a_u8: np.ndarray, b_u8: np.ndarray) -> Flow:
        return self._flow(*self.fields(a_u8, b_u8))

    def both_ways(self, a_u8: np.ndarray, b_u8: np.ndarray, median: int = 0) -> tuple[Flow, Flow]:
        """The `Flow` from a to b and the one from b to a, from the same two DIS runs. `median` (3 or 5)
        median-filters both fields first, so a blob smaller than that (a speck of dust) does not drag
        the flow around it."""
        forward, backward = self.fields(a_u8, b_u8, median)
        return self._flow(forward, backward), self._flow(backward, forward)

    def fields(self, a_u8: np.ndarray, b_u8: np.ndarray, median: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The bare flow fields of `both_ways`, (h, w, 2) float32 each (a to b, b to a), without the
        forward-backward check: for a caller that only samples where pixels go."""
        forward = self._dis.calc(a_u8, b_u8, None)
        backward = self._dis.calc(b_u8, a_u8, None)
        if median:
            forward, backward = (
                cv2.merge([cv2.medianBlur(c, median) for c in cv2.split(f)]) for f in (forward, backward)
            )
        return forward, backward

    def _flow(self, forward: np.ndarray, backward: np.ndarray) -> Flow:
        h, w = forward.shape[:2]
        if self._grid is None or self._grid[0].shape != (h, w):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (xs, ys)
        xs, ys = self._grid
        map_x, map_y = xs + forward[..., 0], ys + forward[..., 1]
        back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return Flow(forward, map_x, map_y, forward + back, back)
