"""The built-in looks, and the spectral model their channel mixes come from.

A B&W emulsion records ∫ S(λ)·E(λ) dλ, where S is its spectral sensitivity and E the
light reaching it.  To turn that into weights on R'G'B' we model each sRGB primary as
a narrow spectral band b_c(λ) and take ``w_c ∝ ∫ S(λ)·F(λ)·b_c(λ) dλ``, with F the
transmission of an optional lens filter, normalised so wR + wG + wB = 1 (a neutral
grey stays the same grey).  The band heights are calibrated so that the human eye's
photopic sensitivity V(λ) yields exactly the Rec.709 luma weights: an emulsion that
"sees like the eye" gives the ``neutral`` look, and every stock is judged against it.

The sensitivity curves are sums of Gaussians shaped after the published spectral
sensitivity charts (log sensitivity vs wavelength) of the stocks they emulate, read
off by eye; they are approximations for a look, not colorimetry.  The filter curves
follow the shape of the Kodak Wratten transmission charts.  Everything is evaluated
at import time on a 1 nm grid from 400 to 700 nm; ``channel_mix`` is public so the
numbers can be inspected (``docs/STYLES.md`` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidbw.kernels.colour import REC709_LUMA
from vidbw.styles.base import ClassicStyle, ToneCurve

__all__ = [
    "WAVELENGTHS_NM",
    "Sensitivity",
    "Filter",
    "channel_mix",
    "PHOTOPIC",
    "STOCKS",
    "FILTERS",
    "CLASSIC_STYLES",
]

WAVELENGTHS_NM = np.arange(400.0, 701.0, 1.0)


def _gaussian(centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((WAVELENGTHS_NM - centre) / sigma) ** 2)


def _logistic(edge_nm: float, width_nm: float) -> np.ndarray:
    """0 → 1 step whose 50 % point is at ``edge_nm`` (negative width: 1 → 0)."""
    return 1.0 / (1.0 + np.exp(-(WAVELENGTHS_NM - edge_nm) / width_nm))


@dataclass(frozen=True)
class Sensitivity:
    """An emulsion's relative spectral sensitivity: Gaussian lobes (centre nm, sigma nm,
    height), times a soft long-wavelength cut-off where the sensitising dyes stop."""

    lobes: tuple[tuple[float, float, float], ...]
    red_cutoff_nm: float = 800.0  # beyond the grid: no cut-off
    cutoff_width_nm: float = 6.0

    def curve(self) -> np.ndarray:
        s = sum(height * _gaussian(centre, sigma) for centre, sigma, height in self.lobes)
        return s * _logistic(self.red_cutoff_nm, -self.cutoff_width_nm)


@dataclass(frozen=True)
class Filter:
    """A lens filter's transmission: a long-pass edge (yellow/orange/red) or a band-pass
    Gaussian (green), plus the small leak real gelatin filters have."""

    long_pass_nm: float | None = None
    edge_width_nm: float = 10.0
    band: tuple[float, float] | None = None  # (centre nm, sigma nm)
    leak: float = 0.0

    def curve(self) -> np.ndarray:
        t = np.ones_like(WAVELENGTHS_NM)
        if self.long_pass_nm is not None:
            t = t * _logistic(self.long_pass_nm, self.edge_width_nm)
        if self.band is not None:
            t = t * _gaussian(*self.band)
        return self.leak + (1.0 - self.leak) * t


# CIE 1924 photopic luminous efficiency V(λ), the common single-Gaussian fit
# 1.019·exp(-285.4·(λ[µm] - 0.559)²): peak 559 nm, sigma ≈ 42 nm.
PHOTOPIC = 1.019 * np.exp(-285.4 * (WAVELENGTHS_NM / 1000.0 - 0.559) ** 2)


def _primary_bands() -> np.ndarray:
    """(3, L) spectral bands of the sRGB red, green and blue primaries.

    Shapes: Gaussians at the primaries' dominant wavelengths (about 611, 549 and
    464 nm for sRGB; we use the emission peaks of typical displays, 610/540/455 nm).
    Heights: chosen so that ∫ V(λ)·b_c(λ) dλ equals the Rec.709 luma weight of c,
    i.e. the eye sees the primaries with their defined luminances.
    """
    bands = np.stack([_gaussian(610.0, 20.0), _gaussian(540.0, 25.0), _gaussian(455.0, 18.0)])
    seen_by_eye = bands @ PHOTOPIC
    return bands * (np.asarray(REC709_LUMA) / seen_by_eye)[:, None]


_BANDS = _primary_bands()


def channel_mix(sensitivity: np.ndarray, transmission: np.ndarray | None = None) -> tuple[float, float, float]:
    """(wR, wG, wB), summing to 1, that an emulsion with ``sensitivity`` behind a filter
    with ``transmission`` (both sampled on ``WAVELENGTHS_NM``) applies to R'G'B'."""
    seen = sensitivity if transmission is None else sensitivity * transmission
    w = _BANDS @ seen
    w = w / w.sum()
    return (float(w[0]), float(w[1]), float(w[2]))


# Lobes read off the manufacturers' spectral sensitivity charts.  Panchromatic stocks
# share a shape: a broad blue lobe (native silver halide), a dip near 500 nm (the
# "green gap"), green- and red-sensitised lobes, and a cut-off near 650–670 nm.
STOCKS: dict[str, Sensitivity] = {
    # Kodak Tri-X 400: strong blue, red lobe to ~655 nm.
    "tri-x": Sensitivity(lobes=((440, 40, 0.60), (545, 28, 0.70), (615, 25, 1.00)), red_cutoff_nm=655),
    # Ilford HP5 Plus: similar, red lobe a little longer, slightly more green.
    "hp5": Sensitivity(lobes=((445, 40, 0.58), (550, 30, 0.75), (620, 22, 0.90)), red_cutoff_nm=660),
    # Kodak T-Max 100: flatter, fuller green, red cut-off a bit shorter (~650 nm).
    "t-max": Sensitivity(lobes=((440, 40, 0.52), (545, 35, 0.80), (610, 25, 0.90)), red_cutoff_nm=650),
    # Ilford Pan F Plus: extended red sensitivity out to ~670 nm (skin and lips lighter).
    "pan-f": Sensitivity(lobes=((440, 40, 0.45), (545, 30, 0.70), (630, 25, 1.30)), red_cutoff_nm=670),
    # Orthochromatic (e.g. Ilford Ortho Plus, early cine stock): blue and green only,
    # sensitivity collapses past ~585 nm.
    "ortho": Sensitivity(lobes=((430, 35, 1.00), (510, 30, 0.80)), red_cutoff_nm=585, cutoff_width_nm=8),
}

# Kodak Wratten numbers: #8 yellow (50 % near 490 nm), #21 orange (~555 nm),
# #25 red (~595 nm), #58 green (band-pass peaking near 530 nm).
FILTERS: dict[str, Filter] = {
    "yellow": Filter(long_pass_nm=490, edge_width_nm=10, leak=0.02),
    "orange": Filter(long_pass_nm=555, edge_width_nm=10, leak=0.01),
    "red": Filter(long_pass_nm=595, edge_width_nm=8, leak=0.005),
    "green": Filter(band=(530, 28), leak=0.01),
}

# The stock behind the filter looks: the classic pairing for filtered landscapes.
_FILTERED_STOCK = "tri-x"


def _global(mix: tuple[float, float, float]) -> tuple[tuple[float, float, float, float], ...]:
    """One luma bin, no offset: the weights of a look whose mix does not vary with luma."""
    return ((*mix, 0.0),)


def _stock(name: str) -> tuple[tuple[float, float, float, float], ...]:
    return _global(channel_mix(STOCKS[name].curve()))


def _filtered(filter_name: str) -> tuple[tuple[float, float, float, float], ...]:
    return _global(channel_mix(STOCKS[_FILTERED_STOCK].curve(), FILTERS[filter_name].curve()))


# Infrared film (Kodak HIE, Ilford SFX behind a #25/#89B) records mostly light beyond
# 700 nm, which RGB never saw, so this mix cannot be derived; it is set by hand.
# Chlorophyll reflects near-IR strongly (the Wood effect), and green is the best proxy
# we have for "is foliage"; blue sky has almost no IR, so blue is subtracted.
_INFRARED_MIX = (0.45, 1.05, -0.50)

CLASSIC_STYLES: tuple[ClassicStyle, ...] = (
    ClassicStyle(
        "neutral",
        "Rec.709 luma, straight curve: the plain reference conversion",
        _global(REC709_LUMA),
        ToneCurve(),
    ),
    ClassicStyle(
        "tri-x",
        "Tri-X-like pan stock: pale skies, deep foliage, punchy and gritty",
        _stock("tri-x"),
        ToneCurve(contrast=1.25, pivot=0.45, toe=0.03, shoulder=0.05),
    ),
    ClassicStyle(
        "hp5",
        "HP5-like pan stock: pale skies, soft shoulder, open shadows",
        _stock("hp5"),
        ToneCurve(gamma=1.03, contrast=1.12, pivot=0.45, toe=0.05, shoulder=0.08),
    ),
    ClassicStyle(
        "t-max",
        "T-Max-like fine-grain stock: clean, long straight-line curve",
        _stock("t-max"),
        ToneCurve(contrast=1.15, toe=0.02, shoulder=0.02),
    ),
    ClassicStyle(
        "pan-f",
        "Pan-F-like slow stock: extended red, lighter skin, crisp contrast",
        _stock("pan-f"),
        ToneCurve(contrast=1.35, toe=0.02, shoulder=0.04),
    ),
    ClassicStyle(
        "orthochromatic",
        "Blind to red: reds and lips go dark, skies pale, old-cinema feel",
        _stock("ortho"),
        ToneCurve(gamma=0.95, contrast=1.2, toe=0.04, shoulder=0.03),
    ),
    ClassicStyle(
        "infrared",
        "IR film look: foliage glows white, blue sky near black, dreamy",
        _global(_INFRARED_MIX),
        ToneCurve(black_point=0.02, gamma=1.3, contrast=1.2, pivot=0.5, shoulder=0.15),
    ),
    ClassicStyle(
        "yellow",
        "Yellow #8 filter on pan stock: skies a touch darker, natural skin",
        _filtered("yellow"),
        ToneCurve(contrast=1.1, toe=0.03, shoulder=0.05),
    ),
    ClassicStyle(
        "orange",
        "Orange #21 filter: darker skies, smoother skin, less haze",
        _filtered("orange"),
        ToneCurve(contrast=1.15, toe=0.03, shoulder=0.04),
    ),
    ClassicStyle(
        "red",
        "Red #25 filter: dramatic near-black skies, bright reds and skin",
        _filtered("red"),
        ToneCurve(black_point=0.02, contrast=1.3, toe=0.02, shoulder=0.04),
    ),
    ClassicStyle(
        "green",
        "Green #58 filter: lighter foliage, darker reds and lips",
        _filtered("green"),
        ToneCurve(gamma=1.05, contrast=1.05, toe=0.03, shoulder=0.05),
    ),
    ClassicStyle(
        "noir",
        "Film noir: hard contrast, crushed blacks, hot highlights",
        _stock("tri-x"),
        ToneCurve(black_point=0.10, white_point=0.95, contrast=1.6, pivot=0.45, shoulder=0.05),
    ),
    ClassicStyle(
        "high-key",
        "High-key: bright, airy, lifted shadows, low contrast",
        _stock("t-max"),
        ToneCurve(gamma=1.5, contrast=0.85, shoulder=0.2, output_black=0.10),
    ),
    ClassicStyle(
        "soft-matte",
        "Matte print: lifted blacks, dimmed whites, gentle contrast",
        _stock("hp5"),
        ToneCurve(contrast=0.85, toe=0.1, shoulder=0.1, output_black=0.08, output_white=0.93),
    ),
)
