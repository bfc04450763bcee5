"""The style encoder (the "first network"), its hierarchical proxies, and subject clusters.

* :func:`kmeans` — subject clusters are k-means centroids of the fixed content features
  (:mod:`vidbw.models.content`) over the training photographs: no labels, the data decides.
* :class:`StyleEncoder` — a small CNN embedding a B&W photo together with its colour
  source (4 channels, 64×64) into a unit-norm style space.
* :func:`proxy_anchor_loss` — Proxy-Anchor (Kim et al., CVPR 2020); used twice, on the
  fine proxies (one per (style, subject cluster)) and on the parent proxies (one per
  style), so photos of one style gather while subjects separate within it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["kmeans", "StyleEncoder", "proxy_anchor_loss"]


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Centroids (k, d) by k-means++ and Lloyd iterations; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float64)
    seeds = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min(((x[:, None] - np.asarray(seeds)[None]) ** 2).sum(-1), axis=1)
        seeds.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    cent = np.asarray(seeds)
    for _ in range(iters):
        lab = np.argmin(((x[:, None] - cent[None]) ** 2).sum(-1), axis=1)
        new = np.array([x[lab == j].mean(0) if np.any(lab == j) else cent[j] for j in range(k)])
        if np.allclose(new, cent):
            break
        cent = new
    return cent.astype(np.float32)


class StyleEncoder(nn.Module):
    """(bw (N, 1, h, w), rgb (N, 3, h, w)) in [0, 1] -> unit-norm embedding (N, dim)."""

    def __init__(self, dim: int = 32, size: int = 64):
        super().__init__()
        self.size = size
        self.net = nn.Sequential(
            nn.Conv2d(4, 24, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(24, 48, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(48, 64, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, 2, 1),
            nn.ReLU(),
        )
        # Global statistics of the B&W side and of its relation to the colour side.
        self.fc = nn.Sequential(nn.Linear(64 * 2 + 16 + 6, 96), nn.ReLU(), nn.Linear(96, dim))

    def forward(self, bw: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        s = self.size
        bw = F.adaptive_avg_pool2d(bw, (s, s))
        rgb = F.adaptive_avg_pool2d(rgb, (s, s))
        luma = 0.2126 * rgb[:, 0:1] + 0.7152 * rgb[:, 1:2] + 0.0722 * rgb[:, 2:3]
        x = torch.cat([bw - luma, rgb], 1)
        f = self.net(x)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        flat = bw.flatten(1)
        q = torch.quantile(flat, torch.linspace(0.02, 0.98, 16, device=bw.device), dim=1).T
        rgbf = rgb.flatten(2)
        bc = flat - flat.mean(1, keepdim=True)
        rc = rgbf - rgbf.mean(2, keepdim=True)
        corr = (rc * bc[:, None]).mean(2) / (rc.std(2) * bc.std(1, keepdim=True) + 1e-4)
        stats = torch.cat(
            [corr, flat.mean(1, keepdim=True), flat.std(1, keepdim=True), (bw - luma).flatten(1).mean(1, keepdim=True)],
            1,
        )
        return F.normalize(self.fc(torch.cat([pooled, q, stats], 1)), dim=1)


def proxy_anchor_loss(
    emb: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, alpha: float = 32.0, delta: float = 0.1
) -> torch.Tensor:
    """Proxy-Anchor loss; ``emb`` (N, d) unit-norm, ``labels`` (N,) int, ``proxies`` (P, d)."""
    p = F.normalize(proxies, dim=1)
    sim = emb @ p.T  # (N, P)
    pos = F.one_hot(labels, p.shape[0]).to(sim.dtype)
    neg = 1.0 - pos
    pos_exp = torch.exp(-alpha * (sim - delta)) * pos
    neg_exp = torch.exp(alpha * (sim + delta)) * neg
    with_pos = pos.sum(0) > 0
    n_valid = with_pos.sum().clamp(min=1)
    pos_term = torch.log1p(pos_exp.sum(0))[with_pos].sum() / n_valid
    neg_term = torch.log1p(neg_exp.sum(0)).sum() / p.shape[0]
    return pos_term + neg_term
