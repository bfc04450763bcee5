"""Grain reduction before the look, with the grain kept so the pipeline can put it back after.

The temporal part runs on a work-size copy (area-averaged to at most `FLOW_WIDTH` columns; the frame
itself when smaller): each neighbour (radius 1) is warped onto the frame by dense flow, and averaged
in where it agrees with the frame: the weight falls with the locally averaged difference (grain
averages out over a few pixels, a misaligned edge or an occlusion does not), measured against the
frame's own grain level. Where no neighbour agrees (fast motion, a cut's edge), a light
edge-preserving spatial filter stands in. Above the work size (720p and up), what the work-size copy
cannot hold gets a local gain instead: shrunk where it is as weak as grain, kept at edges (at 720p,
clumped film grain is mostly in the work size's band). The work-size change is brought up and added:
~4x cheaper than flow, warps and weights at full size, and sharper, since the full-size detail is not
resampled by a warp. The luma only: chroma is left as it is. The grain taken out, input minus result, goes into
`WorkFrame.grain` (added to any grain an earlier part took out), so the look is graded on a clean
picture and the film's own grain returns on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
# Above the work size, the band it cannot hold gets a local gain (see `_shrink`): the level it shrinks
# below in grain variances, the box its energy is measured over, and how much an edge in the cleaned
# work-size picture protects it. At 720p, 1.5 / 5 / 5 gain ~1.5 dB over the work size alone with edges
# within 4 % of the clean clip's; a level of 2.5 gains 0.4 dB more and loses 2 % more of the edges.
HIGH_SHRINK, HIGH_BOX, EDGE = 1.5, 3, 10.0


def grain_sigma(difference: np.ndarray) -> float:
    """The grain's standard deviation from the difference of a frame and an aligned neighbour (which
    holds two frames' grain): a median, so the pixels that moved do not inflate it."""
    return float(1.4826 * np.median(np.abs(difference[::4, ::4])) / np.sqrt(2.0))  # every 16th pixel is plenty


@dataclass
class _Memo:
    """What neighbouring windows reuse of a frame: its work-size copy and the flow from it to the next."""

    small: np.ndarray
    flow: np.ndarray | None = None  # work-size flow to the next frame, in work-size pixels


class Grain(Part):
    """Motion-compensated temporal grain reduction (see the module docstring)."""

    name = "grain"
    radius = 1
    summary_radius = 0

    def __init__(self) -> None:
        # DIS directly, one way, not kernels.flow.DISFlow: that always runs both ways (~28 ms a pair at
        # 640 px with "medium"), and the weights below catch what the forward-backward check would.
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)  # type: ignore[attr-defined]
        self._grid: np.ndarray | None = None  # (h, w, 2): each pixel's (x, y)

    def restore(self, window: Window) -> WorkFrame:
        frame = window.centre
        small = self._memo(window, 0).small
        warped = [w for w in (self._aligned(window, -1), self._aligned(window, 1)) if w is not None]
        if not warped:
            return frame
        change = _temporal(small, warped)
        y = frame.y
        if small.shape == y.shape:
            result = cv2.add(y, change)
        else:
            # The work size holds the low frequencies (and most of a film's clumped grain at 720p); what
            # it cannot hold, y less its work-size copy brought back up, is kept by a local gain: shrunk
            # where it is as weak as grain, kept where it is strong or the cleaned picture has an edge.
            size = (y.shape[1], y.shape[0])
            high = cv2.subtract(y, cv2.resize(small, size, interpolation=cv2.INTER_LINEAR))
            clean = cv2.add(small, change)
            gain = cv2.resize(_gain(high, clean), size, interpolation=cv2.INTER_LINEAR)
            result = cv2.add(cv2.resize(clean, size, interpolation=cv2.INTER_LINEAR), cv2.multiply(high, gain))
        taken = cv2.subtract(y, result)
        if frame.grain is not None:
            taken = cv2.add(frame.grain, taken)
        return replace(frame, y=result, grain=taken)

    def _memo(self, window: Window, offset: int) -> _Memo:
        frame = window.frame(offset)
        assert frame is not None
        memo = window.cache.get(frame.index)
        if memo is None:
            memo = window.cache[frame.index] = _Memo(_work_copy(frame.y))
        return memo

    def _aligned(self, window: Window, offset: int) -> np.ndarray | None:
        """The neighbour at `offset` (work size) warped onto the centre frame, or None outside the shot."""
        if window.frame(offset) is None:
            return None
        first = self._memo(window, min(offset, 0))
        second = self._memo(window, max(offset, 0))
        if first.flow is None:
            first.flow = self._dis.calc(_codes(first.small), _codes(second.small), None)
        # Flow from centre to next is direct; to the previous frame it is the previous-to-centre flow
        # reversed (the same pair, computed once), good where motion is smooth; the weights catch the rest.
        flow = first.flow if offset > 0 else np.negative(first.flow)
        neighbour = second.small if offset > 0 else first.small
        return self._warp(neighbour, flow)

    def _warp(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        h, w = image.shape
        if self._grid is None or self._grid.shape != (h, w, 2):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = np.dstack([xs, ys])
        return cv2.remap(image, cv2.add(self._grid, flow), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _temporal(y: np.ndarray, warped: list[np.ndarray]) -> np.ndarray:
    """What averaging the aligned neighbours in where they agree changes of `y` (work size): result - y."""
    differences = [cv2.subtract(w, y) for w in warped]
    sigma = max(grain_sigma(differences[0]), 1e-4)
    # The box mean of two frames' grain has this spread; full weight within ~2 of it, none at ~4.
    expected = np.sqrt(2.0) * sigma / BOX
    total = np.ones_like(y)
    change = np.zeros_like(y)
    for difference in differences:
        ratio = cv2.boxFilter(difference, -1, (BOX, BOX), borderType=cv2.BORDER_REFLECT) * np.float32(
            1 / (AGREE * expected)
        )
        squared = cv2.multiply(ratio, ratio)
        weight = 1.0 / (1.0 + cv2.multiply(squared, squared))
        total += weight
        change += cv2.multiply(weight, difference)
    change = cv2.divide(change, total)
    # Where the neighbours added less than one frame's worth, blend towards the spatial filter.
    alone = np.clip(2.0 - total, 0.0, 1.0)
    if cv2.minMaxLoc(alone)[1] > 0:
        spatial = cv2.subtract(cv2.bilateralFilter(y, 5, SPATIAL_RANGE * sigma, SPATIAL_SIGMA), y)
        change = cv2.add(change, cv2.multiply(alone, cv2.subtract(spatial, change)))
    return change


def _gain(high: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The gain (work size) for the band above the work size: 1 / (1 + (level / energy)^2), energy the
    band's local mean square plus `EDGE` times the squared slope of the cleaned work-size picture (an
    edge there keeps its fine detail here), level `HIGH_SHRINK` times the band's grain variance."""
    sigma = max(_sigma(high), 1e-4)
    level = float(HIGH_SHRINK * sigma * sigma)
    h, w = clean.shape
    energy = cv2.resize(cv2.multiply(high, high), (w, h), interpolation=cv2.INTER_AREA)
    energy = cv2.boxFilter(energy, -1, (HIGH_BOX, HIGH_BOX), borderType=cv2.BORDER_REFLECT)
    per_pixel = w / high.shape[1] / 8  # Sobel's gain is 8; slopes per full-size pixel
    gx = cv2.Sobel(clean, -1, 1, 0, scale=per_pixel)
    gy = cv2.Sobel(clean, -1, 0, 1, scale=per_pixel)
    energy = cv2.add(energy, cv2.add(cv2.multiply(gx, gx, scale=EDGE), cv2.multiply(gy, gy, scale=EDGE)))
    squared = cv2.multiply(energy, energy)
    return cv2.divide(squared, cv2.add(squared, level * level))


def _sigma(plane: np.ndarray) -> float:
    """A robust standard deviation of a zero-mean plane (a median: edges do not inflate it)."""
    return float(1.4826 * np.median(np.abs(plane[::4, ::4])))


def _work_copy(y: np.ndarray) -> np.ndarray:
    """The copy temporal averaging and flow run on: area-averaged to at most FLOW_WIDTH columns."""
    h, w = y.shape
    if w > FLOW_WIDTH:
        return cv2.resize(y, (FLOW_WIDTH, round(h * FLOW_WIDTH / w)), interpolation=cv2.INTER_AREA)
    return y


def _codes(small: np.ndarray) -> np.ndarray:
    """The 8-bit copy flow runs on."""
    return np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8)


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
