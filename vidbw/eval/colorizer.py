"""Scoring the colorizer on colour clips made gray: chroma PSNR, colourfulness, correspondence.

* **Colour.** Frames are read in colour, their BT.709 luma is the only input; the colour grid is
  predicted from a ≤ 256-px copy and sliced at full resolution against the full-resolution luma
  (the kernel's torch twin). Scored in R'G'B' against the true frame: PSNR of the colorized frame
  and of the gray baseline (Cb = Cr = 0, i.e. the luma on all three channels), and the
  Hasler–Süsstrunk colourfulness M of output and truth.
* **Correspondence.** Frame pairs ``gap`` frames apart at ≤ 256 px: for every feature cell of the
  first frame whose DIS flow passes the forward–backward check, is its best cosine match in the
  second frame within one cell (Chebyshev) of where the flow puts it? Baselines: matching
  normalised raw luma patches (zero mean, unit norm) the same way, and the zero-motion guess.

``python -m vidbw.eval.colorizer CLIP... [--weights W] [--frames 30] [--json out.json]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidbw.eval.colorize import colourfulness
from vidbw.io.atomic import write_json_atomic
from vidbw.kernels.colour import LOWRES_MAX_SIDE, small_size
from vidbw.kernels.flow import DISFlow
from vidbw.kernels.ycbcr import rgb_to_ycbcr709, ycbcr709_to_rgb
from vidbw.metrics import psnr

__all__ = ["colourfulness", "psnr", "colorize_frame", "score_colour", "score_correspondence", "evaluate_clip"]


def lowres(level: np.ndarray, side: int = LOWRES_MAX_SIDE) -> np.ndarray:
    h, w = level.shape
    size = small_size(w, h, side)
    if size == (w, h):
        return np.ascontiguousarray(level, np.float32)
    return cv2.resize(level, size, interpolation=cv2.INTER_AREA)


def colorize_frame(model, level: np.ndarray) -> np.ndarray:
    """Full-resolution luma (h, w) in [0, 1] -> colorized R'G'B' (h, w, 3)."""
    chroma = model.predict_chroma(level, lowres(level))
    return ycbcr709_to_rgb(level, chroma[0], chroma[1])


def score_colour(model, frames) -> dict:
    """frames: iterable of true R'G'B' float32 (h, w, 3). Per-frame and mean scores."""
    rows = []
    for rgb in frames:
        rgb = np.clip(rgb, 0, 1)
        level = rgb_to_ycbcr709(rgb)[0]
        out = colorize_frame(model, level)
        gray = np.repeat(level[..., None], 3, axis=2)
        rows.append(
            {
                "psnr": psnr(out, rgb),
                "psnr_gray": psnr(gray, rgb),
                "m_out": colourfulness(out),
                "m_true": colourfulness(rgb),
            }
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    mean["colourfulness_ratio"] = mean["m_out"] / max(mean["m_true"], 1e-9)
    mean["frames_beating_gray"] = float(np.mean([r["psnr"] > r["psnr_gray"] for r in rows]))
    mean["n"] = len(rows)
    return mean


def _patch_features(level: np.ndarray, size: int, stride: int = 4) -> torch.Tensor:
    """Normalised raw luma patches centred on each stride cell: (D, ceil(h/s), ceil(w/s))."""
    h, w = level.shape
    gh, gw = -(-h // stride), -(-w // stride)
    pad = (size - stride) // 2
    x = torch.from_numpy(level)[None, None]
    x = F.pad(x, (pad, pad + gw * stride - w, pad, pad + gh * stride - h), mode="replicate")
    p = F.unfold(x, size, stride=stride)[0]  # (size², gh*gw)
    p = p - p.mean(0, keepdim=True)
    return F.normalize(p, dim=0).view(-1, gh, gw)


def _match_hits(fa: torch.Tensor, fb: torch.Tensor, flow: np.ndarray, valid: np.ndarray, stride: int = 4):
    """Fraction of valid cells of A whose argmax-cosine cell in B is within one cell of the flow target."""
    _, gh, gw = fa.shape
    h, w = valid.shape
    yy, xx = np.mgrid[:gh, :gw]
    px = np.clip(xx * stride + (stride - 1) / 2, 0, w - 1)
    py = np.clip(yy * stride + (stride - 1) / 2, 0, h - 1)
    xi, yi = np.round(px).astype(int), np.round(py).astype(int)
    tx = np.floor((px + flow[yi, xi, 0] + 0.5) / stride).astype(int)
    ty = np.floor((py + flow[yi, xi, 1] + 0.5) / stride).astype(int)
    ok = valid[yi, xi] & (tx >= 0) & (tx < gw) & (ty >= 0) & (ty < gh)
    sim = fa.flatten(1).T @ fb.flatten(1)  # (gh*gw, gh*gw)
    best = sim.argmax(1).numpy().reshape(gh, gw)
    by, bx = np.divmod(best, gw)
    hit = (np.abs(by - ty) <= 1) & (np.abs(bx - tx) <= 1)
    zero = (np.abs(yy - ty) <= 1) & (np.abs(xx - tx) <= 1)
    return int((hit & ok).sum()), int((zero & ok).sum()), int(ok.sum())


def score_correspondence(model, frame_pairs, patch_sizes=(8, 16)) -> dict:
    """frame_pairs: iterable of (rgb_a, rgb_b) float32. Hit rates of features, raw patches, zero motion."""
    flow_of = DISFlow()
    hits = {"features": 0, "zero_motion": 0, **{f"luma_patch_{s}": 0 for s in patch_sizes}}
    total = 0
    for rgb_a, rgb_b in frame_pairs:
        la, lb = (lowres(rgb_to_ycbcr709(x)[0]) for x in (rgb_a, rgb_b))
        pair = flow_of(*(np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8) for x in (la, lb)))
        flow, valid = pair.forward, pair.consistent()
        feats = model.features(np.stack([la, lb]))
        h, z, n = _match_hits(torch.from_numpy(feats[0]), torch.from_numpy(feats[1]), flow, valid)
        hits["features"] += h
        hits["zero_motion"] += z
        total += n
        for s in patch_sizes:
            hits[f"luma_patch_{s}"] += _match_hits(_patch_features(la, s), _patch_features(lb, s), flow, valid)[0]
    return {**{k: v / max(total, 1) for k, v in hits.items()}, "cells": total}


def _read_frames(path: Path, indices) -> dict:
    import decord

    vr = decord.VideoReader(str(path))
    want = sorted(set(int(i) for i in indices if 0 <= i < len(vr)))
    return {i: f.astype(np.float32) / 255.0 for i, f in zip(want, vr.get_batch(want).asnumpy())}


def evaluate_clip(model, path: Path, frames: int = 30, pairs: int = 15, gap: int = 10) -> dict:
    import decord

    n = len(decord.VideoReader(str(path)))
    colour_idx = np.linspace(0, n - 1, frames).round().astype(int)
    starts = np.linspace(0, n - 1 - gap, pairs).round().astype(int)
    got = _read_frames(path, list(colour_idx) + list(starts) + list(starts + gap))
    colour = score_colour(model, (got[i] for i in colour_idx))
    corr = score_correspondence(model, ((got[s], got[s + gap]) for s in starts))
    return {"clip": Path(path).name, "colour": colour, "correspondence": corr}


def main(argv=None) -> None:
    from vidbw.models.colorizer import load_colorizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--gap", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_colorizer(args.weights)
    results = [evaluate_clip(model, c, args.frames, args.pairs, args.gap) for c in args.clips]
    print(
        f"{'clip':28s} {'PSNR':>7s} {'gray':>7s} {'gain':>6s} {'M ratio':>8s} {'beat%':>6s} | "
        f"{'feat':>6s} {'patch8':>6s} {'patch16':>7s} {'zero':>6s}"
    )
    for r in results:
        c, k = r["colour"], r["correspondence"]
        print(
            f"{r['clip']:28s} {c['psnr']:7.2f} {c['psnr_gray']:7.2f} {c['psnr'] - c['psnr_gray']:+6.2f} "
            f"{c['colourfulness_ratio']:8.2f} {100 * c['frames_beating_gray']:5.0f}% | {k['features']:6.3f} "
            f"{k['luma_patch_8']:6.3f} {k['luma_patch_16']:7.3f} {k['zero_motion']:6.3f}"
        )
    if args.json:
        write_json_atomic(args.json, results)


if __name__ == "__main__":
    main()
