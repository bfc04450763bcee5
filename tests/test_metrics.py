"""`vidbw.metrics`: SSIM against values worked out here, not taken from the code's own output."""

from __future__ import annotations

import numpy as np
import pytest

from vidbw.metrics import ssim

C1, C2 = 0.01**2, 0.03**2  # Wang et al. 2004: (K1 L)^2, (K2 L)^2 with K1 = 0.01, K2 = 0.03, data range L = 1


def reference_ssim(x: np.ndarray, y: np.ndarray, radius: int = 5, sigma: float = 1.5) -> float:
    """SSIM as Wang et al. 2004 define it, one window at a time: an 11x11 Gaussian window (σ = 1.5)
    weights each pixel's neighbourhood, local means, variances and covariance are weighted sums of
    the centred values, and the index is the mean of the per-pixel SSIM map. Neighbours beyond the
    edge mirror the picture without repeating the edge pixel (OpenCV's default border, numpy's
    'reflect'), so the map covers every pixel."""
    offsets = np.arange(-radius, radius + 1)
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    w = g / g.sum()
    xp = np.pad(x.astype(np.float64), radius, mode="reflect")
    yp = np.pad(y.astype(np.float64), radius, mode="reflect")
    h, wd = x.shape
    ssim_map = np.empty((h, wd))
    for i in range(h):
        for j in range(wd):
            a = xp[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            b = yp[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            mx, my = (w * a).sum(), (w * b).sum()
            vx, vy = (w * (a - mx) ** 2).sum(), (w * (b - my) ** 2).sum()
            cov = (w * (a - mx) * (b - my)).sum()
            ssim_map[i, j] = ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    return float(ssim_map.mean())


def test_ssim_of_two_flat_grays_is_its_luminance_term():
    # No structure in either picture: variances and covariance vanish, the contrast-structure term is
    # C2 / C2 = 1, and SSIM is the luminance term alone, 1 - d^2 / (a^2 + (a + d)^2 + C1).
    a, d = 0.5, 0.1
    x, y = np.full((24, 32), a), np.full((24, 32), a + d)
    expected = (2 * a * (a + d) + C1) / (a**2 + (a + d) ** 2 + C1)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)
    assert ssim(x, x) == pytest.approx(1.0, rel=1e-12)


def test_ssim_matches_a_direct_implementation_of_the_definition():
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:20, :26]
    x = np.clip(0.3 + 0.4 * (xx / 25) + 0.1 * np.sin(yy / 2.0) + rng.normal(0, 0.05, xx.shape), 0, 1)
    y = np.clip(0.9 * x + 0.05 + rng.normal(0, 0.03, x.shape), 0, 1)  # a darker, noisier copy
    expected = reference_ssim(x, y)
    assert 0.3 < expected < 0.95  # a pair that exercises every term, far from both ends
    # rel=1e-9: the two compute the same sums in another order (OpenCV's separable blur), nothing more
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)
    assert ssim(y, x) == pytest.approx(expected, rel=1e-9)  # symmetric
