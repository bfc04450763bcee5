"""Print tonings: a colour cast that depends only on the gray value.

A toned print keeps its B&W tonality and takes a hue that varies with density:
sepia warms the mid-tones and highlights, selenium turns the shadows cold purple,
a cyanotype is blue all through.  Because the colour is a function of the gray
value v alone, it reaches the encoder as two tables indexed by the output luma code
(``Toning.chroma_luts``); the kernel in :mod:`vidbw.kernels.toning` looks them up.

The toned colour is ``v + s(v)·d``, where d = tint − luma(tint) is the tint's
chroma direction (zero luma by construction), so the toned pixel's luma is exactly
the untoned gray: toning never changes the B&W image, only adds colour.  s(v) is
the toning's strength profile, cut back where needed so the colour stays inside
the R'G'B' cube (near black and white there is no room for colour).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from vidbw.kernels.colour import luma_output_coding, neutral_chroma, yuv_to_rgb_matrix
from vidbw.kernels.toning import chroma_from_luma

__all__ = ["Toning", "TONINGS"]


@dataclass(frozen=True)
class Toning:
    """``tint``: an R'G'B' colour whose hue the toning takes (None: no toning).
    ``profile``: (gray value, strength) knots, linearly interpolated: how much of the
    tint's chroma is applied at each gray level (1 = the tint's own saturation)."""

    name: str
    description: str
    tint: tuple[float, float, float] | None = None
    profile: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0))

    @property
    def is_neutral(self) -> bool:
        """True for ``none``: the engine can write constant neutral chroma instead."""
        return self.tint is None

    def toned_rgb(self, v: np.ndarray, luma_weights: tuple[float, float, float]) -> np.ndarray:
        """(..., 3) R'G'B' of gray values ``v`` in [0, 1]; its luma (under
        ``luma_weights``) equals v."""
        v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)[..., None]
        if self.tint is None:
            return np.repeat(v, 3, axis=-1)
        tint = np.asarray(self.tint, dtype=np.float64)
        direction = tint - tint @ np.asarray(luma_weights)  # chroma only: zero luma
        knots_v, knots_s = zip(*self.profile)
        strength = np.interp(v, knots_v, knots_s)
        # Largest s keeping every channel of v + s·d inside [0, 1].
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(direction > 0, (1.0 - v) / direction, np.where(direction < 0, -v / direction, np.inf))
        strength = np.minimum(strength, room.min(axis=-1, keepdims=True))
        return v + strength * direction

    def chroma_luts(self, bit_depth: int, full_range: bool, matrix: str = "bt709") -> tuple[np.ndarray, np.ndarray]:
        """(lut_u, lut_v): chroma codes indexed by output luma code (2^bit_depth entries,
        uint8 for 8-bit, else uint16), for the output's YUV matrix and range."""
        return _chroma_luts(self, bit_depth, full_range, matrix)

    def apply(
        self,
        luma_plane: np.ndarray,
        out_u: np.ndarray,
        out_v: np.ndarray,
        bit_depth: int,
        full_range: bool,
        matrix: str = "bt709",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fill the (possibly subsampled) chroma planes of a toned frame from its luma."""
        if self.is_neutral:
            neutral = neutral_chroma(bit_depth)
            out_u[...] = neutral
            out_v[...] = neutral
            return out_u, out_v
        lut_u, lut_v = self.chroma_luts(bit_depth, full_range, matrix)
        return chroma_from_luma(luma_plane, lut_u, lut_v, out_u, out_v)


@functools.lru_cache(maxsize=32)
def _chroma_luts(toning: Toning, bit_depth: int, full_range: bool, matrix: str) -> tuple[np.ndarray, np.ndarray]:
    # The decoder-side matrix, inverted, is exactly the encoder's R'G'B' -> code map for
    # this matrix, range and depth; its luma row also gives the luma weights.
    to_rgb = yuv_to_rgb_matrix(matrix, full_range, bit_depth).astype(np.float64)
    to_code = np.linalg.inv(to_rgb[:, :3])
    luma_row = to_code[0]
    luma_weights = tuple(luma_row / luma_row.sum())

    offset, scale = luma_output_coding(full_range, bit_depth)
    codes = np.arange(2**bit_depth, dtype=np.float64)
    v = np.clip((codes - offset) / scale, 0.0, 1.0)
    rgb = toning.toned_rgb(v, luma_weights)
    yuv = (rgb - to_rgb[:, 3]) @ to_code.T
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = 2**bit_depth - 1
    lut_u, lut_v = (np.clip(np.floor(c + 0.5), 0, top).astype(dtype) for c in (yuv[:, 1], yuv[:, 2]))
    for lut in (lut_u, lut_v):
        lut.setflags(write=False)  # cached and shared
    return lut_u, lut_v


# Tint colours are R'G'B' hues of the real processes; profiles follow how each toner
# acts on silver: sepia (bleach and sulphide redevelopment) converts the thin silver
# of mid-tones and highlights most visibly, selenium attacks the dense shadow silver
# first, and a cyanotype is Prussian blue at every density.
TONINGS: tuple[Toning, ...] = (
    Toning("none", "No toning: pure neutral B&W"),
    Toning(
        "sepia",
        "Warm brown in the mid-tones and highlights, neutral deep blacks",
        tint=(0.72, 0.52, 0.30),
        profile=((0.0, 0.0), (0.15, 0.15), (0.45, 0.6), (1.0, 0.6)),
    ),
    Toning(
        "selenium",
        "Cool aubergine shadows, neutral highlights",
        tint=(0.52, 0.40, 0.58),
        profile=((0.0, 1.0), (0.3, 1.0), (0.6, 0.25), (0.85, 0.0), (1.0, 0.0)),
    ),
    Toning(
        "cyanotype",
        "Prussian blue throughout, like a sun print",
        tint=(0.18, 0.38, 0.62),
        profile=((0.0, 0.8), (1.0, 0.8)),
    ),
)
