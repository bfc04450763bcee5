"""Image quality metrics shared by the evaluations (style imitation, colorization) and style learning.

All act on float pictures in [0, 1] (peak 1): the PSNR of values on an 8-bit scale with peak 255 is
the same number.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["finite_or_none", "psnr", "psnr_from_mse", "ssim"]


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for a mean squared error of values in [0, 1]; inf for a zero error."""
    return float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR in dB of two pictures in [0, 1], capped at 120 dB (so identical pictures average finitely)."""
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(ref, np.float64)) ** 2))
    return psnr_from_mse(max(mse, 1e-12))


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Gaussian-window SSIM (σ = 1.5, data range 1) of two gray images in [0, 1]."""
    x = np.asarray(pred, np.float64)
    y = np.asarray(ref, np.float64)
    c1, c2 = 0.01**2, 0.03**2
    blur = lambda a: cv2.GaussianBlur(a, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def finite_or_none(value):
    """`value` (a number, or dicts and lists of them) with None for every NaN and infinity, for a
    report's JSON, which has neither: a ratio over a film that does not move is inf, a PSNR of
    identical frames is inf, a measure that was not taken is nan."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
