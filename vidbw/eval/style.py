"""Evaluation of style imitation: learn a style on some pairs, measure PSNR/SSIM on the others.

Compared with two baselines fitted on the same training pairs:

1. ``rec709``: the Rec.709 luma of the colour photo (nothing to fit);
2. ``mix+curve``: the best single global channel mix (least squares, with an offset)
   followed by a monotone tone curve (binned least squares on the mixed values, made
   monotone by pool-adjacent-violators).

The learned style is rendered at the pairs' full resolution through the real numba kernel
(:func:`vidbw.render.render_image_array`), exactly as ``vidbw convert`` would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vidbw.metrics import psnr, ssim
from vidbw.train.style_learn import Pair, at_work_size, fit_style, make_style, render_style, split_pairs

__all__ = ["MixCurve", "fit_mix_curve", "evaluate_style", "StyleEval"]

REC709 = np.array([0.2126, 0.7152, 0.0722])


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators."""
    vals, wts, counts = [], [], []
    for yi, wi in zip(y, w):
        vals.append(yi)
        wts.append(wi)
        counts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2, c2 = vals.pop(), wts.pop(), counts.pop()
            v1, w1, c1 = vals.pop(), wts.pop(), counts.pop()
            wt = w1 + w2
            vals.append((v1 * w1 + v2 * w2) / wt if wt > 0 else (v1 + v2) / 2)
            wts.append(wt)
            counts.append(c1 + c2)
    return np.repeat(vals, counts)


@dataclass
class MixCurve:
    mix: np.ndarray  # (4,) wR, wG, wB, c
    xs: np.ndarray
    ys: np.ndarray

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        m = rgb.reshape(-1, 3) @ self.mix[:3] + self.mix[3]
        return np.clip(np.interp(m, self.xs, self.ys), 0, 1).reshape(rgb.shape[:2])


def fit_mix_curve(pairs: list[Pair], bins: int = 256, max_pixels: int = 400_000, seed: int = 0) -> MixCurve:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for p in pairs:
        c, b = at_work_size(p)
        xs.append(c.reshape(-1, 3))
        ys.append(b.reshape(-1))
    x = np.concatenate(xs).astype(np.float64)
    y = np.concatenate(ys).astype(np.float64)
    if len(x) > max_pixels:
        sel = rng.choice(len(x), max_pixels, replace=False)
        x, y = x[sel], y[sel]
    a = np.concatenate([x, np.ones((len(x), 1))], 1)
    mix, *_ = np.linalg.lstsq(a, y, rcond=None)
    m = a @ mix
    lo, hi = np.percentile(m, 0.1), np.percentile(m, 99.9)
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.digitize(m, edges) - 1, 0, bins - 1)
    cnt = np.bincount(idx, minlength=bins).astype(np.float64)
    sums = np.bincount(idx, weights=y, minlength=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    keep = cnt > 0
    fitted = _pav(sums[keep] / cnt[keep], cnt[keep])
    return MixCurve(mix, centres[keep], fitted)


@dataclass
class StyleEval:
    n_train: int
    n_test: int
    rows: dict  # method -> (psnr, ssim)
    per_image: list = field(default_factory=list)
    fit_seconds: float = 0.0

    @property
    def gain_over_mix_curve(self) -> float:
        return self.rows["learned"][0] - self.rows["mix+curve"][0]

    def to_dict(self) -> dict:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "rows": self.rows,
            "per_image": self.per_image,
            "fit_seconds": self.fit_seconds,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def evaluate_style(
    pairs: list[Pair], train_fraction: float = 0.6, seed: int = 0, steps: int = 300, progress: Callable | None = None
) -> StyleEval:
    train, test = split_pairs(pairs, train_fraction, seed)
    result = fit_style(train, steps=steps, seed=seed, progress=progress)
    style = make_style("eval-style", "evaluation fit", result)
    baseline = fit_mix_curve(train, seed=seed)
    scores: dict[str, list] = {"rec709": [], "mix+curve": [], "learned": []}
    per_image = []
    for p in test:
        outs = {
            "rec709": np.clip(p.color @ REC709, 0, 1),
            "mix+curve": baseline(p.color),
            "learned": render_style(style, p.color),
        }
        row: dict[str, str | tuple[float, float]] = {"stem": p.stem}
        for k, v in outs.items():
            s = (psnr(v, p.bw), ssim(v, p.bw))
            scores[k].append(s)
            row[k] = s
        per_image.append(row)
    rows = {k: (float(np.mean([s[0] for s in v])), float(np.mean([s[1] for s in v]))) for k, v in scores.items()}
    return StyleEval(len(train), len(test), rows, per_image, result["seconds"])
