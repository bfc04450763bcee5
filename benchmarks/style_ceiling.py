"""How far the retoucher's output form can go on held-out style pairs: the grid ceiling.

    python benchmarks/style_ceiling.py --pairs /tmp/pairs_eval_noir --limit 10

For each held-out photo of `vidbw eval style`'s split (same --train-fraction and --seed), fits
the best bilateral grid (4 x 8 luma bins x 16 x 16, the grid network's shape) plus a free
monotone tone curve *to that photo's own target*, through the torch twin of the slicing kernel
(Adam, identity start). No network and no generalisation: an upper bound on what any grid the
network could predict reaches. If a learned style scores far below it, the shortfall is in
predicting the grid from the picture, not in the grid form.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def fit_ceiling(color: np.ndarray, target: np.ndarray, steps: int, grid_size: int = 16, depth: int = 8) -> np.ndarray:
    """The gray image of the best grid + tone curve for one pair (float (H, W, 3) -> (H, W))."""
    import torch
    import torch.nn.functional as F

    from vidbw.kernels.colour import REC709_LUMA
    from vidbw.kernels.slicing_torch import slice_apply_torch

    rgb = torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1))[None]).float()
    want = torch.from_numpy(target).float()[None]
    grid = torch.zeros(1, 4, depth, grid_size, grid_size)
    for channel, weight in enumerate(REC709_LUMA):
        grid[:, channel] = weight
    grid.requires_grad_(True)
    # Monotone curve: cumulative softplus steps, starting as the identity (each step 1/255).
    rise = torch.zeros(255, requires_grad=True)
    start = float(np.log(np.expm1(1 / 255)))
    optimizer = torch.optim.Adam([grid, rise], lr=0.02)
    for _ in range(steps):
        lut = torch.cat([torch.zeros(1), torch.cumsum(F.softplus(rise + start), 0)]).clamp(0, 1)
        out = slice_apply_torch(rgb, grid, lut)
        loss = ((out - want) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return out.detach().numpy()[0].astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True, help="folder with color/ and bw/ (vidbw train make-pairs)")
    parser.add_argument("--train-fraction", type=float, default=0.43)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N held-out photos")
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    import torch

    from vidbw.metrics import psnr
    from vidbw.train.style_learn import split_pairs
    from vidbw.train.style_learn import read_pairs

    torch.set_num_threads(1)
    _, held_out = split_pairs(read_pairs(args.pairs), args.train_fraction, args.seed)
    held_out = held_out[:args.limit] if args.limit else held_out
    started, scores = time.perf_counter(), []
    for pair in held_out:
        scores.append(psnr(fit_ceiling(pair.color, pair.bw, args.steps), pair.bw))
        print(f"{pair.stem[:32]:32s} {scores[-1]:6.2f} dB", flush=True)
    print(f"{args.pairs.name}: grid ceiling {np.mean(scores):.2f} dB mean PSNR over {len(scores)} held-out photos "
          f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
