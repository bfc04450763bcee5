"""The grid network: a low-resolution colour frame + a style code -> a bilateral grid.

HDRNet-like.  The frame (any size <= 256 px, any aspect) is area-resized to a fixed
``in_size`` square and given two coordinate channels (so vignettes and graduated filters
are learnable).  A strided CNN gives local features at the grid resolution (16×16); a
global branch (two more strided convs, pooling, a linear layer) gives one vector per
frame; they are fused and a 1×1 head predicts ``4·D`` coefficients per cell.  The style
code (a proxy vector) modulates every conv layer FiLM-style (per-channel scale and
shift), which plays the role of the paper's source-to-target statistic swap.

The head predicts a *residual* around the Rec.709 prior ``(0.2126, 0.7152, 0.0722, 0)``
and is zero-initialised, so an untrained or weak code still gives a sensible B&W.
An optional per-style ``adapter`` (a zero-initialised residual 1×1 head) is what few-shot
style learning may fit on top of the proxies.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidbw.models.inference import PRIOR, GridNetConfig  # the shape, shared with the numpy forward pass

__all__ = ["GridNetConfig", "GridNet"]


class GridNet(nn.Module):
    # registered buffers
    prior: torch.Tensor
    coords: torch.Tensor

    def __init__(self, cfg: GridNetConfig = GridNetConfig()):
        super().__init__()
        self.cfg = cfg
        w1, w2, w3 = cfg.widths
        self.c1 = nn.Conv2d(5, w1, 3, 2, 1)
        self.c2 = nn.Conv2d(w1, w2, 3, 2, 1)
        self.c3 = nn.Conv2d(w2, w3, 3, 2, 1)
        self.l1 = nn.Conv2d(w3, w3, 3, 1, 1)
        self.l2 = nn.Conv2d(w3, w3, 3, 1, 1)
        self.g1 = nn.Conv2d(w3, w3, 3, 2, 1)
        self.g2 = nn.Conv2d(w3, w3, 3, 2, 1)
        self.gfc = nn.Linear(w3, w3)
        self.head = nn.Conv2d(w3, 4 * cfg.depth, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None  # Conv2d built with bias=True
        nn.init.zeros_(self.head.bias)
        self._film_sizes = [w1, w2, w3, w3]
        self.film = nn.Sequential(
            nn.Linear(cfg.style_dim, cfg.film_hidden), nn.ReLU(), nn.Linear(cfg.film_hidden, 2 * sum(self._film_sizes))
        )
        film_out = cast(nn.Linear, self.film[2])
        nn.init.zeros_(film_out.weight)
        nn.init.zeros_(film_out.bias)
        prior = torch.tensor(PRIOR, dtype=torch.float32).view(1, 4, 1, 1, 1)
        self.register_buffer("prior", prior, persistent=False)
        g = cfg.in_size
        ys = torch.linspace(-1, 1, g).view(1, 1, g, 1).expand(1, 1, g, g)
        xs = torch.linspace(-1, 1, g).view(1, 1, 1, g).expand(1, 1, g, g)
        self.register_buffer("coords", torch.cat([xs, ys], 1).contiguous(), persistent=False)

    def features(self, rgb: torch.Tensor, code: torch.Tensor, film_b: torch.Tensor | None = None) -> torch.Tensor:
        """rgb (N, 3, h, w) in [0, 1], code (N, style_dim) -> fused features (N, C, G, G).

        ``film_b`` (optional, (2·ΣC,)): a per-style offset added to the FiLM parameters."""
        n = rgb.shape[0]
        s = self.cfg.in_size
        x = F.adaptive_avg_pool2d(rgb, (s, s)) if rgb.shape[-2:] != (s, s) else rgb
        x = torch.cat([x, self.coords.expand(n, -1, -1, -1)], 1)
        film = self.film(code)
        if film_b is not None:
            film = film + film_b
        params = torch.split(film, [2 * c for c in self._film_sizes], dim=1)

        def mod(t, p):
            gamma, beta = p.chunk(2, dim=1)
            return F.relu(t * (1 + gamma[:, :, None, None]) + beta[:, :, None, None])

        x = mod(self.c1(x), params[0])
        x = mod(self.c2(x), params[1])
        x = mod(self.c3(x), params[2])
        if x.shape[-1] != self.cfg.grid:
            x = F.adaptive_avg_pool2d(x, (self.cfg.grid, self.cfg.grid))
        loc = mod(self.l1(x), params[3])
        loc = self.l2(loc)
        g = F.relu(self.g1(x))
        g = F.relu(self.g2(g))
        g = self.gfc(g.mean(dim=(2, 3)))
        return F.relu(loc + g[:, :, None, None])

    def forward(self, rgb: torch.Tensor, code: torch.Tensor, adapter: dict | None = None) -> torch.Tensor:
        """-> grid (N, 4, D, G, G) float32: prior + residual."""
        f = self.features(rgb, code, None if adapter is None else adapter.get("film_b"))
        out = self.head(f)
        if adapter is not None:
            out = out + F.conv2d(f, adapter["head_w"][:, :, None, None], adapter["head_b"])
        n = out.shape[0]
        d, g = self.cfg.depth, self.cfg.grid
        grid = self.prior + out.view(n, 4, d, g, g)
        if adapter is not None and adapter.get("grid_b") is not None:
            grid = grid + adapter["grid_b"]  # per-style residual grid (4, D, G, G): position × luma
        return grid

    @staticmethod
    def new_adapter(cfg: GridNetConfig) -> dict:
        c = cfg.widths[-1]
        return {"head_w": torch.zeros(4 * cfg.depth, c), "head_b": torch.zeros(4 * cfg.depth)}
