"""Colour grids: per-pixel affine maps from luma to chroma, sliced against the picture's own luma.

A colour grid has shape (4, D, Gh, Gw) and holds, per (luma bin, y cell, x cell), the
coefficients ``(a_cb, b_cb, a_cr, b_cr)`` of

    Cb = a_cb · L + b_cb,    Cr = a_cr · L + b_cr

where L is the luma in [0, 1] and Cb, Cr are BT.709 Y'CbCr chroma in [-0.5, 0.5]. The rendered chroma is
gamut-safe: where (L, Cb, Cr) would leave the R'G'B' cube it is shrunk toward neutral, never the
luma. Sampling follows the B&W
kernel exactly (:mod:`vidbw.kernels.slicing`): cell-centred, clamped at the edges, trilinear over
(x, y, L), i.e. torch ``grid_sample(bilinear, border, align_corners=False)``. Luma is never
touched: colorization only writes chroma planes, so the output's luma is the input's luma.

Three pieces with one set of semantics:

* :func:`slice_chroma` — numba, CPU: reads a luma plane of any bit depth, writes the two chroma
  planes (any subsampling) in place.
* :func:`slice_chroma_torch` — torch, differentiable: what the colorizer trains through, and the
  CUDA render path.
* :func:`fit_color_grid` — the least-squares grid that best explains a low-resolution chroma
  estimate from its luma (how reference colours become a grid).

Two helpers on the same grid geometry: :func:`sample_grid_torch`, the trilinear read the torch
slice is built on, for grids of plain values; :func:`splat_chroma`, a picture's colours binned by
position and luma (reference mode looks a key frame's colours up by luma in it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .splat import bin_position, cell_position, trilinear_corner

__all__ = [
    "slice_chroma",
    "slice_chroma_torch",
    "sample_grid_torch",
    "splat_chroma",
    "fit_color_grid",
    "neutral_color_grid",
    "COLOR_CHANNELS",
]

COLOR_CHANNELS = 4  # a_cb, b_cb, a_cr, b_cr


def neutral_color_grid(depth: int = 8, grid_h: int = 16, grid_w: int = 16) -> np.ndarray:
    """The grid that colours nothing: Cb = Cr = 0 everywhere."""
    return np.zeros((COLOR_CHANNELS, depth, grid_h, grid_w), np.float32)


# --------------------------------------------------------------------------- numba


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _slice_chroma_kernel(
    luma, grid, luma_offset, luma_scale, out_cb, out_cr, chroma_mid, chroma_scale, chroma_lo, chroma_hi, sub_x, sub_y
):
    height, width = luma.shape
    c_height, c_width = out_cb.shape
    _, depth, grid_h, grid_w = grid.shape
    f32 = np.float32
    inv_scale = f32(1.0 / luma_scale)
    off = f32(luma_offset)
    fx_max = f32(grid_w - 1)
    fy_max = f32(grid_h - 1)
    fz_max = f32(depth - 1)
    depth_f = f32(depth)
    mid = f32(chroma_mid)
    c_scale = f32(chroma_scale)
    lo = f32(chroma_lo)
    hi = f32(chroma_hi)
    step_x = 1 << sub_x
    step_y = 1 << sub_y
    for cy in prange(c_height):
        # The chroma sample covers luma rows [y0, y0 + step_y): its guide is their mean luma.
        y0 = cy * step_y
        y1 = min(y0 + step_y, height)
        gy = min(max(f32((cy + 0.5) / c_height * grid_h - 0.5), f32(0.0)), fy_max)
        iy0 = int(gy)
        iy1 = min(iy0 + 1, grid_h - 1)
        wy = gy - f32(iy0)
        for cx in range(c_width):
            x0 = cx * step_x
            x1 = min(x0 + step_x, width)
            total = f32(0.0)
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    total += f32(luma[yy, xx])
            level = (total / f32((y1 - y0) * (x1 - x0)) - off) * inv_scale
            level = min(max(level, f32(0.0)), f32(1.0))
            gx = min(max(f32((cx + 0.5) / c_width * grid_w - 0.5), f32(0.0)), fx_max)
            gz = min(max(level * depth_f - f32(0.5), f32(0.0)), fz_max)
            ix0 = int(gx)
            ix1 = min(ix0 + 1, grid_w - 1)
            iz0 = int(gz)
            iz1 = min(iz0 + 1, depth - 1)
            wx = gx - f32(ix0)
            wz = gz - f32(iz0)
            acc0 = f32(0.0)
            acc1 = f32(0.0)
            acc2 = f32(0.0)
            acc3 = f32(0.0)
            for corner in range(8):
                iz = iz1 if corner & 4 else iz0
                iy = iy1 if corner & 2 else iy0
                ix = ix1 if corner & 1 else ix0
                w = (
                    (wz if corner & 4 else f32(1.0) - wz)
                    * (wy if corner & 2 else f32(1.0) - wy)
                    * (wx if corner & 1 else f32(1.0) - wx)
                )
                acc0 += w * grid[0, iz, iy, ix]
                acc1 += w * grid[1, iz, iy, ix]
                acc2 += w * grid[2, iz, iy, ix]
                acc3 += w * grid[3, iz, iy, ix]
            cb = acc0 * level + acc1
            cr = acc2 * level + acc3
            # Gamut-safe: shrink the chroma toward neutral just enough that R'G'B' stays in [0, 1], so
            # no decoder clips a channel (which would change the luma we promise to keep) and black
            # bars and clipped highlights stay neutral.
            keep = f32(1.0)
            for step in (f32(1.5748) * cr, f32(-0.1873) * cb - f32(0.4681) * cr, f32(1.8556) * cb):
                if step > f32(1e-6):
                    keep = min(keep, (f32(1.0) - level) / step)
                elif step < f32(-1e-6):
                    keep = min(keep, level / -step)
            cb = mid + c_scale * (cb * keep)
            cr = mid + c_scale * (cr * keep)
            out_cb[cy, cx] = min(max(cb, lo), hi) + f32(0.5)
            out_cr[cy, cx] = min(max(cr, lo), hi) + f32(0.5)


def _subsampling_shift(full: int, sub: int) -> int:
    if sub == full:
        return 0
    if sub == (full + 1) // 2:
        return 1
    raise ValueError(f"chroma plane size {sub} does not match luma size {full} (expected {full} or {(full + 1) // 2})")


def slice_chroma(
    luma: np.ndarray, grid: np.ndarray, out_cb: np.ndarray, out_cr: np.ndarray, bit_depth: int, full_range: bool
) -> None:
    """Write Cb and Cr code values for `luma` (a 2-D plane of codes) from a colour grid, in place.

    The chroma planes may be subsampled (4:2:0, 4:2:2) or full size; each chroma sample is guided
    by the mean luma of the pixels it covers. Codes follow the output's range: limited range
    puts chroma in 16..240 (× 2^(bits-8)), full range in 0..2^bits-1, both centred at 2^(bits-1).
    """
    grid = np.ascontiguousarray(grid, dtype=np.float32)
    if grid.ndim != 4 or grid.shape[0] != COLOR_CHANNELS:
        raise ValueError(f"colour grid must be (4, D, Gh, Gw), got {grid.shape}")
    if out_cb.shape != out_cr.shape:
        raise ValueError("Cb and Cr planes differ in size")
    sub_y = _subsampling_shift(luma.shape[0], out_cb.shape[0])
    sub_x = _subsampling_shift(luma.shape[1], out_cb.shape[1])
    luma_offset, luma_scale, mid, c_scale, lo, hi = _codes(bit_depth, full_range)
    _slice_chroma_kernel(luma, grid, luma_offset, luma_scale, out_cb, out_cr, mid, c_scale, lo, hi, sub_x, sub_y)


def _codes(bit_depth: int, full_range: bool) -> tuple[float, float, float, float, float, float]:
    """(luma offset, luma scale, chroma mid, chroma scale, chroma lo, chroma hi) for a coding."""
    unit = float(1 << (bit_depth - 8))
    top = float((1 << bit_depth) - 1)
    mid = float(1 << (bit_depth - 1))
    if full_range:
        return 0.0, top, mid, top, 0.0, top
    return 16.0 * unit, 219.0 * unit, mid, 224.0 * unit, 16.0 * unit, 240.0 * unit


def luma_level(luma: np.ndarray, bit_depth: int, full_range: bool) -> np.ndarray:
    """Luma codes → float32 L in [0, 1] (the guide the grid is indexed by)."""
    offset, scale = _codes(bit_depth, full_range)[:2]
    return np.clip((luma.astype(np.float32) - offset) / scale, 0.0, 1.0)


def chroma_values(codes: np.ndarray, bit_depth: int, full_range: bool) -> np.ndarray:
    """Chroma codes → float32 Cb or Cr in [-0.5, 0.5]."""
    _, _, mid, scale, _, _ = _codes(bit_depth, full_range)
    return (codes.astype(np.float32) - mid) / scale


# --------------------------------------------------------------------------- torch twin


def sample_grid_torch(grid, level):
    """grid (N, C, D, Gh, Gw) of values, level (N, 1, h, w) luma in [0, 1] -> (N, C, h, w): each
    pixel's trilinear sample at (x, y, its luma), with the slicing kernels' semantics (cell-centred,
    clamped edges: ``grid_sample(bilinear, border, align_corners=False)``)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = level.shape
    xs = (torch.arange(w, device=level.device, dtype=level.dtype) + 0.5) / w * 2 - 1
    ys = (torch.arange(h, device=level.device, dtype=level.dtype) + 0.5) / h * 2 - 1
    coords = torch.stack(
        [xs.view(1, 1, w).expand(n, h, w), ys.view(1, h, 1).expand(n, h, w), level[:, 0] * 2 - 1], dim=-1
    )
    return F.grid_sample(grid, coords[:, None], mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]


def slice_chroma_torch(level, grid, gamut_safe: bool = True):
    """level (N, 1, h, w) luma in [0, 1], grid (N, 4, D, Gh, Gw) -> chroma (N, 2, h, w) in Cb, Cr units.

    Differentiable in the grid; same sampling and gamut safety as :func:`slice_chroma` (training may
    switch the gamut step off so that out-of-gamut predictions still get a gradient).
    """
    import torch

    coeffs = sample_grid_torch(grid, level)  # (N, 4, h, w)
    lum = level[:, 0]
    cb = coeffs[:, 0] * lum + coeffs[:, 1]
    cr = coeffs[:, 2] * lum + coeffs[:, 3]
    if not gamut_safe:
        return torch.stack([cb, cr], 1)
    keep = torch.ones_like(lum)
    for step in (1.5748 * cr, -0.1873 * cb - 0.4681 * cr, 1.8556 * cb):
        up = torch.where(step > 1e-6, (1 - lum) / step.clamp(min=1e-6), keep)
        down = torch.where(step < -1e-6, lum / (-step).clamp(min=1e-6), keep)
        keep = torch.minimum(keep, torch.minimum(up, down))
    return torch.stack([cb * keep, cr * keep], 1)


# --------------------------------------------------------------------------- fitting


@njit(fastmath=True, cache=True, nogil=True)
def _splat_statistics(level, chroma, weights, depth, grid_h, grid_w):
    """Trilinear splat of the weighted least-squares sums of every pixel into the grid's cells:
    (w, wL, wL², wCb, wCbL, wCr, wCrL) per (luma bin, y cell, x cell). One pass, no temporaries."""
    height, width = level.shape
    sums = np.zeros((7, depth, grid_h, grid_w), np.float64)
    for y in range(height):
        y0, y1, fy = cell_position(y, height, grid_h)
        for x in range(width):
            x0, x1, fx = cell_position(x, width, grid_w)
            lum = level[y, x]
            z0, z1, fz = bin_position(lum, depth)
            w = weights[y, x]
            cb = chroma[0, y, x]
            cr = chroma[1, y, x]
            terms = (w, w * lum, w * lum * lum, w * cb, w * cb * lum, w * cr, w * cr * lum)
            for k8 in range(8):
                zi, yi, xi, share = trilinear_corner(k8, z0, z1, fz, y0, y1, fy, x0, x1, fx)
                for k in range(7):
                    sums[k, zi, yi, xi] += share * terms[k]
    return sums


def splat_chroma(level: np.ndarray, chroma: np.ndarray, depth: int, grid_h: int, grid_w: int) -> np.ndarray:
    """(3, D, Gh, Gw) float32: per (luma bin, y cell, x cell), the trilinear weight of the pixels
    there and their weighted Cb and Cr sums: a picture's colours binned by where they are and how
    bright they are (reference mode looks colours up by luma in it)."""
    sums = _splat_statistics(
        np.ascontiguousarray(level, np.float32),
        np.ascontiguousarray(chroma, np.float32),
        np.ones(np.shape(level), np.float32),
        depth,
        grid_h,
        grid_w,
    )
    return sums[[0, 3, 5]].astype(np.float32)


def fit_color_grid(
    level: np.ndarray,
    chroma: np.ndarray,
    confidence: np.ndarray | None = None,
    depth: int = 8,
    grid_h: int = 72,
    grid_w: int = 128,
    slope_ridge: float = 1e-3,
    column_prior: float = 0.1,
) -> np.ndarray:
    """The colour grid whose affine maps best explain `chroma` from `level` (weighted least squares).

    level (h, w) luma in [0, 1]; chroma (2, h, w) Cb, Cr; confidence (h, w) weights in [0, 1].
    Each cell's map is fitted to the pixels that touch it (trilinear weights). Cells with few
    pixels lean on their whole (x, y) column (`column_prior`), so a luma bin that holds no pixel
    still gets the colour around it rather than gray; `slope_ridge` keeps the luma slope of
    flat cells from exploding.
    """
    level = np.ascontiguousarray(level, dtype=np.float32)
    weights = np.ones(level.shape, np.float32) if confidence is None else np.ascontiguousarray(confidence, np.float32)
    sums = _splat_statistics(level, np.ascontiguousarray(chroma, np.float32), weights, depth, grid_h, grid_w)
    sums += column_prior * sums.sum(axis=1, keepdims=True) / depth
    count = sums[0] + 1e-6
    mean_l = sums[1] / count
    var_l = sums[2] / count - mean_l * mean_l
    grid = np.empty((COLOR_CHANNELS, depth, grid_h, grid_w), np.float32)
    for k in range(len(chroma)):
        mean_c = sums[3 + 2 * k] / count
        cov = sums[4 + 2 * k] / count - mean_l * mean_c
        slope = cov / (np.maximum(var_l, 0) + slope_ridge)
        grid[2 * k] = slope
        grid[2 * k + 1] = mean_c - slope * mean_l
    return grid
