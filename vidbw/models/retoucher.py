"""The retoucher: grid network + style encoder + hierarchical proxies + subject clusters, in one file.

Weights live in one safetensors file (``retoucher.safetensors``) whose JSON metadata
holds the configuration; see :mod:`vidbw.models.io`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidbw.models.content import CONTENT_DIM, content_evidence
from vidbw.models.encoder import StyleEncoder
from vidbw.models.gridnet import GridNet
from vidbw.models.inference import GridNetConfig, default_model_path, gridnet_config, nearest_subject
from vidbw.models.io import load_weights, save_weights

__all__ = ["Retoucher", "default_model_path", "load_default", "MODEL_ID"]

MODEL_ID = "vidbw-retoucher-v1"


class Retoucher(nn.Module):
    # registered buffers
    content_mean: torch.Tensor
    content_std: torch.Tensor
    centroids: torch.Tensor

    def __init__(self, n_styles: int = 128, n_subjects: int = 3, cfg: GridNetConfig = GridNetConfig()):
        super().__init__()
        self.cfg = cfg
        self.n_styles, self.n_subjects = n_styles, n_subjects
        self.gridnet = GridNet(cfg)
        self.encoder = StyleEncoder(cfg.style_dim)
        g = torch.Generator().manual_seed(0)
        self.parents = nn.Parameter(F.normalize(torch.randn(n_styles, cfg.style_dim, generator=g), dim=1))
        fine = self.parents.data.repeat_interleave(n_subjects, 0) + 0.1 * torch.randn(
            n_styles * n_subjects, cfg.style_dim, generator=g
        )
        self.proxies = nn.Parameter(F.normalize(fine, dim=1))  # row s*K + k
        self.register_buffer("content_mean", torch.zeros(CONTENT_DIM))
        self.register_buffer("content_std", torch.ones(CONTENT_DIM))
        self.register_buffer("centroids", torch.zeros(n_subjects, CONTENT_DIM))
        self.meta: dict = {}

    # ------------------------------------------------------------------ subjects
    def set_clusters(self, mean: np.ndarray, std: np.ndarray, centroids: np.ndarray) -> None:
        self.content_mean.copy_(torch.as_tensor(mean))
        self.content_std.copy_(torch.as_tensor(std))
        self.centroids.copy_(torch.as_tensor(centroids))

    def subject_of_features(self, feats: np.ndarray) -> int:
        """Nearest subject centroid of the mean of standardised content features (deterministic)."""
        return nearest_subject(feats, self.content_mean.numpy(), self.content_std.numpy(), self.centroids.numpy())

    def subject_of(self, frames) -> int:
        """Subject cluster of one frame (h, w, 3) or a batch/list of frames (mean feature)."""
        return self.subject_of_features(content_evidence(frames))

    # ------------------------------------------------------------------ codes
    def code(self, style: int, subject: int) -> torch.Tensor:
        return F.normalize(self.proxies[style * self.n_subjects + subject], dim=0)

    # ------------------------------------------------------------------ I/O
    def save(self, path: Path, extra_meta: dict | None = None) -> None:
        meta = {
            "model_id": MODEL_ID,
            "n_styles": self.n_styles,
            "n_subjects": self.n_subjects,
            "gridnet": self.cfg.to_dict(),
            **self.meta,
            **(extra_meta or {}),
        }
        save_weights(path, self.state_dict(), meta)

    @classmethod
    def load(cls, path: Path) -> Retoucher:
        from vidbw.errors import InputError

        tensors, meta = load_weights(path)
        try:
            model = cls(meta["n_styles"], meta["n_subjects"], gridnet_config(meta))
            model.load_state_dict(tensors)
        except (KeyError, RuntimeError, TypeError) as exc:
            raise InputError(f"weights file {path} does not hold a vidbw retoucher: {exc.__class__.__name__}") from None
        model.meta = {k: v for k, v in meta.items() if k not in ("gridnet",)}
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> Retoucher:
    return Retoucher.load(Path(path))


def load_default(path: Path | None = None) -> Retoucher:
    """The shipped (or given) retoucher, loaded once per process and shared (frozen, eval mode)."""
    return _load_cached(str(Path(path) if path else default_model_path()))
