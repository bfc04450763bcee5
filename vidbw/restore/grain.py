"""Grain reduction before the look, with the grain kept so the pipeline can put it back after.

Each neighbour (radius 1) is warped onto the frame by dense flow, and averaged in where it agrees
with the frame: the weight falls with the locally averaged difference (grain averages out over a
few pixels, a misaligned edge or an occlusion does not), measured against the frame's own grain
level. Where no neighbour agrees (fast motion, a cut's edge), a light edge-preserving spatial filter
stands in. The luma only: chroma is left as it is. The grain taken out, input minus result, goes into
`WorkFrame.grain` (added to any grain an earlier part took out), so the look is graded on a clean
picture and the film's own grain returns on top of it.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Grain", "grain_sigma", "synthetic_grain"]

# Flow runs on a copy at most this wide: grain-free enough after area averaging, and ~4x cheaper.
FLOW_WIDTH = 640
# A neighbour's weight is 1 / (1 + (d / (AGREE * expected))^4), with d the local mean difference and
# `expected` what grain alone leaves in it.
AGREE = 3.0
# The local mean difference averages over this box (pixels): grain cancels, structure does not.
BOX = 5
# Where no neighbour helps, a bilateral filter: its range in grain sigmas, its reach in pixels.
SPATIAL_RANGE, SPATIAL_SIGMA = 2.0, 1.5


def grain_sigma(difference: np.ndarray) -> float:
    """The grain's standard deviation from the difference of a frame and an aligned neighbour (which
    holds two frames' grain): a median, so the pixels that moved do not inflate it."""
    return float(1.4826 * np.median(np.abs(difference[::4, ::4])) / np.sqrt(2.0))  # every 16th pixel is plenty


class Grain(Part):
    """Motion-compensated temporal grain reduction (see the module docstring)."""

    name = "grain"
    radius = 1
    summary_radius = 0

    def __init__(self) -> None:
        # DIS "fast" directly, not kernels.flow.DISFlow: that runs "medium" both ways (~28 ms a pair at
        # 640 px), and the weights below catch what the forward-backward check would.
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)  # type: ignore[attr-defined]
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def restore(self, window: Window) -> WorkFrame:
        frame = window.centre
        warped = [w for w in (self._aligned(window, -1), self._aligned(window, 1)) if w is not None]
        if not warped:
            return frame
        y = frame.y
        differences = [cv2.subtract(w, y) for w in warped]
        sigma = max(grain_sigma(differences[0]), 1e-4)
        # The box mean of two frames' grain has this spread; full weight within ~2 of it, none at ~4.
        expected = np.sqrt(2.0) * sigma / BOX
        total = np.ones_like(y)
        weighted = y.copy()
        for neighbour, difference in zip(warped, differences):
            ratio = cv2.boxFilter(difference, -1, (BOX, BOX), borderType=cv2.BORDER_REFLECT) * np.float32(
                1 / (AGREE * expected)
            )
            squared = cv2.multiply(ratio, ratio)
            weight = 1.0 / (1.0 + cv2.multiply(squared, squared))
            total += weight
            weighted += cv2.multiply(weight, neighbour)
        result = cv2.divide(weighted, total)
        # Where the neighbours added less than one frame's worth, blend towards the spatial filter.
        alone = np.clip(2.0 - total, 0.0, 1.0)
        if cv2.minMaxLoc(alone)[1] > 0:
            spatial = cv2.bilateralFilter(y, 5, SPATIAL_RANGE * sigma, SPATIAL_SIGMA)
            result = cv2.add(result, cv2.multiply(alone, cv2.subtract(spatial, result)))
        taken = cv2.subtract(y, result)
        grain = taken if frame.grain is None else frame.grain + taken
        return replace(frame, y=result, grain=grain)

    def _aligned(self, window: Window, offset: int) -> np.ndarray | None:
        """The neighbour at `offset` warped onto the centre frame, or None outside the shot."""
        neighbour = window.frame(offset)
        if neighbour is None:
            return None
        first = window.centre.index if offset > 0 else neighbour.index
        flow = self._flow(window, first, offset)
        # Flow from centre to next is direct; to the previous frame it is the previous-to-centre flow
        # reversed (the same pair, computed once), good where motion is smooth; the weights catch the rest.
        if offset < 0:
            flow = -flow
        return self._warp(neighbour.y, flow)

    def _flow(self, window: Window, first: int, offset: int) -> np.ndarray:
        """Full-size flow from frame `first` to `first + 1`, memoised by `first`."""
        flow = window.cache.get(first)
        if flow is None:
            pair = (window.frame(0), window.frame(offset))
            a, b = pair if offset > 0 else pair[::-1]
            assert a is not None and b is not None
            small = self._dis.calc(_flow_image(a.y), _flow_image(b.y), None)
            h, w = a.y.shape
            scale = np.array([w / small.shape[1], h / small.shape[0]], np.float32)
            flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * scale
            window.cache[first] = flow
        return flow

    def _warp(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        h, w = image.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (xs, ys)
        xs, ys = self._grid
        return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _flow_image(y: np.ndarray) -> np.ndarray:
    """The 8-bit copy flow runs on: area-averaged to at most FLOW_WIDTH columns."""
    h, w = y.shape
    if w > FLOW_WIDTH:
        y = cv2.resize(y, (FLOW_WIDTH, round(h * FLOW_WIDTH / w)), interpolation=cv2.INTER_AREA)
    return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)


def synthetic_grain(y: np.ndarray, seed: int, index: int, strength: float = 0.04) -> np.ndarray:
    """Film-like grain to add to a clean luma frame, for measuring: Gaussian, clumped over about a pixel
    at 720p, strongest in the mid-tones (`strength` std at mid-gray, a third of it at black and white),
    drawn from the seed and the frame's index alone."""
    rng = np.random.default_rng([seed, index])
    noise = rng.standard_normal(y.shape, dtype=np.float32)
    clump = 0.7 * y.shape[0] / 720
    if clump > 0.3:
        blurred = cv2.GaussianBlur(noise, (0, 0), clump)
        noise = blurred / blurred.std()
    level = np.clip(y, 0.0, 1.0)
    return (strength * (1 / 3 + 4 / 3 * np.sqrt(level * (1 - level))) * noise).astype(np.float32)
