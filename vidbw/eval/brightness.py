"""The brightness flicker index: frame-to-frame pumping of a film's mean luma, in 8-bit codes.

For each shot (frames from 0 or a cut up to the next cut), take the mean luma of every frame in
8-bit codes, m_t = 255 · mean(y_t). Its slow trend is the running median of 9 frames, T_t =
median(m_{t-4} … m_{t+4}) over the frames of the shot inside that span (fewer at the shot's ends): a
running median follows fades and keeps steps (a light switched on), so only fast changes are left in
the residual r_t = m_t - T_t. The index is the root mean square of r_t over all frames of all shots
of three frames or more; 0 for a steady film. A fade or a pan barely raises it; frame-to-frame
pumping does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["TREND_FRAMES", "brightness_flicker_index", "mean_luma_residuals"]

# Frames of the running median that stands for a shot's slow brightness trend.
TREND_FRAMES = 9


def _shots(count: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """(start, stop) of every shot of a film of `count` frames cut at `cuts` (first frames of shots)."""
    bounds = sorted({0, count, *(int(c) for c in cuts if 0 < int(c) < count)})
    return list(zip(bounds[:-1], bounds[1:]))


def mean_luma_residuals(lumas: Iterable[np.ndarray], cuts: Iterable[int] = ()) -> np.ndarray:
    """m_t - T_t (8-bit codes) for every frame of every shot of three frames or more (see the module doc)."""
    means = np.array([255.0 * float(np.mean(y, dtype=np.float64)) for y in lumas])
    half = TREND_FRAMES // 2
    residuals = []
    for start, stop in _shots(len(means), cuts):
        if stop - start < 3:
            continue
        shot = means[start:stop]
        trend = np.array([np.median(shot[max(0, t - half) : t + half + 1]) for t in range(len(shot))])
        residuals.append(shot - trend)
    return np.concatenate(residuals) if residuals else np.zeros(0)


def brightness_flicker_index(lumas: Iterable[np.ndarray], cuts: Iterable[int] = ()) -> float:
    """The brightness flicker index of luma frames (float in [0, 1]), in 8-bit codes (module doc);
    0.0 when no shot has three frames."""
    residuals = mean_luma_residuals(lumas, cuts)
    return float(np.sqrt(np.mean(residuals**2))) if residuals.size else 0.0
