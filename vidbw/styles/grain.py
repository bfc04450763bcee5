"""Film grain: a few seeded noise tiles made once, picked and shifted per frame.

The slicing kernel adds ``amount · 4v(1−v) · tile[(y+oy) % th, (x+ox) % tw]`` to each
output value v, so grain is strongest in the mid-tones and vanishes in pure black and
white, as with silver grain.  Generating noise for every 4K frame would cost more
than the whole conversion; instead we make ``TILE_COUNT`` tiles up front and give each
frame a (tile, offset) pair drawn from (seed, frame index).  Consecutive frames land
on unrelated tiles and offsets, so the grain "dances" like real grain, and a given
frame always gets the same grain, so re-renders and partial renders match.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from vidbw.errors import OptionError

__all__ = ["FilmGrain", "TILE_SIZE", "TILE_COUNT"]

TILE_SIZE = 256
TILE_COUNT = 4


class FilmGrain:
    """Seeded, reproducible film grain.

    ``amount``: grain strength at mid-grey as a fraction of full scale (0 = off;
    0.03 subtle, 0.06 visible, 0.1+ heavy).  ``size``: blur radius (Gaussian sigma, in
    output pixels) that clumps the noise into grains; 0 gives single-pixel noise.
    Grain is in output pixels, so callers may scale ``size`` with the frame height
    (e.g. ``size * height / 1080``) to keep the same look at every resolution.
    """

    def __init__(self, amount: float, size: float = 1.0, seed: int = 0) -> None:
        if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
            raise OptionError(f"grain amount must be between 0 and 1, got {amount}")
        if not (math.isfinite(size) and 0.0 <= size <= 16.0):
            raise OptionError(f"grain size must be between 0 and 16 pixels, got {size}")
        self.amount = float(amount)
        self.size = float(size)
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"FilmGrain(amount={self.amount}, size={self.size}, seed={self.seed})"

    @property
    def enabled(self) -> bool:
        return self.amount > 0.0

    @functools.cached_property
    def tiles(self) -> tuple[np.ndarray, ...]:
        """``TILE_COUNT`` float32 (TILE_SIZE, TILE_SIZE) tiles, zero mean, unit std."""
        rng = np.random.default_rng([self.seed, 0x6A41])  # tag: tiles, not per-frame draws
        tiles = []
        for _ in range(TILE_COUNT):
            noise = rng.standard_normal((TILE_SIZE, TILE_SIZE))
            grain = _periodic_blur(noise, self.size)
            grain = (grain - grain.mean()) / grain.std()
            tile = np.ascontiguousarray(grain, dtype=np.float32)
            tile.setflags(write=False)
            tiles.append(tile)
        return tuple(tiles)

    def for_frame(self, frame_index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """(tile, (ox, oy)) for this frame: the same answer every time for the same
        (seed, frame_index), different tiles/offsets from one frame to the next."""
        rng = np.random.default_rng([self.seed, int(frame_index)])
        which, ox, oy = rng.integers(0, [TILE_COUNT, TILE_SIZE, TILE_SIZE])
        return self.tiles[int(which)], (int(ox), int(oy))

    def kernel_args(self, frame_index: int) -> dict:
        """Keyword arguments for ``slice_apply``: empty when grain is off."""
        if not self.enabled:
            return {}
        tile, (ox, oy) = self.for_frame(frame_index)
        return {"grain": tile, "grain_offset": (ox, oy), "grain_amount": self.amount}


def _periodic_blur(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around edges (done in the Fourier domain), so the tile
    stays seamless when the kernel repeats it across the frame."""
    if sigma <= 0.0:
        return noise
    fy = np.fft.fftfreq(noise.shape[0])[:, None]
    fx = np.fft.rfftfreq(noise.shape[1])[None, :]
    transfer = np.exp(-2.0 * (math.pi * sigma) ** 2 * (fx * fx + fy * fy))
    return np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=noise.shape)
