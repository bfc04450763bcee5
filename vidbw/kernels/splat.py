"""Splatting onto a bilateral grid: the adjoint of slicing, for fitting grids by least squares.

A pixel at (x, y) with luma L touches the 8 grid entries around (x, y, L) with the same
trilinear weights that slicing reads them with (cell-centred, clamped edges, luma bin
L·D − 0.5), so sums splatted here are exactly the normal equations of "find the grid whose
slice matches this". Two fits use it: the colour grids of colorization (`kernels.chroma`) and
the grid correction a learned style's pixel model asks for (`models.pixel_look`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .colour import REC709_LUMA

__all__ = ["cell_position", "bin_position", "trilinear_corner", "splat_normal_equations"]

_KR, _KG, _KB = REC709_LUMA


@njit(inline="always")
def cell_position(index, length, cells):
    """Pixel `index` of `length` on a `cells`-cell axis: (left cell, right cell, right weight)."""
    g = min(max((index + 0.5) / length * cells - 0.5, 0.0), cells - 1.0)
    low = int(g)
    return low, min(low + 1, cells - 1), g - low


@njit(inline="always")
def bin_position(luma, depth):
    """Luma on a `depth`-bin axis: (lower bin, upper bin, upper weight)."""
    g = min(max(luma * depth - 0.5, 0.0), depth - 1.0)
    low = int(g)
    return low, min(low + 1, depth - 1), g - low


@njit(inline="always")
def trilinear_corner(k, z0, z1, fz, y0, y1, fy, x0, x1, fx):
    """Corner `k` (0..7) of a pixel's trilinear cell: (bin, y cell, x cell, weight)."""
    share = (fz if k & 4 else 1.0 - fz) * (fy if k & 2 else 1.0 - fy) * (fx if k & 1 else 1.0 - fx)
    return (z1 if k & 4 else z0), (y1 if k & 2 else y0), (x1 if k & 1 else x0), share


@njit(fastmath=True, cache=True, nogil=True)
def splat_normal_equations(rgb, target, depth, grid_h, grid_w):
    """Per (luma bin, y cell, x cell): the trilinear-weighted sums AᵀA (4×4) and Aᵀt (4) of the
    least-squares problem t ≈ wR·R + wG·G + wB·B + c. One pass over the pixels, no temporaries."""
    height, width = target.shape
    normal = np.zeros((depth, grid_h, grid_w, 4, 4), np.float64)
    moment = np.zeros((depth, grid_h, grid_w, 4), np.float64)
    row = np.empty(4, np.float64)
    for y in range(height):
        y0, y1, fy = cell_position(y, height, grid_h)
        for x in range(width):
            x0, x1, fx = cell_position(x, width, grid_w)
            row[0] = rgb[y, x, 0]
            row[1] = rgb[y, x, 1]
            row[2] = rgb[y, x, 2]
            row[3] = 1.0
            z0, z1, fz = bin_position(_KR * row[0] + _KG * row[1] + _KB * row[2], depth)
            t = target[y, x]
            for k in range(8):
                zi, yi, xi, share = trilinear_corner(k, z0, z1, fz, y0, y1, fy, x0, x1, fx)
                for i in range(4):
                    weighted = share * row[i]
                    moment[zi, yi, xi, i] += weighted * t
                    for j in range(i, 4):
                        normal[zi, yi, xi, i, j] += weighted * row[j]
    for i in range(4):  # only the upper triangle was summed
        for j in range(i):
            normal[:, :, :, i, j] = normal[:, :, :, j, i]
    return normal, moment
