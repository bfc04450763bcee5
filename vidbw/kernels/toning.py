"""Chroma planes of a toned B&W frame, looked up from its luma.

A toning is a function of the gray value only, so the two chroma planes are two
lookups (per-luma-code tables from :mod:`vidbw.styles.toning`) of the luma plane.
When chroma is subsampled, each chroma sample takes the rounded mean of the luma
codes in its footprint (sx × sy pixels, cut off at the right/bottom edge).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["chroma_from_luma"]


@njit(parallel=True, cache=True)
def _chroma_kernel(luma, lut_u, lut_v, out_u, out_v, sub_y, sub_x):
    height, width = luma.shape
    c_height, c_width = out_u.shape
    last = lut_u.shape[0] - 1
    for cy in prange(c_height):
        y0 = cy * sub_y
        y1 = min(y0 + sub_y, height)
        for cx in range(c_width):
            x0 = cx * sub_x
            x1 = min(x0 + sub_x, width)
            total = 0
            for y in range(y0, y1):
                for x in range(x0, x1):
                    total += np.int64(luma[y, x])
            count = (y1 - y0) * (x1 - x0)
            code = min((total + count // 2) // count, last)
            out_u[cy, cx] = lut_u[code]
            out_v[cy, cx] = lut_v[code]


def _subsampling(full: int, sub: int, axis: str) -> int:
    """The power-of-two factor s with ceil(full / s) == sub (1, 2 or 4 in practice)."""
    factor = 1
    while factor <= full:
        if -(-full // factor) == sub:
            return factor
        factor *= 2
    raise ValueError(f"chroma {axis} {sub} is not luma {axis} {full} divided by a power of two")


def chroma_from_luma(
    luma_plane: np.ndarray,
    lut_u: np.ndarray,
    lut_v: np.ndarray,
    out_u: np.ndarray,
    out_v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``out_u``/``out_v`` (written in place, may be row-padded views) from the
    (H, W) integer luma codes: ``out[c] = lut[mean luma code over c's footprint]``.

    The subsampling is read from the shapes: out planes of (ceil(H/sy), ceil(W/sx))
    with sx, sy powers of two (4:4:4, 4:2:2, 4:2:0, 4:1:1).  LUTs are indexed by luma
    code; codes beyond the LUT use its last entry.  Returns (out_u, out_v).
    """
    if luma_plane.ndim != 2 or not np.issubdtype(luma_plane.dtype, np.integer):
        raise ValueError(f"luma_plane must be a 2-D integer array, got {luma_plane.dtype} {luma_plane.shape}")
    if out_u.shape != out_v.shape or out_u.ndim != 2:
        raise ValueError(f"out_u and out_v must be 2-D of one shape, got {out_u.shape} and {out_v.shape}")
    if lut_u.ndim != 1 or lut_u.shape != lut_v.shape or lut_u.size == 0:
        raise ValueError("lut_u and lut_v must be non-empty 1-D arrays of one length")
    height, width = luma_plane.shape
    sub_y = _subsampling(height, out_u.shape[0], "height")
    sub_x = _subsampling(width, out_u.shape[1], "width")
    # Same dtype as the output, so a lookup is a plain copy of the code.
    lut_u = np.ascontiguousarray(lut_u, dtype=out_u.dtype)
    lut_v = np.ascontiguousarray(lut_v, dtype=out_v.dtype)
    _chroma_kernel(luma_plane, lut_u, lut_v, out_u, out_v, sub_y, sub_x)
    return out_u, out_v
