"""PyAV video frames as numpy: zero-copy plane views, how to read each pixel format, display rotation.

Both sides use these: the decoder reads a picture's planes through them, the writer fills an
output frame's planes in place.
"""

from __future__ import annotations

import functools

import av
import numpy as np

from vidbw.kernels.colour import in_bt709_primaries, rgb_matrix, yuv_to_rgb_matrix


def plane_view(plane: av.video.plane.VideoPlane, width: int, height: int, dtype) -> np.ndarray:
    """A zero-copy (height, width) view of a frame's plane that skips the row padding."""
    itemsize = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype=dtype)  # type: ignore[call-overload]  # VideoPlane has the buffer protocol; its stub does not say so
    return buf.reshape(height, plane.line_size // itemsize)[:, :width]


@functools.lru_cache(maxsize=64)
def has_alpha(pix_fmt: str) -> bool:
    """Whether frames of this format carry an alpha channel (yuva*, gbrap*, rgba, ya8, ...)."""
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


@functools.lru_cache(maxsize=32)
def _layout(pix_fmt: str, width: int, height: int) -> tuple[str, str | None]:
    """How to read a pixel format: ('yuv'|'gbr', None) directly, or (kind, format to convert to)."""
    fmt = av.VideoFormat(pix_fmt)
    comps = fmt.components
    bits = comps[0].bits
    alpha = "a" if has_alpha(pix_fmt) else ""  # converted formats keep the alpha plane, for the writer to carry
    if fmt.is_rgb:
        if fmt.is_planar and [c.plane for c in comps[:3]] == [2, 0, 1]:
            return "gbr", None
        return "gbr", f"gbr{alpha}p" if bits <= 8 else f"gbr{alpha}p16le"
    direct = (
        fmt.is_planar
        and len(comps) >= 3
        and [c.plane for c in comps[:3]] == [0, 1, 2]
        and bits <= 16
        and fmt.chroma_width(width) in (width, (width + 1) // 2)
        and fmt.chroma_height(height) in (height, (height + 1) // 2)
        and not (fmt.chroma_width(width) == width and fmt.chroma_height(height) != height)  # 4:4:0
    )
    if direct:
        return "yuv", None
    # Gray, palette, packed and semi-planar formats: one cheap swscale pass to planar 4:4:4.
    return "yuv", f"yuv{alpha}444p" if bits <= 8 else f"yuv{alpha}444p16le"


def frame_planes(
    frame: av.VideoFrame, matrix: str, full_range: bool, primaries: str = "bt709"
) -> tuple[tuple, np.ndarray, av.VideoFrame]:
    """The frame's three planes as numpy views, and the 3x4 matrix from their codes to BT.709 R'G'B'."""
    kind, convert_to = _layout(frame.format.name, frame.width, frame.height)
    if convert_to is not None:
        frame = frame.reformat(format=convert_to)
    fmt = frame.format
    bits = fmt.components[0].bits
    dtype = np.uint8 if bits <= 8 else np.uint16
    w, h = frame.width, frame.height
    views = []
    for i, plane in enumerate(frame.planes[:3]):
        pw = w if i == 0 else fmt.chroma_width(w)
        ph = h if i == 0 else fmt.chroma_height(h)
        if kind == "gbr":
            pw, ph = w, h
        views.append(plane_view(plane, pw, ph, dtype))
    if kind == "gbr":
        g, b, r = views
        return (r, g, b), rgb_matrix(bits), frame
    # Y'CbCr pictures only: R'G'B' scans are rarely tagged, and colorization reads an R'G'B' frame's
    # luma through a matrix without chroma columns (see luma_weights).
    return tuple(views), in_bt709_primaries(yuv_to_rgb_matrix(matrix, full_range, bits), primaries), frame


def frame_rotation(frame: av.VideoFrame | None) -> int:
    """The frame's display rotation in whole degrees; 0 without a frame or without the side data."""
    if frame is None:
        return 0
    try:
        return int(round(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):
        return 0


def display_turns(frame: av.VideoFrame | None) -> int:
    """How many times `np.rot90` turns a stored picture to show it the way players do (the display
    rotation is counter-clockwise degrees); 0 without a frame."""
    return round(frame_rotation(frame) / 90) % 4
