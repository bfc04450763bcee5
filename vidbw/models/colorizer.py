"""The colorizer network: a low-resolution luma image -> a colour grid (and correspondence features).

HDRNet-like, the colour twin of :mod:`vidbw.models.gridnet`.  One shared encoder reads the luma
only (three strided 3×3 convolutions: 1/2, 1/4, 1/8 resolution; no coordinate channels, so its
features do not depend on where a thing is in the picture) and feeds two heads:

* **grid head** (automatic colorization): the luma is area-resized to a fixed ``in_size`` square,
  so the 1/8 features are exactly ``grid × grid``.  A local path (coordinate channels appended at
  grid resolution — colour does depend on position: sky at the top — then 3×3 convs) and a
  global path (two more strided convs, mean + max pooling, an MLP: one scene vector per frame,
  because sky, foliage and skin colours depend on what the scene is) are fused, and a 1×1 head
  predicts ``4·D`` coefficients per cell: the colour grid ``(N, 4, D, G, G)`` of
  :mod:`vidbw.kernels.chroma` (``a_cb, b_cb, a_cr, b_cr``; Cb, Cr = a·L + b in [-0.5, 0.5]).
  The head is zero-initialised: an untrained network gives gray (Cb = Cr = 0).

* **embedding head** (reference mode): the encoder runs at the input's own resolution; its 1/4
  features and upsampled 1/8 features give ``F`` channels per position, L2-normalised, shape
  ``(N, F, ceil(h/4), ceil(w/4))``.  Trained with InfoNCE so that a position's best cosine match
  in another view or frame of the same scene is the same scene point.  Give the frame and its
  reference at the same scale (both ≤ 256 px): features are learned at that scale.

Weights: one safetensors file whose ``vidbw`` metadata holds the config (:mod:`vidbw.models.io`).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidbw.errors import InputError
from vidbw.models.io import load_weights, save_weights
from vidbw.resources import models_dir

__all__ = ["ColorizerConfig", "Colorizer", "default_colorizer_path", "load_colorizer", "MODEL_ID", "WEIGHTS_NAME"]

MODEL_ID = "vidbw-colorizer-v1"
WEIGHTS_NAME = "colorizer.safetensors"
LUMA_MEAN, LUMA_STD = 0.45, 0.25


@dataclass(frozen=True)
class ColorizerConfig:
    depth: int = 8  # luma bins D
    grid: int = 16  # Gh = Gw
    in_size: int = 128  # the grid head's input square; in_size / 8 == grid
    widths: tuple = (16, 32, 64)
    global_width: int = 64
    embed_dim: int = 32  # F
    # Chroma gain applied to the predicted grid (the grid is linear in it); 1 = as trained.
    saturation: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ColorizerConfig:
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1)


class Colorizer(nn.Module):
    coords: torch.Tensor  # registered buffer

    def __init__(self, cfg: ColorizerConfig = ColorizerConfig()):
        super().__init__()
        if cfg.in_size != 8 * cfg.grid:
            raise ValueError(f"in_size must be 8 × grid ({8 * cfg.grid}), got {cfg.in_size}")
        self.cfg = cfg
        w1, w2, w3 = cfg.widths
        wg = cfg.global_width
        # shared encoder (luma only)
        self.e1 = _conv(1, w1, 2)
        self.e2 = _conv(w1, w2, 2)
        self.e3 = _conv(w2, w3, 2)
        # grid head: local path (+ coordinates) and global path
        self.l1 = _conv(w3 + 2, w3)
        self.l2 = _conv(w3, w3)
        self.l3 = _conv(w3, w3)
        self.g1 = _conv(w3, wg, 2)
        self.g2 = _conv(wg, wg, 2)
        self.gfc = nn.Sequential(nn.Linear(2 * wg, wg), nn.ReLU(), nn.Linear(wg, w3))
        self.fuse = nn.Conv2d(w3, w3, 1)
        self.head = nn.Conv2d(w3, 4 * cfg.depth, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None  # Conv2d built with bias=True
        nn.init.zeros_(self.head.bias)
        # embedding head
        self.m8 = _conv(w3, w2)
        self.m4 = _conv(2 * w2, w2)
        self.embed_out = nn.Conv2d(w2, cfg.embed_dim, 1)
        g = cfg.grid
        ys = torch.linspace(-1, 1, g).view(1, 1, g, 1).expand(1, 1, g, g)
        xs = torch.linspace(-1, 1, g).view(1, 1, 1, g).expand(1, 1, g, g)
        self.register_buffer("coords", torch.cat([xs, ys], 1).contiguous(), persistent=False)
        self.meta: dict = {}

    # ------------------------------------------------------------------ encoder
    def encode(self, luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """luma (N, 1, h, w) in [0, 1] -> (1/4 features, 1/8 features)."""
        x = (luma - LUMA_MEAN) / LUMA_STD
        x = F.relu(self.e1(x))
        f4 = F.relu(self.e2(x))
        f8 = F.relu(self.e3(f4))
        return f4, f8

    # ------------------------------------------------------------------ grid head
    def grid_from_f8(self, f8: torch.Tensor) -> torch.Tensor:
        n = f8.shape[0]
        d, g = self.cfg.depth, self.cfg.grid
        loc = F.relu(self.l1(torch.cat([f8, self.coords.expand(n, -1, -1, -1)], 1)))
        loc = F.relu(self.l2(loc))
        loc = self.l3(loc)
        h = F.relu(self.g1(f8))
        h = F.relu(self.g2(h))
        glob = self.gfc(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], 1))
        fused = F.relu(self.fuse(F.relu(loc + glob[:, :, None, None])))
        out = self.head(fused).view(n, 4, d, g, g)
        return out * self.cfg.saturation if self.cfg.saturation != 1.0 else out

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        """luma (N, 1, h, w) in [0, 1], any size -> colour grid (N, 4, D, G, G)."""
        s = self.cfg.in_size
        x = F.adaptive_avg_pool2d(luma, (s, s)) if luma.shape[-2:] != (s, s) else luma
        return self.grid_from_f8(self.encode(x)[1])

    # ------------------------------------------------------------------ embedding head
    def embed_from(self, f4: torch.Tensor, f8: torch.Tensor) -> torch.Tensor:
        m = F.relu(self.m8(f8))
        m = F.interpolate(m, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        e = F.relu(self.m4(torch.cat([f4, m], 1)))
        return F.normalize(self.embed_out(e), dim=1)

    def embed(self, luma: torch.Tensor) -> torch.Tensor:
        """luma (N, 1, h, w) in [0, 1] -> L2-normalised features (N, F, ceil(h/4), ceil(w/4))."""
        return self.embed_from(*self.encode(luma))

    # ------------------------------------------------------------------ numpy conveniences
    def _run(self, fn, level: np.ndarray) -> np.ndarray:
        level = np.asarray(level, dtype=np.float32)
        if level.ndim == 2:
            level = level[None]
        if level.ndim != 3:
            raise ValueError(f"luma batch must be (N, h, w), got {level.shape}")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny layers: one thread is fastest on a shared CPU
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(level))[:, None]
                out = fn(x.to(self.device))
        finally:
            torch.set_num_threads(threads)
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    @property
    def device(self) -> torch.device:
        return self.e1.weight.device

    def predict_grids(self, level: np.ndarray) -> np.ndarray:
        """level float32 (N, h, w) luma in [0, 1] (≤ 256 px side) -> grids float32 (N, 4, D, G, G)."""
        return self._run(self.forward, level)

    def predict_chroma(self, level: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
        """One frame's colours: the grid predicted from `small` (its ≤ 256-px luma; `level` itself
        when None) sliced against `level` (h, w) in [0, 1] -> float32 (2, h, w) Cb, Cr."""
        from vidbw.kernels.chroma import slice_chroma_torch

        grid = self.predict_grids((level if small is None else small)[None])
        with torch.inference_mode():
            chroma = slice_chroma_torch(
                torch.from_numpy(np.ascontiguousarray(level, np.float32))[None, None], torch.from_numpy(grid)
            )[0]
        return chroma.numpy()

    def features(self, level: np.ndarray) -> np.ndarray:
        """level float32 (N, h, w) in [0, 1] -> features float32 (N, F, ceil(h/4), ceil(w/4)), unit norm."""
        return self._run(self.embed, level)

    # ------------------------------------------------------------------ I/O
    def save(self, path: Path, extra_meta: dict | None = None) -> None:
        meta = {"model_id": MODEL_ID, "colorizer": self.cfg.to_dict(), **self.meta, **(extra_meta or {})}
        save_weights(path, self.state_dict(), meta)

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> Colorizer:
        tensors, meta = load_weights(path)
        try:
            if meta.get("model_id") != MODEL_ID:
                raise KeyError("model_id")
            model = cls(ColorizerConfig.from_dict(meta["colorizer"]))
            model.load_state_dict(tensors)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise InputError(
                f"weights file {path} does not hold a vidbw colorizer ({MODEL_ID}): "
                f"{exc.__class__.__name__}: {exc}".replace("\n", " ")
            ) from None
        model.meta = {k: v for k, v in meta.items() if k != "colorizer"}
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model.to(device)


def default_colorizer_path() -> Path:
    return models_dir() / "colorizer" / WEIGHTS_NAME


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float, device: str) -> Colorizer:
    return Colorizer.load(Path(path), device)


def load_colorizer(path: Path | str | None = None, device: str = "cpu") -> Colorizer:
    """The shipped (or given) colorizer, frozen, eval mode; loaded once per process and file version.

    Raises :class:`vidbw.errors.InputError` (one clear line) when the file is missing, corrupt or
    not a colorizer.
    """
    p = Path(path) if path else default_colorizer_path()
    if not p.is_file():
        raise InputError(f"colorizer weights not found: {p} (reinstall vidbw or retrain with `vidbw train colorizer`)")
    return _load_cached(str(p.resolve()), p.stat().st_mtime, str(device))
