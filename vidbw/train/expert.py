"""A generator of region-aware "expert" B&W styles, for training and evaluation targets.

An :class:`ExpertStyle` is what a darkroom printer / Lightroom retoucher does to one
colour photograph, sampled from a wide parameter space:

* hue-selective channel mixes: one (wR, wG, wB) mix per region, blended by soft,
  blurred masks for sky-blue, skin/orange, foliage-green and neutral/stone pixels;
* a graduated filter on the sky (top of the frame, weighted by blueness);
* skin and foliage tone treatments (brighten / darken the masked region);
* local contrast ("clarity": an unsharp mask with a large radius);
* dodge and burn (luminance-masked lift of highlights, burn of shadows);
* a vignette;
* a monotone tone curve (:class:`vidbw.styles.base.ToneCurve`).

Every scale is relative to the image size, so a style renders alike at 128 px and at
full resolution.  ``sample_style(seed, family)`` is deterministic.

Families: ``landscape``, ``portrait``, ``noir``, ``soft`` are used for training (seeds
below :data:`HELD_OUT_SEED_START`); ``infrared`` (foliage glows white, sky goes black)
is never trained on, and seeds >= :data:`HELD_OUT_SEED_START` of any family are
reserved for evaluation and for the shipped learned styles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from vidbw.styles.base import ToneCurve

__all__ = ["ExpertStyle", "sample_style", "TRAIN_FAMILIES", "HELD_OUT_FAMILIES", "HELD_OUT_SEED_START", "FAMILIES"]

TRAIN_FAMILIES = ("landscape", "portrait", "noir", "soft")
HELD_OUT_FAMILIES = ("infrared",)
FAMILIES = TRAIN_FAMILIES + HELD_OUT_FAMILIES
HELD_OUT_SEED_START = 100_000

REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
REGIONS = ("neutral", "sky", "skin", "foliage")
_HUE_CENTRES = {"sky": 215.0, "skin": 25.0, "foliage": 105.0}
_HUE_WIDTHS = {"sky": 30.0, "skin": 22.0, "foliage": 40.0}


@dataclass(frozen=True)
class ExpertStyle:
    family: str
    seed: int
    mixes: tuple  # 4 × (wR, wG, wB): neutral, sky, skin, foliage
    mask_blur: float  # sigma of the region masks, fraction of the long side
    grad_amount: float  # graduated filter: darkening at the top (negative lightens)
    grad_extent: float  # fraction of the height it covers
    grad_sky_weight: float  # 0: pure vertical grad, 1: only where the mask says sky
    skin_lift: float
    foliage_lift: float
    clarity: float
    clarity_radius: float  # fraction of the long side
    dodge: float
    burn: float
    vignette: float
    curve: tuple  # ToneCurve fields

    def render(self, rgb: np.ndarray) -> np.ndarray:
        """float32 (H, W, 3) R'G'B' in [0, 1] -> float32 (H, W) gray in [0, 1]."""
        rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        h, w = rgb.shape[:2]
        side = max(h, w)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        satw = np.clip((sat - 0.08) / 0.25, 0.0, 1.0) * np.clip(val / 0.15, 0.0, 1.0)
        masks = {}
        sigma = max(0.5, self.mask_blur * side)
        for region in ("sky", "skin", "foliage"):
            d = np.abs((hue - _HUE_CENTRES[region] + 180.0) % 360.0 - 180.0)
            m = np.exp(-0.5 * (d / _HUE_WIDTHS[region]) ** 2) * satw
            masks[region] = cv2.GaussianBlur(m, (0, 0), sigma)
        total = masks["sky"] + masks["skin"] + masks["foliage"]
        masks["neutral"] = np.clip(1.0 - total, 0.0, 1.0)
        norm = masks["neutral"] + total + 1e-6
        gray = np.zeros((h, w), np.float32)
        for region, mix in zip(REGIONS, self.mixes):
            gray += masks[region] / norm * (rgb @ np.asarray(mix, np.float32))
        # Region tone treatments.
        gray = gray * (1.0 + self.skin_lift * masks["skin"]) + 0.0
        gray = gray * (1.0 + self.foliage_lift * masks["foliage"])
        # Graduated filter on the sky.
        if self.grad_amount:
            y = (np.arange(h, dtype=np.float32) + 0.5) / h
            ramp = np.clip(1.0 - y / max(self.grad_extent, 1e-3), 0.0, 1.0) ** 1.5
            weight = ramp[:, None] * (
                (1.0 - self.grad_sky_weight) + self.grad_sky_weight * np.clip(masks["sky"] * 2.0, 0, 1)
            )
            gray = gray * (1.0 - self.grad_amount * weight)
        gray = np.clip(gray, 0.0, 1.0)
        # Local contrast.
        if self.clarity:
            blur = cv2.GaussianBlur(gray, (0, 0), max(0.5, self.clarity_radius * side))
            gray = gray + self.clarity * (gray - blur)
        # Dodge and burn by luminance masks (smooth).
        if self.dodge or self.burn:
            lum = cv2.GaussianBlur(gray, (0, 0), max(0.5, 0.02 * side))
            hi = np.clip((lum - 0.55) / 0.35, 0.0, 1.0)
            lo = np.clip((0.45 - lum) / 0.35, 0.0, 1.0)
            gray = gray + self.dodge * hi * (1.0 - gray) - self.burn * lo * gray
        # Vignette.
        if self.vignette:
            yy = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h * 2 - 1
            xx = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w * 2 - 1
            r2 = (xx * xx + yy * yy) / 2.0
            gray = gray * (1.0 - self.vignette * r2)
        gray = np.clip(gray, 0.0, 1.0)
        curve = ToneCurve(**dict(self.curve))
        lut = curve.lut(256)
        return np.interp(gray, np.linspace(0, 1, 256), lut).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


def _mix(rng: np.random.Generator, bias: tuple[float, float, float], spread: float) -> tuple[float, float, float]:
    w = np.asarray(bias, np.float64) + rng.normal(0.0, spread, 3)
    w = w / max(w.sum(), 0.3) * rng.uniform(0.9, 1.15)
    return float(w[0]), float(w[1]), float(w[2])


def sample_style(seed: int, family: str | None = None) -> ExpertStyle:
    """A deterministic style from ``seed``; ``family`` defaults to one chosen by the seed."""
    rng = np.random.default_rng([seed, 7919])
    if family is None:
        family = TRAIN_FAMILIES[seed % len(TRAIN_FAMILIES)]
    if family not in FAMILIES:
        raise ValueError(f"unknown style family {family!r} (choose from {', '.join(FAMILIES)})")
    u = rng.uniform
    base = _mix(rng, (0.30, 0.59, 0.11), 0.08)
    if family == "landscape":
        mixes = (
            base,
            _mix(rng, (0.55, 0.45, -0.05), 0.1),
            _mix(rng, (0.35, 0.55, 0.1), 0.06),
            _mix(rng, (0.25, 0.75, 0.0), 0.1),
        )
        grad = (u(0.15, 0.45), u(0.3, 0.6), u(0.3, 1.0))
        skin, foliage = u(-0.05, 0.1), u(-0.1, 0.25)
        clarity, dodge, burn, vig = u(0.1, 0.6), u(0.0, 0.2), u(0.0, 0.25), u(0.0, 0.35)
        curve = dict(contrast=u(1.0, 1.5), gamma=u(0.9, 1.15), toe=u(0.0, 0.1), shoulder=u(0.0, 0.1))
    elif family == "portrait":
        mixes = (
            base,
            _mix(rng, (0.3, 0.5, 0.2), 0.06),
            _mix(rng, (0.6, 0.35, 0.05), 0.08),
            _mix(rng, (0.25, 0.6, 0.15), 0.06),
        )
        grad = (u(0.0, 0.2), u(0.2, 0.5), u(0.0, 0.6))
        skin, foliage = u(0.05, 0.3), u(-0.2, 0.05)
        clarity, dodge, burn, vig = u(0.0, 0.25), u(0.05, 0.3), u(0.0, 0.15), u(0.1, 0.45)
        curve = dict(
            contrast=u(0.85, 1.2),
            gamma=u(1.0, 1.25),
            toe=u(0.0, 0.15),
            shoulder=u(0.05, 0.25),
            output_black=u(0.0, 0.06),
        )
    elif family == "noir":
        mixes = (
            _mix(rng, (0.5, 0.45, 0.05), 0.1),
            _mix(rng, (0.7, 0.4, -0.1), 0.1),
            _mix(rng, (0.6, 0.35, 0.05), 0.08),
            _mix(rng, (0.5, 0.5, 0.0), 0.1),
        )
        grad = (u(0.1, 0.5), u(0.2, 0.5), u(0.0, 1.0))
        skin, foliage = u(-0.1, 0.15), u(-0.3, 0.0)
        clarity, dodge, burn, vig = u(0.3, 0.9), u(0.0, 0.15), u(0.1, 0.4), u(0.2, 0.6)
        curve = dict(contrast=u(1.3, 2.0), black_point=u(0.0, 0.08), white_point=u(0.9, 1.0), toe=u(0.0, 0.08))
    elif family == "soft":
        mixes = (
            base,
            _mix(rng, (0.25, 0.6, 0.15), 0.08),
            _mix(rng, (0.45, 0.45, 0.1), 0.08),
            _mix(rng, (0.3, 0.65, 0.05), 0.08),
        )
        grad = (u(-0.1, 0.2), u(0.2, 0.6), u(0.0, 1.0))
        skin, foliage = u(-0.05, 0.15), u(-0.1, 0.15)
        clarity, dodge, burn, vig = u(0.0, 0.2), u(0.0, 0.2), u(0.0, 0.1), u(0.0, 0.2)
        curve = dict(
            contrast=u(0.7, 1.0),
            gamma=u(1.0, 1.3),
            output_black=u(0.02, 0.1),
            output_white=u(0.88, 1.0),
            shoulder=u(0.0, 0.2),
        )
    else:  # infrared: held out of training entirely
        mixes = (
            base,
            _mix(rng, (0.1, 0.3, -0.2), 0.05),
            _mix(rng, (0.55, 0.4, 0.05), 0.06),
            _mix(rng, (0.9, 0.6, -0.1), 0.1),
        )
        grad = (u(0.1, 0.3), u(0.3, 0.6), u(0.5, 1.0))
        skin, foliage = u(0.0, 0.15), u(0.2, 0.45)
        clarity, dodge, burn, vig = u(0.1, 0.4), u(0.05, 0.2), u(0.0, 0.2), u(0.05, 0.3)
        curve = dict(contrast=u(1.1, 1.5), toe=u(0.0, 0.1), shoulder=u(0.0, 0.15))
    return ExpertStyle(
        family=family,
        seed=int(seed),
        mixes=mixes,
        mask_blur=float(u(0.005, 0.02)),
        grad_amount=float(grad[0]),
        grad_extent=float(grad[1]),
        grad_sky_weight=float(grad[2]),
        skin_lift=float(skin),
        foliage_lift=float(foliage),
        clarity=float(clarity),
        clarity_radius=float(u(0.02, 0.06)),
        dodge=float(dodge),
        burn=float(burn),
        vignette=float(vig),
        curve=tuple(sorted((k, float(v)) for k, v in curve.items())),
    )
