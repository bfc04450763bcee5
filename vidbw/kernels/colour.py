"""Colour-space helpers for the slicing kernels.

Everything here produces small constant matrices / numbers, plus the one small RGB copy of a
frame that analysis and the grid network use; the full-resolution per-pixel work happens in
:mod:`vidbw.kernels.slicing`.  Conversion matrices are (3, 4) float32
and act on *raw code values*: ``rgb = M[:, :3] @ (p0, p1, p2) + M[:, 3]``.  Folding
the range/offset handling into the matrix means the kernel does one affine map per
pixel whatever the input format is.

All R'G'B' values are gamma-encoded (no linearisation): the grid and tone curve are
learned/defined on display-referred values, as a colourist would see them.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from numba import njit

__all__ = [
    "LOWRES_MAX_SIDE",
    "planes_to_small_rgb",
    "planes_to_small_luma",
    "small_size",
    "lowres_size",
    "lowres_level",
    "keep_luma",
    "store_luma_codes",
    "keep_picture",
    "luma_weights",
    "REC709_LUMA",
    "REC601_LUMA",
    "REC2020_LUMA",
    "yuv_to_rgb_matrix",
    "rgb_matrix",
    "in_bt709_primaries",
    "luma_output_coding",
    "neutral_chroma",
]

# (Kr, Kg, Kb) luma coefficients.
REC709_LUMA: tuple[float, float, float] = (0.2126, 0.7152, 0.0722)
REC601_LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)
REC2020_LUMA: tuple[float, float, float] = (0.2627, 0.6780, 0.0593)  # non-constant-luminance

# The low-resolution analysis copy of a frame: the grid networks, the proxy choice and the
# colorizer's correspondence never see more than this on the longer side.
LOWRES_MAX_SIDE = 256

_LUMA_BY_MATRIX = {
    "bt709": REC709_LUMA,
    "bt601": REC601_LUMA,
    "bt2020": REC2020_LUMA,
}


def _check_bit_depth(bit_depth: int, allow_float: bool = False) -> None:
    lo = 0 if allow_float else 8
    if not isinstance(bit_depth, (int, np.integer)) or not (lo <= bit_depth <= 16) or 0 < bit_depth < 8:
        extra = " (or 0 for float input)" if allow_float else ""
        raise ValueError(f"bit_depth must be an integer in 8..16{extra}, got {bit_depth!r}")


def yuv_to_rgb_matrix(matrix: str, full_range: bool, bit_depth: int) -> np.ndarray:
    """(3, 4) float32 map from raw (Y, U, V, 1) code values to R'G'B' in [0, 1].

    ``matrix`` is ``"bt709"``, ``"bt601"`` or ``"bt2020"`` (non-constant luminance).
    Limited range: Y in 16..235, chroma in 16..240 around 128 (all × 2^(bits-8)).
    Full range: Y in 0..2^bits-1, chroma centred at 2^(bits-1) with the same
    2^bits-1 scale (the ffmpeg/swscale convention).  The result is not clipped;
    the kernel clips after applying it.
    """
    key = matrix.lower().replace("-", "").replace(".", "").replace("_", "")
    if key in ("bt470bg", "smpte170m", "bt601625", "bt601525"):
        key = "bt601"
    if key in ("bt2020nc", "bt2020ncl"):
        key = "bt2020"
    if key not in _LUMA_BY_MATRIX:
        raise ValueError(f"unknown YUV matrix {matrix!r}; expected one of {sorted(_LUMA_BY_MATRIX)}")
    _check_bit_depth(bit_depth)
    kr, kg, kb = _LUMA_BY_MATRIX[key]

    if full_range:
        peak = float(2**bit_depth - 1)
        y_off, y_scale = 0.0, 1.0 / peak
        c_scale = 1.0 / peak
    else:
        s = float(2 ** (bit_depth - 8))
        y_off, y_scale = 16.0 * s, 1.0 / (219.0 * s)
        c_scale = 1.0 / (224.0 * s)
    c_mid = float(2 ** (bit_depth - 1))

    # Normalised E'Y in [0,1], E'Cb/E'Cr in [-0.5, 0.5] -> R'G'B' (ITU-R BT.601/709/2020 inverse).
    ycc_to_rgb = np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ],
        dtype=np.float64,
    )
    # Code -> normalised: (Y, U, V) -> (Y*ys - y_off*ys, U*cs - mid*cs, V*cs - mid*cs).
    scale = np.diag([y_scale, c_scale, c_scale])
    offset = -np.array([y_off * y_scale, c_mid * c_scale, c_mid * c_scale])
    m = np.empty((3, 4), dtype=np.float64)
    m[:, :3] = ycc_to_rgb @ scale
    m[:, 3] = ycc_to_rgb @ offset
    return m.astype(np.float32)


# CIE 1931 xy of the R, G and B primaries; all three sets share the D65 white point.
PRIMARIES_XY = {
    "bt709": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    "bt2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
    "p3d65": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # Display P3 / SMPTE EG 432-1
}
D65_XY = (0.3127, 0.3290)


def _rgb_to_xyz(primaries: str) -> np.ndarray:
    """(3, 3) RGB -> XYZ of a primary set, scaled so that R = G = B = 1 is the white point (Y = 1)."""

    def xyz(x, y):
        return np.array([x / y, 1.0, (1.0 - x - y) / y])

    columns = np.stack([xyz(*xy) for xy in PRIMARIES_XY[primaries]], axis=1)
    return columns * np.linalg.solve(columns, xyz(*D65_XY))


def in_bt709_primaries(to_rgb: np.ndarray, primaries: str) -> np.ndarray:
    """`to_rgb` followed by the change from `primaries` to BT.709's: the R'G'B' that styles and
    networks are defined on (and trained on), from a BT.2020 or P3 picture.

    The 3x3 change is the one between linear RGB sets, applied to the coded values (an
    approximation for any look but one, and what keeps that one exact: its rows sum to one, and
    BT.709's luma weights times it are the source's own, so ``neutral`` is still the picture's Y').
    Colours outside BT.709's gamut come out below 0 or above 1; the kernels clip them there.
    """
    if primaries == "bt709":
        return to_rgb
    return (_to_bt709(primaries) @ np.asarray(to_rgb, np.float64)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _to_bt709(primaries: str) -> np.ndarray:
    # Asked once per decoded frame (`frame_planes`): solved once per primary set.
    change = np.linalg.solve(_rgb_to_xyz("bt709"), _rgb_to_xyz(primaries))
    change.setflags(write=False)
    return change


def rgb_matrix(bit_depth: int) -> np.ndarray:
    """(3, 4) float32 map from raw R, G, B planes to R'G'B' in [0, 1].

    ``bit_depth`` is the code depth of integer planes (8..16, max code 2^bits-1);
    ``bit_depth=0`` means float planes already in [0, 1] (identity).
    """
    _check_bit_depth(bit_depth, allow_float=True)
    scale = 1.0 if bit_depth == 0 else 1.0 / float(2**bit_depth - 1)
    m = np.zeros((3, 4), dtype=np.float32)
    m[0, 0] = m[1, 1] = m[2, 2] = scale
    return m


def luma_output_coding(full_range: bool, bit_depth: int) -> tuple[float, float]:
    """(out_offset, out_scale) so that ``code = offset + scale * v`` for v in [0, 1].

    Limited range: 16·2^(bits-8) + 219·2^(bits-8)·v (8-bit 16..235, 10-bit 64..940).
    Full range: (2^bits - 1)·v.  ``bit_depth=0`` gives (0, 1) for float output.
    """
    _check_bit_depth(bit_depth, allow_float=True)
    if bit_depth == 0:
        return 0.0, 1.0
    if full_range:
        return 0.0, float(2**bit_depth - 1)
    s = float(2 ** (bit_depth - 8))
    return 16.0 * s, 219.0 * s


def neutral_chroma(bit_depth: int) -> int:
    """Code value of zero chroma (grey) for ``bit_depth``-bit YUV: 2^(bits-1)."""
    _check_bit_depth(bit_depth)
    return 1 << (bit_depth - 1)


def small_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) of a frame scaled down (never up) so its longer side is at most `max_side`."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def lowres_size(width: int, height: int, max_side: int = LOWRES_MAX_SIDE) -> tuple[int, int]:
    return small_size(width, height, max_side)


def _small_planes(planes, size: tuple[int, int]) -> np.ndarray:
    """Each code plane area-averaged to `size` (w, h): float32 (h·w, 3), no conversion yet."""
    w, h = size
    small = np.empty((h, w, 3), np.float32)
    for i, plane in enumerate(planes):
        if plane.strides[-1] != plane.itemsize:
            plane = np.ascontiguousarray(plane)
        small[:, :, i] = area_resize(plane, (w, h)) if plane.shape != (h, w) else plane
    return small


def area_resize(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cv2.resize(INTER_AREA)` to `size` (w, h), several times faster for large ratios.

    OpenCV averages whole 2x2 blocks quickly but any other ratio slowly, whole numbers included
    (1080p luma to 240x135, 8x: 0.41 ms direct, 0.04 ms as three halvings; 960x540 to 256x144:
    0.58 ms). So the plane is halved while that stays exact (1920 -> 960 -> 480 -> 240), and
    otherwise while the ratio is at least 4: the final area step then still spans >= 2 source
    pixels per output pixel, so the result stays within a level or so of the direct one (1080p
    frame to 256x144: 0.44 levels mean, 3 at the 99th percentile). Integer planes round at each
    halving: a 1080p frame's 240-px copy moves by 0.4 levels on average, at most 1.5. A final
    step that is not a halving is `exact_area_resize` (the same weights as OpenCV's, 0.13 ms).
    """
    w, h = size
    height, width = plane.shape[:2]
    while (
        width % 2 == 0
        and height % 2 == 0
        and (_divides_evenly(width // 2, height // 2, w, h) or (width >= 4 * w and height >= 4 * h))
    ):
        width, height = width // 2, height // 2
        plane = cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA)
    if (width, height) == (w, h):
        return plane
    if plane.ndim == 2 and w <= width and h <= height and plane.dtype in _RESIZABLE:
        return exact_area_resize(plane, size)
    return cv2.resize(plane, (w, h), interpolation=cv2.INTER_AREA)


_RESIZABLE = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def exact_area_resize(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D plane shrunk to `size` (w, h) by exact area averaging, in its own dtype (integers
    rounded): OpenCV's INTER_AREA result for any ratio, without its slow general path."""
    w, h = size
    row_first, row_weights = _area_taps(plane.shape[0], h)
    col_first, col_weights = _area_taps(plane.shape[1], w)
    out = np.empty((h, w), plane.dtype)
    rounding = np.float32(0.5 if plane.dtype.kind in "ui" else 0.0)
    _area_resize_kernel(np.ascontiguousarray(plane), out, row_first, row_weights, col_first, col_weights, rounding)
    return out


@functools.lru_cache(maxsize=32)
def _area_taps(n_source: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel along one axis: its first source pixel and the weights (summing to
    one) of that pixel and the next ones, each the share of the output pixel it covers."""
    scale = n_source / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * scale
    taps = min(int(np.ceil(scale)) + 1, n_source)
    # Shifted back at the far edge so every tap reads inside the plane; its weight there is 0.
    first = np.clip(np.floor(edges[:-1]).astype(np.int64), 0, n_source - taps)
    source = first[:, None] + np.arange(taps)
    covered = np.minimum(edges[1:, None], source + 1) - np.maximum(edges[:-1, None], source)
    return first, (np.clip(covered, 0.0, None) / scale).astype(np.float32)


@njit(fastmath=True, cache=True, nogil=True)
def _area_resize_kernel(plane, out, row_first, row_weights, col_first, col_weights, rounding):
    # Rows first: each output row is a weighted sum of a few whole source rows (a loop that
    # vectorises), then each output pixel a weighted sum of a few entries of that sum.
    source_width = plane.shape[1]
    summed = np.empty(source_width, np.float32)
    for oy in range(out.shape[0]):
        summed[:] = 0.0
        for k in range(row_weights.shape[1]):
            weight = row_weights[oy, k]
            line = plane[row_first[oy] + k]
            for x in range(source_width):
                summed[x] += weight * np.float32(line[x])
        for ox in range(out.shape[1]):
            value = np.float32(0.0)
            first = col_first[ox]
            for k in range(col_weights.shape[1]):
                value += col_weights[ox, k] * summed[first + k]
            out[oy, ox] = value + rounding


def _divides_evenly(width: int, height: int, w: int, h: int) -> bool:
    """True when (w, h) is (width, height) shrunk by one whole factor on both axes."""
    return width % w == 0 and height % h == 0 and width // w == height // h


def _affine_pixels(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    # cv2.transform, not numpy's matmul: a (N, 3) @ (3, 3) product goes through multi-threaded
    # OpenBLAS, which stalls for far longer than this takes on a busy 2-core machine.
    return cv2.transform(image, np.asarray(matrix, np.float32))


def planes_to_small_rgb(planes, to_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Three code planes (Y,U,V or R,G,B, any subsampling, 8-16 bit) -> float32 R'G'B' (h, w, 3) in
    [0, 1] at `size` (w, h): each plane is area-averaged first, so only small arrays are converted.

    The one low-resolution copy of a frame: the analysis pass, the proxy choice and the grid
    network all see frames made by it."""
    rgb = _affine_pixels(_small_planes(planes, size), to_rgb)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def luma_weights(to_rgb: np.ndarray) -> np.ndarray:
    """(4,) float32 w with ``L = w · (p0, p1, p2, 1)``: the luma level in [0, 1] of raw plane codes.

    For Y'CbCr planes this is the Y' plane alone, ``(Y - offset) / scale``, whatever the matrix: the
    luma weights of the frame's own matrix are the direction that cancels both chroma columns. For
    R'G'B' planes it is Rec.709 luma. Colorization guides by this level and keeps it exactly.
    """
    matrix = np.asarray(to_rgb, np.float64)
    chroma_free = np.cross(matrix[:, 1], matrix[:, 2])
    if matrix[1, 0] == 0.0 or abs(chroma_free.sum()) < 1e-12:  # R, G, B planes: no chroma columns
        coefficients = np.asarray(REC709_LUMA, np.float64)
    else:
        coefficients = chroma_free / chroma_free.sum()
    weights = coefficients @ matrix
    if matrix[1, 0] != 0.0:
        weights[1:3] = 0.0  # exactly zero, not 1e-9: the luma of a Y'CbCr frame is its Y' plane
    return weights.astype(np.float32)


def planes_to_small_luma(planes, to_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The luma level (h, w) float32 in [0, 1] at `size` (w, h): the colorizer's low-resolution guide."""
    w, h = size
    weights = luma_weights(to_rgb)
    if weights[1] == 0.0 and weights[2] == 0.0:
        plane = planes[0] if planes[0].strides[-1] == planes[0].itemsize else np.ascontiguousarray(planes[0])
        small = (
            area_resize(plane.astype(np.float32, copy=False), (w, h))
            if plane.shape != (h, w)
            else plane.astype(np.float32)
        )
        level = small * weights[0] + weights[3]
    else:
        level = _affine_pixels(_small_planes(planes, size), weights[None])
    return np.clip(level, 0.0, 1.0)


def lowres_level(planes, to_rgb: np.ndarray, max_side: int = LOWRES_MAX_SIDE) -> np.ndarray:
    """The frame's luma level (h, w) float32 in [0, 1] at analysis resolution."""
    height, width = planes[0].shape
    return planes_to_small_luma(planes, to_rgb, lowres_size(width, height, max_side))


def store_luma_codes(value: np.ndarray, luma_out: np.ndarray) -> None:
    """Write float luma codes into `luma_out`: rounded, clipped to 0 and (unsigned) the dtype's top."""
    top = np.iinfo(luma_out.dtype).max if luma_out.dtype.kind == "u" else np.inf
    np.copyto(luma_out, np.clip(np.rint(value), 0, top).astype(luma_out.dtype))


def keep_luma(planes, to_rgb: np.ndarray, luma_out: np.ndarray, coding: tuple[float, float]) -> None:
    """Write the input's own luma into the output luma plane: copied when the coding is the same."""
    weights = luma_weights(to_rgb)
    offset, scale = coding
    if weights[1] == 0.0 and weights[2] == 0.0:
        gain, shift = scale * weights[0], offset + scale * weights[3]
        if abs(gain - 1.0) < 1e-6 and abs(shift) < 1e-3 and planes[0].dtype == luma_out.dtype:
            np.copyto(luma_out, planes[0])
            return
        value = planes[0].astype(np.float32) * np.float32(gain) + np.float32(shift)
    else:
        value = sum(p.astype(np.float32) * np.float32(w * scale) for p, w in zip(planes, weights[:3])) + np.float32(
            offset + scale * weights[3]
        )
    store_luma_codes(value, luma_out)


def keep_picture(
    planes, to_rgb: np.ndarray, luma_out: np.ndarray, chroma_out: tuple, bit_depth: int, full_range: bool, matrix: str
) -> None:
    """Write the input picture into the output planes (their size, range, depth and matrix): copied
    when the input is Y'CbCr coded the same way, else converted through its R'G'B' (chroma area-averaged)."""
    out = yuv_to_rgb_matrix(matrix, full_range, bit_depth)
    inverse = np.linalg.inv(out[:, :3].astype(np.float64))
    height, width = chroma_out[0].shape
    weights = luma_weights(to_rgb)
    if weights[1] == 0.0 and weights[2] == 0.0:  # Y'CbCr input: its own luma, recoded if need be
        keep_luma(planes, to_rgb, luma_out, luma_output_coding(full_range, bit_depth))
        same_coding = np.allclose(np.asarray(to_rgb, np.float32), out, atol=1e-6)
        if same_coding and all(
            p.shape == (height, width) and p.dtype == c.dtype for p, c in zip(planes[1:], chroma_out)
        ):
            np.copyto(chroma_out[0], planes[1])
            np.copyto(chroma_out[1], planes[2])
            return
    else:  # R'G'B' input: the luma of the output's own matrix, so luma and chroma decode back to it
        full = _affine_pixels(_affine_pixels(_small_planes(planes, luma_out.shape[::-1]), to_rgb) - out[:, 3], inverse)
        _store_codes(full[:, :, 0], luma_out)
    rgb = _affine_pixels(_small_planes(planes, (width, height)), to_rgb)  # unclipped: keep out-of-gamut colour
    codes = _affine_pixels(rgb - out[:, 3], inverse)
    _store_codes(codes[:, :, 1], chroma_out[0])
    _store_codes(codes[:, :, 2], chroma_out[1])


def _store_codes(values: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, np.clip(np.rint(values), 0, np.iinfo(out.dtype).max).astype(out.dtype))
