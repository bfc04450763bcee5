"""BT.709 R'G'B' <-> Y'CbCr on float values (numpy, channel-last), as the colorizer trains and is scored.

L = Y' in [0, 1]; Cb, Cr in [-0.5, 0.5] (the units of :mod:`vidbw.kernels.chroma`). No ranges,
no codes: these are the analogue values; the kernels handle code values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_ycbcr709", "ycbcr709_to_rgb", "KR", "KB"]

KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB
CB_SCALE = 2.0 * (1.0 - KB)  # 1.8556
CR_SCALE = 2.0 * (1.0 - KR)  # 1.5748


def rgb_to_ycbcr709(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 3) R'G'B' in [0, 1] -> (Y', Cb, Cr), each (...) float32."""
    rgb = np.asarray(rgb, np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = np.float32(KR) * r + np.float32(KG) * g + np.float32(KB) * b
    return y, (b - y) / np.float32(CB_SCALE), (r - y) / np.float32(CR_SCALE)


def ycbcr709_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, clip: bool = True) -> np.ndarray:
    """Y' (...), Cb, Cr (...) -> (..., 3) R'G'B' float32 (clipped to [0, 1] unless ``clip=False``)."""
    y = np.asarray(y, np.float32)
    r = y + np.float32(CR_SCALE) * cr
    b = y + np.float32(CB_SCALE) * cb
    g = (y - np.float32(KR) * r - np.float32(KB) * b) / np.float32(KG)
    out = np.stack([r, g, b], axis=-1).astype(np.float32, copy=False)
    return np.clip(out, 0.0, 1.0) if clip else out
