"""Bilateral-grid slicing + apply: the full-resolution half of vidbw.

A grid of shape (4, D, Gh, Gw) holds, per (luma bin, y cell, x cell), the
coefficients (wR, wG, wB, c) of ``gray = wR·R + wG·G + wB·B + c``.  For every
pixel the grid is sampled trilinearly at (x, y, luma) (cell-centred, clamped
edges, i.e. torch ``grid_sample(bilinear, border, align_corners=False)``), the
mix is applied to the pixel's own R'G'B', a tone curve is applied, optional film
grain is added, and the result is coded into an output luma plane.

Two implementations with identical semantics:

* :func:`slice_apply` — numba, CPU, reads decoder planes (YUV 4:2:0/4:2:2/4:4:4
  or RGB) directly, zero-copy, and writes the output plane in place.
* :func:`~vidbw.kernels.slicing_torch.planes_to_rgb_torch` + ``slice_apply_torch`` (in
  :mod:`vidbw.kernels.slicing_torch`) — torch ops only, so
  they run wherever the tensors live (CUDA in the batched GPU path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba import njit, prange

from vidbw.kernels.colour import rgb_matrix

__all__ = ["slice_apply", "slice_rgb"]

_PLANE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_OUT_RANGE = {
    # (lo, hi, rounding offset). Rounding is "+0.5 then truncate" after clipping to lo..hi,
    # which is round-half-up for the non-negative values integer planes hold.
    np.dtype(np.uint8): (0.0, 255.0, 0.5),
    np.dtype(np.uint16): (0.0, 65535.0, 0.5),
    # Finite bounds rather than inf: fastmath lets LLVM assume no infinities.
    np.dtype(np.float32): (-3.0e38, 3.0e38, 0.0),
}


# --------------------------------------------------------------------------------------
# numba kernel
# --------------------------------------------------------------------------------------


# nogil: the reader and writer threads keep decoding and encoding while a frame is sliced.
@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _slice_apply_kernel(
    p0,
    p1,
    p2,  # 1-D flat views of the planes (see _flat_rows)
    pitch0,
    pitch1,
    pitch2,  # row pitch of each plane, in elements
    height,
    width,
    c_height,
    c_width,
    sub_x,
    sub_y,
    to_rgb,  # (3, 4) float32
    grid_rows,  # (Gh+1, D*Gw*8) float32, see _grid_table
    depth,
    grid_h,
    grid_w,
    cell_start,  # (Gw+1,) first output column of each x cell (columns are sorted by cell)
    x_frac,  # (W,) weight of the right-hand x cell
    lut,  # (2K,) float32: value and slope to the next sample, interleaved (see _tone_table)
    out,
    out_pitch,
    out_offset,
    out_scale,
    out_lo,
    out_hi,
    out_round,
    grain,
    grain_col_offset,
    grain_row_offset,
    grain_amount,
    has_grain,
    n_chunks,
):
    # How this stays fast without SIMD gathers (LLVM will not emit them for this CPU):
    # columns sharing an x cell form a contiguous run, so for each (cell, luma bin) the
    # coefficients are loop constants.  The luma interpolation is written as a telescoping
    # sum: the run's lowest bin, plus, for each bin step k above it, the step's difference
    # weighted by the ramp clamp(gz - k, 0, 1), which equals the hat-weighted lerp between
    # the two bins around gz.  Every loop over x is then plain vectorisable arithmetic, and
    # a run costs one pass per bin step it spans (the hat form took one more).  Everything
    # per pixel is float32 (a float64 literal would promote whole expressions).  Local
    # names keep one type each: numba would unify e.g. an int64 and a uint64 reuse of one
    # name to float64.
    f32 = np.float32
    zero = f32(0.0)
    one = f32(1.0)
    half = f32(0.5)
    kr = f32(0.2126)
    kg = f32(0.7152)
    kb = f32(0.0722)
    m00 = f32(to_rgb[0, 0])
    m01 = f32(to_rgb[0, 1])
    m02 = f32(to_rgb[0, 2])
    m03 = f32(to_rgb[0, 3])
    m10 = f32(to_rgb[1, 0])
    m11 = f32(to_rgb[1, 1])
    m12 = f32(to_rgb[1, 2])
    m13 = f32(to_rgb[1, 3])
    m20 = f32(to_rgb[2, 0])
    m21 = f32(to_rgb[2, 1])
    m22 = f32(to_rgb[2, 2])
    m23 = f32(to_rgb[2, 3])
    depth_f = f32(depth)
    z_max = f32(depth - 1)
    lut_max = f32(lut.shape[0] // 2 - 1)
    lut_last = np.uint32(lut.shape[0] // 2 - 1)
    lut_pairs = lut.view(np.complex64)  # (value, slope) read by one 8-byte load per pixel
    row_len = grid_rows.shape[1]
    gy_scale = grid_h / height
    gy_max = grid_h - 1.0
    cy_max = c_height - 1
    grain_h = grain.shape[0]
    grain_w = grain.shape[1]
    amount4 = f32(4.0 * grain_amount)
    o_off = f32(out_offset)
    o_scale = f32(out_scale)
    o_lo = f32(out_lo)
    o_hi = f32(out_hi)
    o_rnd = f32(out_round)
    half_w = width // 2

    for chunk in prange(n_chunks):
        # Per-thread scratch, allocated once per chunk of rows, not per row.
        row_grid = np.empty(row_len, np.float32)
        u_row = np.empty(width, np.float32)
        v_row = np.empty(width, np.float32)
        r_row = np.empty(width, np.float32)
        g_row = np.empty(width, np.float32)
        b_row = np.empty(width, np.float32)
        z_row = np.empty(width, np.float32)
        z_bin = np.empty(width, np.int32)  # floor of z_row: integer min/max vectorise, float ones do not
        acc = np.empty(width, np.float32)
        lut_index = np.empty(width, np.uint32)
        cu = np.empty(c_width + 1, np.float32)  # +1: replicate the right edge for odd columns
        cv = np.empty(c_width + 1, np.float32)

        y_begin = chunk * height // n_chunks
        y_end = (chunk + 1) * height // n_chunks
        for y in range(y_begin, y_end):
            # --- chroma for this row, bilinear, at full width ---------------------------
            if sub_y:
                # 4:2:0 chroma is vertically centred between luma rows: cy = (y + 0.5)/2 - 0.5.
                cy = max(y * 0.5 - 0.25, 0.0)
                c0 = int(cy)
                fy = f32(cy - c0)
                c1 = min(c0 + 1, cy_max)
            else:
                c0 = y
                c1 = y
                fy = zero
            u0 = p1[c0 * pitch1 : c0 * pitch1 + c_width]
            u1 = p1[c1 * pitch1 : c1 * pitch1 + c_width]
            v0 = p2[c0 * pitch2 : c0 * pitch2 + c_width]
            v1 = p2[c1 * pitch2 : c1 * pitch2 + c_width]
            if sub_x:
                for k in range(c_width):
                    a = f32(u0[k])
                    cu[k] = a + fy * (f32(u1[k]) - a)
                    a = f32(v0[k])
                    cv[k] = a + fy * (f32(v1[k]) - a)
                cu[c_width] = cu[c_width - 1]
                cv[c_width] = cv[c_width - 1]
                # Chroma is co-sited with even luma columns (cx = x/2): even x takes the
                # sample, odd x the mean of its two neighbours.
                for k in range(half_w):
                    u_row[2 * k] = cu[k]
                    u_row[2 * k + 1] = half * (cu[k] + cu[k + 1])
                    v_row[2 * k] = cv[k]
                    v_row[2 * k + 1] = half * (cv[k] + cv[k + 1])
                if width & 1:
                    u_row[width - 1] = cu[c_width - 1]
                    v_row[width - 1] = cv[c_width - 1]
            else:
                for x in range(width):
                    a = f32(u0[x])
                    u_row[x] = a + fy * (f32(u1[x]) - a)
                    a = f32(v0[x])
                    v_row[x] = a + fy * (f32(v1[x]) - a)

            # --- colour: clipped R'G'B' and the luma bin coordinate ----------------------
            y_row = p0[y * pitch0 : y * pitch0 + width]
            for x in range(width):
                yv = f32(y_row[x])
                u = u_row[x]
                v = v_row[x]
                r = min(max(m00 * yv + m01 * u + m02 * v + m03, zero), one)
                g = min(max(m10 * yv + m11 * u + m12 * v + m13, zero), one)
                b = min(max(m20 * yv + m21 * u + m22 * v + m23, zero), one)
                r_row[x] = r
                g_row[x] = g
                b_row[x] = b
                gz = min(max((kr * r + kg * g + kb * b) * depth_f - half, zero), z_max)
                z_row[x] = gz
                z_bin[x] = np.int32(gz)

            # --- grid interpolated along y once per row ----------------------------------
            gy = min(max((y + 0.5) * gy_scale - 0.5, 0.0), gy_max)
            gy0 = int(gy)
            fgy = f32(gy - gy0)
            top = grid_rows[gy0]
            bottom = grid_rows[gy0 + 1]
            for i in range(row_len):
                a = top[i]
                row_grid[i] = a + fgy * (bottom[i] - a)

            # --- slice along x and luma, and mix -----------------------------------------
            for cell in range(grid_w):
                x0 = cell_start[cell]
                x1 = cell_start[cell + 1]
                if x0 == x1:
                    continue
                # Slices, so that the loops below index from 0 and numba's negative-index
                # wraparound code (which blocks vectorisation) folds away.
                seg_r = r_row[x0:x1]
                seg_g = g_row[x0:x1]
                seg_b = b_row[x0:x1]
                seg_z = z_row[x0:x1]
                seg_z_bin = z_bin[x0:x1]
                seg_fx = x_frac[x0:x1]
                seg_acc = acc[x0:x1]
                n = x1 - x0
                bin_lo = np.int32(depth - 1)
                bin_hi = np.int32(0)
                for i in range(n):
                    bin_lo = min(bin_lo, seg_z_bin[i])
                    bin_hi = max(bin_hi, seg_z_bin[i])
                # Bins z_first..z_last carry all the weight.  Integer clamps keep reads in
                # bounds even for NaN pixels (float planes).
                z_first = min(max(int(bin_lo), 0), depth - 1)
                z_last = min(max(int(bin_hi) + 1, z_first), depth - 1)
                # (wR, wG, wB, c) of the lowest bin in this cell and their change towards the
                # next cell: row_grid record (z, cell), see _grid_table.
                at = (z_first * grid_w + cell) * 8
                wr = row_grid[at]
                wg = row_grid[at + 1]
                wb = row_grid[at + 2]
                wc = row_grid[at + 3]
                dr = row_grid[at + 4]
                dg = row_grid[at + 5]
                db = row_grid[at + 6]
                dc = row_grid[at + 7]
                for i in range(n):
                    r = seg_r[i]
                    g = seg_g[i]
                    b = seg_b[i]
                    seg_acc[i] = wr * r + wg * g + wb * b + wc + seg_fx[i] * (dr * r + dg * g + db * b + dc)
                bin_step = grid_w * 8
                for z in range(z_first, z_last):
                    # The same eight numbers' change from bin z to bin z + 1.
                    at = (z * grid_w + cell) * 8
                    up = at + bin_step
                    wr = row_grid[up] - row_grid[at]
                    wg = row_grid[up + 1] - row_grid[at + 1]
                    wb = row_grid[up + 2] - row_grid[at + 2]
                    wc = row_grid[up + 3] - row_grid[at + 3]
                    dr = row_grid[up + 4] - row_grid[at + 4]
                    dg = row_grid[up + 5] - row_grid[at + 5]
                    db = row_grid[up + 6] - row_grid[at + 6]
                    dc = row_grid[up + 7] - row_grid[at + 7]
                    zf = f32(z)
                    for i in range(n):
                        r = seg_r[i]
                        g = seg_g[i]
                        b = seg_b[i]
                        here = wr * r + wg * g + wb * b + wc
                        slope = dr * r + dg * g + db * b + dc
                        ramp = min(max(seg_z[i] - zf, zero), one)
                        seg_acc[i] += ramp * (here + seg_fx[i] * slope)

            # --- tone curve ---------------------------------------------------------------
            # The lookup is a gather, which stays scalar; the float->index conversion is
            # split off into a loop that vectorises, so the scalar loop is loads + one FMA.
            for x in range(width):
                t = min(max(acc[x], zero), one) * lut_max
                ti = min(np.uint32(t), lut_last)  # clamp as integer: in bounds even for NaN
                lut_index[x] = ti
                acc[x] = t - f32(ti)
            for x in range(width):
                pair = lut_pairs[np.uint64(lut_index[x])]  # unsigned: no negative-index wraparound code
                acc[x] = pair.real + acc[x] * pair.imag

            # --- grain + output coding ---------------------------------------------------
            out_row = out[y * out_pitch : y * out_pitch + width]
            if has_grain:
                grain_line = grain[(y + grain_row_offset) % grain_h]
                # Walk the wrapping tile in contiguous runs (no per-pixel modulo or gather).
                x0 = 0
                col = grain_col_offset
                while x0 < width:
                    n = min(grain_w - col, width - x0)
                    seg_v = acc[x0 : x0 + n]
                    seg_grain = grain_line[col : col + n]
                    for i in range(n):
                        v = seg_v[i]
                        # 4v(1-v): grain fades out towards black and white, as on film.
                        seg_v[i] = min(max(v + amount4 * v * (one - v) * seg_grain[i], zero), one)
                    x0 += n
                    col = 0
            for x in range(width):
                out_row[x] = min(max(o_off + o_scale * acc[x], o_lo), o_hi) + o_rnd


# --------------------------------------------------------------------------------------
# Python wrapper
# --------------------------------------------------------------------------------------


def _flat_rows(a: np.ndarray, name: str, writeable: bool = False) -> tuple[np.ndarray, int]:
    """Zero-copy 1-D view covering a 2-D array's rows, plus its row pitch in elements.

    Decoder planes are row-padded views (``buf.reshape(h, linesize)[:, :w]``).  Handing
    numba a flat C-contiguous span and a pitch keeps the inner loops unit-stride
    (vectorisable) and gives one compiled specialisation per dtype instead of one per
    memory layout.  The span runs from the first to the last element of the view, so
    it stays inside the array's own buffer.  Only exotic layouts (column stride not
    one element, negative strides) are copied.  Input views are always made read-only,
    so writable and read-only decoder buffers share one numba specialisation.
    """
    item = a.itemsize
    s0, s1 = a.strides
    h, w = a.shape
    if h == 0 or w == 0:
        raise ValueError(f"{name} is empty: shape {a.shape}")
    if (s1 != item and w > 1) or s0 < 0 or s0 % item:
        a = np.ascontiguousarray(a)
        s0 = a.strides[0]
    pitch = s0 // item if h > 1 else w
    if pitch < w:  # overlapping rows (e.g. broadcast): not a real image plane
        a = np.ascontiguousarray(a)
        pitch = w
    span = (h - 1) * pitch + w
    flat = np.lib.stride_tricks.as_strided(a, shape=(span,), strides=(item,), writeable=writeable)
    return flat, pitch


def _grid_table(grid: np.ndarray) -> np.ndarray:
    """(4, D, Gh, Gw) -> (Gh+1, D*Gw*8) float32 for the kernel.

    Record [y, z, x] holds the 4 coefficients of cell x and their difference to cell
    x+1 (zero at the clamped right edge), so the x interpolation is one FMA per
    coefficient.  y is edge-replicated by one cell so "row + 1" needs no clamp (its
    weight is zero at the clamped edge).
    """
    g = np.transpose(np.asarray(grid, dtype=np.float32), (2, 1, 3, 0))  # (Gh, D, Gw, 4)
    g = np.pad(g, ((0, 1), (0, 0), (0, 0), (0, 0)), mode="edge")
    diff = np.zeros_like(g)
    diff[:, :, :-1] = g[:, :, 1:] - g[:, :, :-1]
    table = np.concatenate((g, diff), axis=3)  # (Gh+1, D, Gw, 8)
    return np.ascontiguousarray(table).reshape(table.shape[0], -1)


def _tone_table(tone_lut: np.ndarray) -> np.ndarray:
    """(K,) -> (2K,): value and slope to the next sample (0 after the last), interleaved.

    Value and slope share a cache line, and the lerp is one FMA: v = value + frac * slope.
    """
    slope = np.append(np.diff(tone_lut), np.float32(0.0))
    return np.stack((tone_lut, slope), axis=1).astype(np.float32).ravel()


def _axis_cells(n_pixels: int, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Left cell index and right-cell weight of cell-centred, clamped interpolation."""
    g = (np.arange(n_pixels, dtype=np.float64) + 0.5) * (n_cells / n_pixels) - 0.5
    g = np.clip(g, 0.0, n_cells - 1)
    i0 = np.floor(g).astype(np.int64)
    return i0, (g - i0).astype(np.float32)


def slice_apply(
    planes: Sequence[np.ndarray],
    to_rgb: np.ndarray,
    grid: np.ndarray,
    tone_lut: np.ndarray,
    out: np.ndarray,
    out_offset: float,
    out_scale: float,
    grain: np.ndarray | None = None,
    grain_offset: tuple[int, int] = (0, 0),
    grain_amount: float = 0.0,
) -> np.ndarray:
    """Slice ``grid`` against one frame at full resolution and write the coded gray plane.

    Parameters
    ----------
    planes
        Three 2-D arrays of one dtype (uint8, uint16 or float32): (Y, U, V) or (R, G, B).
        Plane 0 is (H, W); planes 1/2 are (H, W) or chroma-subsampled with width
        ``(W+1)//2`` and height ``H`` or ``(H+1)//2``.  Row-strided views (decoder
        buffers with padded lines, read-only or not) are read in place; only planes
        whose column stride is not one element (e.g. ``rgb[:, :, 0]``) are copied.
        Subsampled chroma is upsampled bilinearly: co-sited with even luma columns
        horizontally, centred vertically (4:2:0), clamped at the edges.  NaNs in
        float planes give unspecified values for those pixels (never out-of-bounds
        reads).
    to_rgb
        (3, 4) matrix from :mod:`vidbw.kernels.colour`; R'G'B' is clipped to [0, 1] after it.
    grid
        (4, D, Gh, Gw) float32 coefficients (wR, wG, wB, c); cell-centred, clamped edges;
        the guide is the Rec.709 luma of the clipped R'G'B'.
    tone_lut
        (K,) K >= 2 tone curve sampled at gray = i/(K-1), linearly interpolated.
    out
        (H, W) uint8, uint16 or float32 plane, written in place: a row-strided view
        with unit column stride, and it may be plane 0 itself (each row of plane 0
        is read before that row is written).  ``out = round(out_offset + out_scale * v)``
        (half up) clipped to the dtype range; float32 is neither rounded nor clipped.
    grain, grain_offset, grain_amount
        Optional fused film grain: ``v += amount * 4v(1-v) * grain[(y+oy) % th, (x+ox) % tw]``
        with ``(ox, oy) = grain_offset``, then clipped to [0, 1].

    Returns ``out``.
    """
    if not isinstance(planes, (tuple, list)) or len(planes) != 3:
        raise ValueError("planes must be a tuple of 3 2-D arrays")
    p0, p1, p2 = (np.asarray(p) for p in planes)
    for i, p in enumerate((p0, p1, p2)):
        if p.ndim != 2:
            raise ValueError(f"plane {i} must be 2-D, got shape {p.shape}")
    if not (p0.dtype == p1.dtype == p2.dtype) or p0.dtype not in _PLANE_DTYPES:
        raise ValueError(
            f"planes must share one dtype among uint8/uint16/float32, got {p0.dtype}, {p1.dtype}, {p2.dtype}"
        )
    height, width = p0.shape
    if p1.shape != p2.shape:
        raise ValueError(f"planes 1 and 2 differ in shape: {p1.shape} vs {p2.shape}")
    c_height, c_width = p1.shape
    if c_width not in (width, (width + 1) // 2) or c_height not in (height, (height + 1) // 2):
        raise ValueError(
            f"chroma planes {p1.shape} do not fit luma {p0.shape}: expected width {width} or "
            f"{(width + 1) // 2} and height {height} or {(height + 1) // 2}"
        )
    sub_x = c_width != width
    sub_y = c_height != height

    to_rgb = np.asarray(to_rgb, dtype=np.float32)
    if to_rgb.shape != (3, 4) or not np.isfinite(to_rgb).all():
        raise ValueError(f"to_rgb must be a finite (3, 4) matrix, got shape {to_rgb.shape}")

    grid = np.asarray(grid)
    if grid.ndim != 4 or grid.shape[0] != 4 or min(grid.shape) < 1:
        raise ValueError(f"grid must be (4, D, Gh, Gw) with D, Gh, Gw >= 1, got {grid.shape}")
    if not np.issubdtype(grid.dtype, np.floating) or not np.isfinite(grid).all():
        raise ValueError(f"grid must be floating point and finite (dtype {grid.dtype})")
    _, depth, grid_h, grid_w = grid.shape

    tone_lut = np.asarray(tone_lut, dtype=np.float32)
    if tone_lut.ndim != 1 or tone_lut.shape[0] < 2:
        raise ValueError(f"tone_lut must be 1-D with at least 2 samples, got shape {tone_lut.shape}")
    if not np.isfinite(tone_lut).all():
        raise ValueError("tone_lut must be finite")

    if not isinstance(out, np.ndarray) or out.shape != (height, width):
        raise ValueError(
            f"out must be a numpy array of shape {(height, width)}, got {getattr(out, 'shape', type(out))}"
        )
    if out.dtype not in _OUT_RANGE:
        raise ValueError(f"out dtype must be uint8, uint16 or float32, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    out_lo, out_hi, out_round = _OUT_RANGE[out.dtype]
    if not (np.isfinite(out_offset) and np.isfinite(out_scale)):
        raise ValueError("out_offset and out_scale must be finite")

    if grain is not None:
        grain = np.ascontiguousarray(grain, dtype=np.float32)  # a small tile: copying is free
        if grain.ndim != 2 or grain.size == 0:
            raise ValueError(f"grain must be a non-empty 2-D tile, got shape {grain.shape}")
        ox, oy = (int(v) for v in grain_offset)
        grain_col_offset = ox % grain.shape[1]
        grain_row_offset = oy % grain.shape[0]
        has_grain = True
    else:
        grain = np.zeros((1, 1), np.float32)
        grain_col_offset = 0
        grain_row_offset = 0
        has_grain = False

    x_cell, x_frac = _axis_cells(width, grid_w)
    f0, pitch0 = _flat_rows(p0, "plane 0")
    f1, pitch1 = _flat_rows(p1, "plane 1")
    f2, pitch2 = _flat_rows(p2, "plane 2")
    os0, os1 = out.strides
    if (os1 != out.itemsize and width > 1) or (height > 1 and (os0 < width * out.itemsize or os0 % out.itemsize)):
        # Written in place, so it cannot be copied to a friendlier layout like the inputs.
        raise ValueError(f"out must be row-major with unit column stride, got strides {out.strides}")
    fout, out_pitch = _flat_rows(out, "out", writeable=True)

    # A few chunks per thread balances load without per-row scheduling overhead.
    n_chunks = max(1, min(height, 4 * numba.get_num_threads()))
    _slice_apply_kernel(
        f0,
        f1,
        f2,
        pitch0,
        pitch1,
        pitch2,
        height,
        width,
        c_height,
        c_width,
        sub_x,
        sub_y,
        to_rgb,
        _grid_table(grid),
        depth,
        grid_h,
        grid_w,
        np.searchsorted(x_cell, np.arange(grid_w + 1)).astype(np.int64),
        x_frac,
        _tone_table(tone_lut),
        fout,
        out_pitch,
        float(out_offset),
        float(out_scale),
        out_lo,
        out_hi,
        out_round,
        grain,
        grain_col_offset,
        grain_row_offset,
        float(grain_amount),
        has_grain,
        n_chunks,
    )
    return out


def slice_rgb(rgb: np.ndarray, grid: np.ndarray, tone_lut: np.ndarray) -> np.ndarray:
    """The look's value, float32 (h, w) in [0, 1], of a small float32 (h, w, 3) R'G'B' picture in
    [0, 1]: what the grid network's input renders to, for the refit and the key-frame checks."""
    planes = tuple(np.ascontiguousarray(rgb[..., channel]) for channel in range(3))
    return slice_apply(planes, rgb_matrix(0), grid, tone_lut, np.empty(rgb.shape[:2], np.float32), 0.0, 1.0)
