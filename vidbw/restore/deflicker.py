"""Deflicker: brightness flicker taken out of the luma's low frequencies.

Archive flicker is a fast, spatially smooth change of exposure: the whole frame, or a band or a
corner of it, is a little brighter or darker than its neighbours for one frame. Real changes are
either slow (a fade, a cloud) or persistent (a light switched on, a subject that walks in and
stays). So, on a coarse grid of cells (GRID_ROWS rows, columns by the aspect):

1. `summarise` keeps the log of a small thumbnail of the luma, its samples grouped by cell.
2. The exposure step between consecutive frames is, per cell, the median log-ratio of the cell's
   samples: a moving subject changes a minority of them and is ignored; a cell it mostly covers
   (its samples disagree) takes the median step of the trusted cells. Steps are chained into each
   neighbour's log exposure relative to the centre frame, within the shot.
3. The centre frame's exposure is predicted from its neighbours alone by three straight-line fits:
   both sides, past only, future only, blended by their expected prediction error (the centred one
   preferred). A fade follows the centred line, a step (a light switched on) the side that does not
   cross it. The lines are fitted to the exposure itself, not its log: a fade is a straight line in
   light, and its log bends away from any line as it nears black. The flicker is the prediction's
   difference from the frame's own exposure.
4. The per-cell log-gains go through a cross-shaped median over the grid (flicker is smooth; a cell
   that disagrees with its neighbours holds motion) and a dead zone (non-negative garrote): small
   corrections become exactly zero, so footage without flicker passes through bit for bit.
5. The gain grid is interpolated smoothly to full size and multiplies the luma: detail is untouched,
   only the low frequencies of exposure change. Chroma is not touched.

Flicker is modelled as a gain (exposure); a change of contrast about mid-gray is corrected only as
far as a gain per cell can follow it. The part reads only summaries (`radius` 0), so the stream
keeps a single full frame for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Deflicker", "DeflickerSummary", "DEAD_ZONE", "GRID_ROWS", "TEMPORAL_RADIUS"]

# Rows of the coarse grid; columns follow the picture's aspect. Six rows resolve a band or a corner
# of uneven exposure and keep each cell large enough for a stable median.
GRID_ROWS = 6
# Thumbnail samples per cell side.
CELL_SAMPLES = 8
# Frames on each side that predict the centre frame's exposure: long enough to average flicker out,
# short enough that a fade is still close to a straight line over it.
TEMPORAL_RADIUS = 10
# Added to the luma above black before its log, so near-black samples (area averages: their noise is a
# fraction of a code) do not dominate the ratios. Little more than one 8-bit code: a larger floor
# damps the steps it measures on dark footage (a floor of 0.03 left a quarter of its flicker).
LOG_FLOOR = 0.005
# A cell's step is trusted when this share of its samples change by the step within the tolerance (log).
AGREEMENT = 0.5
AGREEMENT_TOLERANCE = 0.03
# Log-gain corrections smaller than this (1.2 %, 1.5 codes at mid-gray) are not applied: the prediction
# on clean footage wanders by about this much (camera moves, subjects, noise).
DEAD_ZONE = 0.012
# The fewest frames a line fit may rest on.
MIN_FIT_FRAMES = 3
# The short one-sided fits, for the frames just past a kink (the start or end of a fade).
NEAR_FRAMES = 4
DEVIATION_WEIGHT = 0.25
# The centred fit's expected error is divided by this before weighting: a one-sided line extrapolates
# and is noisier, so it should take over only where the centred one clearly fails (a step).
CENTRE_PREFERENCE = 8.0


@dataclass(frozen=True)
class DeflickerSummary:
    """A frame's exposure as the log of a thumbnail of its luma, cell by cell: (rows, cols, samples)."""

    log_cells: np.ndarray


def _grid_shape(shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    rows = min(GRID_ROWS, h)
    return rows, max(1, min(w, round(rows * w / h)))


def log_cells(y: np.ndarray, black: float = 0.0) -> np.ndarray:
    """The log of a thumbnail of the luma above black, its samples grouped by grid cell:
    (rows, cols, CELL_SAMPLES²)."""
    rows, cols = _grid_shape(y.shape)
    # Every few pixels first: area averaging by a non-integer factor is what costs time at full size.
    step = max(1, y.shape[0] // (rows * CELL_SAMPLES * 4))
    thumb = cv2.resize(y[::step, ::step], (cols * CELL_SAMPLES, rows * CELL_SAMPLES), interpolation=cv2.INTER_AREA)
    cells = thumb.reshape(rows, CELL_SAMPLES, cols, CELL_SAMPLES).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    return np.log(np.maximum(cells - np.float32(black), 0) + LOG_FLOOR)


def exposure_step(before: DeflickerSummary, after: DeflickerSummary) -> np.ndarray:
    """Per cell, the log-gain from one frame to the next: the median over the cell's samples of their
    log-ratio. A subject that moves changes a minority of the samples and does not move the median;
    where it covers most of a cell (too few samples agree with the median, see AGREEMENT), the cell
    takes the median step of the cells that can be trusted: flicker is smooth, motion is not."""
    ratios = after.log_cells - before.log_cells
    steps = np.median(ratios, axis=-1)
    trusted = np.mean(np.abs(ratios - steps[..., None]) < AGREEMENT_TOLERANCE, axis=-1) >= AGREEMENT
    if trusted.all():
        return steps
    fallback = np.median(steps[trusted]) if trusted.any() else np.median(steps)
    return np.where(trusted, steps, fallback)


def predict_from_neighbours(offsets: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """The value at offset 0 predicted from neighbours at `offsets` (k != 0), per statistic, where the
    frame's own value is 0 (values are relative to it).

    `values` is (len(offsets), rows, cols, stats). Least-squares lines are fitted over all
    neighbours, the past only, the future only, and the nearest NEAR_FRAMES on either side; their
    predictions at 0 are blended with weights 1 / error², where error is the line's residual
    variance times (1 + the leverage of offset 0) plus the squared distance of its prediction from
    the frame's own value. Flicker moves the frame away from every line alike; a step or the start
    of a fade leaves the frame on the lines that do not cross it, and those win. Residuals are
    pooled over a cell's statistics. None when no fit has enough frames.
    """
    sides = [
        offsets != 0,
        offsets < 0,
        offsets > 0,
        (offsets < 0) & (offsets >= -NEAR_FRAMES),
        (offsets > 0) & (offsets <= NEAR_FRAMES),
    ]
    predictions, weights = [], []
    for number, side in enumerate(sides):
        n = int(side.sum())
        if n < MIN_FIT_FRAMES:
            continue
        k = offsets[side].astype(np.float64)
        v = values[side]
        s1, s2 = k.sum(), (k * k).sum()
        det = n * s2 - s1 * s1
        sy = v.sum(axis=0)
        sky = np.tensordot(k, v, axes=1)
        slope = (n * sky - s1 * sy) / det
        intercept = (sy - slope * s1) / n
        residual = v - (intercept + slope * k[:, None, None, None])
        variance = (residual**2).sum(axis=(0, -1)) / max(n - 2, 1) / values.shape[-1]
        expected = variance * (1 + s2 / det) + 1e-10
        if number == 0:  # the centred line: preferred, and flicker moves the frame off it, so no distance term
            error = expected / CENTRE_PREFERENCE
        else:
            error = expected + DEVIATION_WEIGHT * (intercept**2).mean(axis=-1)
        predictions.append(intercept)
        weights.append((1 / error**2)[..., None])
    if not predictions:
        return None
    total = sum(weights)
    return sum(p * w for p, w in zip(predictions, weights)) / total


def cross_median(field: np.ndarray) -> np.ndarray:
    """Each grid cell replaced by the median of itself and its four neighbours (edges replicated),
    per statistic: keeps bands and corners, drops what one cell alone says."""
    padded = np.pad(field, ((1, 1), (1, 1), (0, 0)), mode="edge")
    stack = np.stack(
        [padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]], axis=0
    )
    return np.median(stack, axis=0)


def garrote(values: np.ndarray, threshold: float) -> np.ndarray:
    """Non-negative garrote shrinkage: 0 where |v| <= threshold, else v - threshold² / v (continuous,
    nearly v for large values)."""
    safe = np.where(values == 0, 1.0, values)
    return np.where(np.abs(values) > threshold, values - threshold * threshold / safe, 0.0)


def _smooth_upsample(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarse grid interpolated smoothly to `shape`: bicubic to a quarter of the size, bilinear from
    there (bicubic at full size costs several times more and looks the same on so smooth a field)."""
    h, w = shape
    quarter = cv2.resize(grid, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(quarter, (w, h), interpolation=cv2.INTER_LINEAR)


class Deflicker(Part):
    """Removes global and regional brightness/contrast flicker from the luma (see the module doc)."""

    name = "deflicker"
    radius = 0
    summary_radius = TEMPORAL_RADIUS

    def summarise(self, frame: WorkFrame) -> DeflickerSummary:
        return DeflickerSummary(log_cells(frame.y, frame.black))

    def restore(self, window: Window) -> WorkFrame:
        frame = window.centre
        levels = self._exposure_levels(window)
        if len(levels) < 2:
            return frame
        offsets = np.array([k for k in levels if k])
        # Each neighbour's exposure relative to this frame's, less one (0 for this frame itself).
        exposures = np.expm1(np.stack([levels[k] for k in offsets]))[..., None]
        predicted = predict_from_neighbours(offsets, exposures)
        if predicted is None:
            return frame
        # A line extrapolated past black predicts no light at all: held at a thousandth of this frame's.
        correction = garrote(np.log(np.maximum(1.0 + cross_median(predicted)[..., 0], 1e-3)), DEAD_ZONE)
        if not correction.any():
            return frame
        gain = np.exp(correction).astype(np.float32)
        field = _smooth_upsample(gain, frame.y.shape)
        # A change of exposure scales the light above black. Into the field's own memory: a fresh
        # full-size output would cost more in page faults than the product.
        black = np.float32(frame.black)
        lit = cv2.multiply(frame.y - black if black else frame.y, field, dst=field)
        if black:
            np.add(lit, black, out=lit)
        return frame.with_planes(y=lit)

    def _exposure_levels(self, window: Window) -> dict[int, np.ndarray]:
        """Each frame's log exposure per cell relative to the centre frame's, offset -> (rows, cols),
        chained through consecutive frames of the shot (each step memoised by its later frame)."""
        index = window.centre.index
        levels = {0: np.zeros(window.summary(0).log_cells.shape[:2])}
        for direction in (1, -1):
            level = levels[0]
            k = direction
            while abs(k) <= self.summary_radius and window.summary(k) is not None:
                later = max(k, k - direction)  # the pair's later frame, by offset
                key = index + later
                if key not in window.cache:
                    window.cache[key] = exposure_step(window.summary(later - 1), window.summary(later))
                level = level + direction * window.cache[key]
                levels[k] = level
                k += direction
        return levels
