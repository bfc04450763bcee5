"""What a style is: a bilateral grid of channel weights plus a tone curve.

Every look, built-in or learned, reaches the kernel in the same form
(:func:`vidbw.kernels.slicing.slice_apply`)::

    grid     float32 (4, D, Gh, Gw)   (wR, wG, wB, c) per luma bin × grid row × grid column
    tone_lut float32 (K,)             gray -> output value, samples at i/(K-1)

A classic style's grid does not depend on the picture (Gh = Gw = 1), so the engine
can skip the low-resolution copy and the network entirely (``is_constant``).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

__all__ = ["Style", "ClassicStyle", "ToneCurve", "TONE_LUT_SIZE", "KeepPicture"]

TONE_LUT_SIZE = 1024


@dataclass(frozen=True)
class ToneCurve:
    """A monotone tone curve, applied in this order to a gray value in [0, 1]:

    1. input levels: ``black_point`` → 0 and ``white_point`` → 1 (values outside clip:
       a black point above 0 crushes the shadows);
    2. ``gamma`` on the mid-tones (> 1 brightens, like the middle slider of Levels);
    3. an S-curve of slope ``contrast`` at ``pivot`` (> 1 adds contrast, < 1 flattens);
    4. a film-like ``toe`` and ``shoulder`` (0..~0.3): rounded roll-offs into black
       and white instead of hard clipping;
    5. output levels: 0 → ``output_black`` and 1 → ``output_white`` (a lifted black
       or a lowered white gives a matte print).

    Every step is monotone non-decreasing and keeps [0, 1] in [0, 1], so the curve is too.
    """

    black_point: float = 0.0
    white_point: float = 1.0
    gamma: float = 1.0
    contrast: float = 1.0
    pivot: float = 0.5
    toe: float = 0.0
    shoulder: float = 0.0
    output_black: float = 0.0
    output_white: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.black_point < self.white_point <= 1.0:
            raise ValueError(f"need 0 <= black_point < white_point <= 1, got {self.black_point}, {self.white_point}")
        if not 0.0 <= self.output_black < self.output_white <= 1.0:
            raise ValueError(
                f"need 0 <= output_black < output_white <= 1, got {self.output_black}, {self.output_white}"
            )
        if self.gamma <= 0 or self.contrast <= 0 or not 0.0 < self.pivot < 1.0:
            raise ValueError("gamma and contrast must be > 0 and pivot in (0, 1)")
        if self.toe < 0 or self.shoulder < 0:
            raise ValueError("toe and shoulder must be >= 0")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = np.clip(
            (np.asarray(x, dtype=np.float64) - self.black_point) / (self.white_point - self.black_point), 0.0, 1.0
        )
        t = t ** (1.0 / self.gamma)
        t = _s_curve(t, self.contrast, self.pivot)
        t = _toe(t, self.toe)
        t = 1.0 - _toe(1.0 - t, self.shoulder)  # a shoulder is a toe seen from the white end
        return self.output_black + (self.output_white - self.output_black) * t

    def lut(self, size: int = TONE_LUT_SIZE) -> np.ndarray:
        """The curve sampled at i/(size-1): float32, in [0, 1], non-decreasing."""
        lut = np.clip(self(np.linspace(0.0, 1.0, size)), 0.0, 1.0)
        # Rounding could in principle leave a 1-ulp dip; the kernel's interpolation assumes none.
        return np.maximum.accumulate(lut).astype(np.float32)


def _s_curve(t: np.ndarray, contrast: float, pivot: float) -> np.ndarray:
    """Two power arcs meeting at ``pivot`` with slope ``contrast``; fixes 0, pivot and 1."""
    if contrast == 1.0:
        return t
    below = pivot * (np.minimum(t, pivot) / pivot) ** contrast
    above = 1.0 - (1.0 - pivot) * ((1.0 - np.maximum(t, pivot)) / (1.0 - pivot)) ** contrast
    return np.where(t < pivot, below, above)


def _toe(t: np.ndarray, amount: float) -> np.ndarray:
    """Round off the approach to 0: ``(1+a)·t²/(t+a)``.

    Fixes 0 and 1, is increasing, and behaves like a straight line for t ≫ a with a
    smooth bend of width ~a at black (a film's toe), instead of a hard corner.
    """
    if amount == 0.0:
        return t
    return (1.0 + amount) * t * t / (t + amount)


class Style(ABC):
    """A B&W look as the render engine sees it.

    Subclasses set ``name`` (lowercase-hyphen, what the user types), ``description``
    (≤ 70 characters, shown in the CLI table) and ``kind`` ("classic" or "learned").
    """

    name: str
    description: str
    kind: ClassVar[str]

    @abstractmethod
    def grids_for(self, lowres_rgb_batch: np.ndarray) -> np.ndarray:
        """Grids for a batch of frames.

        ``lowres_rgb_batch``: float32 (N, h, w, 3) R'G'B' in [0, 1], a small copy of each
        frame.  Returns float32 (N, 4, D, Gh, Gw).  A constant style ignores the pixels
        (only N is used), so the engine may pass an (N, 1, 1, 3) placeholder.
        """

    @property
    @abstractmethod
    def tone_lut(self) -> np.ndarray:
        """float32 (K,) tone curve in [0, 1], non-decreasing, samples at i/(K-1)."""

    @property
    def is_constant(self) -> bool:
        """True when the grid does not depend on the picture: no low-res copy needed."""
        return False

    def constant_grid(self) -> np.ndarray:
        """The single float32 (4, D, Gh, Gw) grid of a constant style."""
        if not self.is_constant:
            raise TypeError(f"style {self.name!r} predicts a grid per frame; use grids_for()")
        return self.grids_for(np.zeros((1, 1, 1, 3), dtype=np.float32))[0]


Weights = tuple[float, float, float, float]  # (wR, wG, wB, c)


@dataclass(frozen=True)
class ClassicStyle(Style):
    """A fixed look: a channel mix (optionally varying with luma) and a tone curve.

    ``weights`` holds one (wR, wG, wB, c) per luma bin, darkest bin first; one entry
    is a global mix.  With D > 1 entries the kernel interpolates between bins by the
    pixel's luma, so e.g. shadows and highlights can be filtered differently.
    Weights may be negative (the kernel clips gray to [0, 1]).
    """

    name: str
    description: str
    weights: tuple[Weights, ...]
    curve: ToneCurve = field(default_factory=ToneCurve)
    kind: ClassVar[str] = "classic"

    def __post_init__(self) -> None:
        if not self.weights or any(len(w) != 4 for w in self.weights):
            raise ValueError(f"style {self.name!r}: weights must be one or more (wR, wG, wB, c)")
        if len(self.description) > 70:
            raise ValueError(f"style {self.name!r}: description longer than 70 characters")

    @property
    def is_constant(self) -> bool:
        return True

    @functools.cached_property
    def _grid(self) -> np.ndarray:
        grid = np.asarray(self.weights, dtype=np.float32).T  # (4, D)
        grid = np.ascontiguousarray(grid[:, :, None, None])  # (4, D, 1, 1)
        grid.setflags(write=False)  # shared by every frame; nobody may edit it in place
        return grid

    def grids_for(self, lowres_rgb_batch: np.ndarray) -> np.ndarray:
        # A fresh array: the engine may smooth or edit grids in place.
        return np.repeat(self._grid[None], len(lowres_rgb_batch), axis=0)

    def constant_grid(self) -> np.ndarray:
        # The cached read-only grid itself: the render loop asks for it once per frame.
        return self._grid

    @functools.cached_property
    def tone_lut(self) -> np.ndarray:  # type: ignore[override]
        lut = self.curve.lut()
        lut.setflags(write=False)
        return lut

    @property
    def mix(self) -> tuple[float, float, float]:
        """The (wR, wG, wB) of the middle luma bin, for tables and docs."""
        r, g, b, _ = self.weights[len(self.weights) // 2]
        return (r, g, b)


class KeepPicture:
    """The look of `vidbw restore`: the picture's own luma and colours, written unchanged."""

    name = "original"
    is_constant = True
    colorizes = False
    keeps_picture = True
    tone_lut = None

    def constant_grid(self) -> np.ndarray:
        return _NO_GRID


_NO_GRID = np.zeros((4, 1, 1, 1), np.float32)  # the kernels never read it: the picture is copied
