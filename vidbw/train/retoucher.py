"""Training the retoucher (grid network + style encoder + hierarchical proxies) on synthetic
expert styles applied to colour photographs and video frames.

Each step draws a batch of augmented crops, a training style per crop (one of ``n_styles``
expert styles, seeds ``0..n_styles-1``, training families only) and renders the target with
:class:`vidbw.train.expert.ExpertStyle`.  The grid network, conditioned on the fine proxy
of (style, subject cluster of the photo) — or, for a fraction of batches, on the encoder's
embedding of the pair itself, so encoder codes are good conditions too — predicts a grid that
is sliced by :func:`vidbw.kernels.slicing_torch.slice_apply_torch` (the kernel's exact
twin).  Loss: MSE + L1 on the sliced output, plus hierarchical Proxy-Anchor on the encoder
embeddings (fine and parent proxies) and a tie pulling each fine proxy to its parent.

Checkpoints: ``OUT/retoucher.safetensors`` (weights), ``OUT/optimizer.safetensors``
(Adam moments) and ``OUT/state.json`` (step, elapsed time, losses, the command).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidbw.models.content import content_features
from vidbw.models.encoder import kmeans, proxy_anchor_loss
from vidbw.models.inference import WEIGHTS_NAME
from vidbw.models.retoucher import Retoucher
from vidbw.train.checkpoint import resume_from, save_checkpoint
from vidbw.train.data import augment, load_sources
from vidbw.train.expert import TRAIN_FAMILIES, sample_style

__all__ = ["TrainConfig", "train_retoucher"]

IDENTITY_LUT = torch.linspace(0.0, 1.0, 2)


@dataclass
class TrainConfig:
    steps: int = 6000
    batch: int = 16
    size: int = 128  # long side of training crops
    n_styles: int = 128
    n_subjects: int = 3
    lr: float = 2e-3
    proxy_lr: float = 2e-2
    checkpoint_every: int = 250
    encoder_code_fraction: float = 0.3
    metric_weight: float = 0.02
    seed: int = 0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)


def _render_slice(model: Retoucher, rgb: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    from vidbw.kernels.slicing_torch import slice_apply_torch

    grid = model.gridnet(rgb, code)
    return slice_apply_torch(rgb, grid, IDENTITY_LUT.to(rgb.device))


def _optimizer(model: Retoucher, cfg: TrainConfig) -> torch.optim.Optimizer:
    nets = [p for n, p in model.named_parameters() if n not in ("proxies", "parents")]
    return torch.optim.Adam(
        [{"params": nets, "lr": cfg.lr}, {"params": [model.proxies, model.parents], "lr": cfg.proxy_lr}]
    )


def train_retoucher(
    data: list,
    out: Path,
    cfg: TrainConfig,
    resume: bool = False,
    progress: Callable[[int, int, dict], None] | None = None,
    command: str = "",
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    if device.type == "cpu":
        # One intra-op thread: these layers are tiny, and on a shared 2-core machine a second
        # thread makes the backward pass more than ten times slower.
        torch.set_num_threads(1)
    images = load_sources(data, max_side=256, seed=cfg.seed)
    feats = np.stack([content_features(im) for im in images])
    mean, std = feats.mean(0), feats.std(0) + 1e-3
    z = (feats - mean) / std
    centroids = kmeans(z, cfg.n_subjects, seed=cfg.seed)
    subjects = np.argmin(((z[:, None] - centroids[None]) ** 2).sum(-1), axis=1)

    model = Retoucher(cfg.n_styles, cfg.n_subjects)
    model.set_clusters(mean, std, centroids)
    state: dict[str, Any] = {"step": 0, "elapsed_s": 0.0, "history": []}
    opt = _optimizer(model, cfg)
    if resume:
        state = resume_from(out, WEIGHTS_NAME, model, opt) or state
    model.to(device).train()
    styles = [sample_style(s, TRAIN_FAMILIES[s % len(TRAIN_FAMILIES)]) for s in range(cfg.n_styles)]
    meta = {
        "train": {
            "data": [str(d) for d in data],
            "n_images": len(images),
            "steps": cfg.steps,
            "batch": cfg.batch,
            "size": cfg.size,
            "seed": cfg.seed,
            "families": list(TRAIN_FAMILIES),
            "style_seeds": [0, cfg.n_styles - 1],
            "subject_counts": np.bincount(subjects, minlength=cfg.n_subjects).tolist(),
            "command": command,
        }
    }

    def checkpoint():
        save_checkpoint(out, WEIGHTS_NAME, model, opt, state, meta, device)

    aspects = [(96, 128), (128, 96), (72, 128), (128, 128), (128, 88)]
    t_last = time.perf_counter()
    run = {"loss": 0.0, "psnr": 0.0, "metric": 0.0, "n": 0}
    while state["step"] < cfg.steps:
        step = state["step"]
        rng = np.random.default_rng([cfg.seed, step])
        hw = aspects[rng.integers(len(aspects))]
        hw = (hw[0] * cfg.size // 128, hw[1] * cfg.size // 128)
        idx = rng.integers(len(images), size=cfg.batch)
        sidx = rng.integers(cfg.n_styles, size=cfg.batch)
        srcs, tgts = [], []
        for i, s in zip(idx, sidx):
            src = augment(images[i], rng, max(hw), jitter=0.03)
            src = cv2.resize(src, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            srcs.append(src)
            tgts.append(styles[s].render(src))
        rgb = torch.from_numpy(np.stack(srcs)).permute(0, 3, 1, 2).contiguous().to(device)
        tgt = torch.from_numpy(np.stack(tgts)).to(device)
        sid = torch.as_tensor(sidx, device=device)
        fine = sid * cfg.n_subjects + torch.as_tensor(subjects[idx], device=device)
        emb = model.encoder(tgt[:, None], rgb)
        if rng.random() < cfg.encoder_code_fraction:
            code = emb
        else:
            code = F.normalize(model.proxies[fine], dim=1)
        pred = _render_slice(model, rgb, code)
        mse = F.mse_loss(pred, tgt)
        recon = mse + 0.5 * F.l1_loss(pred, tgt)
        metric = (
            proxy_anchor_loss(emb, fine, model.proxies)
            + proxy_anchor_loss(emb, sid, model.parents)
            + (
                F.normalize(model.proxies, dim=1).view(cfg.n_styles, cfg.n_subjects, -1)
                - F.normalize(model.parents, dim=1)[:, None]
            )
            .pow(2)
            .sum(-1)
            .mean()
        )
        loss = recon + cfg.metric_weight * metric
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] = step + 1
        now = time.perf_counter()
        state["elapsed_s"] += now - t_last
        t_last = now
        run["loss"] += float(loss.detach())
        run["psnr"] += float(-10 * torch.log10(mse.detach().clamp(min=1e-10)))
        run["metric"] += float(metric.detach())
        run["n"] += 1
        if progress:
            progress(state["step"], cfg.steps, {"psnr": run["psnr"] / run["n"]})
        if state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.steps:
            state["history"].append(
                {
                    "step": state["step"],
                    "elapsed_s": round(state["elapsed_s"], 1),
                    **{k: round(run[k] / max(run["n"], 1), 4) for k in ("loss", "psnr", "metric")},
                }
            )
            run = {"loss": 0.0, "psnr": 0.0, "metric": 0.0, "n": 0}
            checkpoint()
    return state
