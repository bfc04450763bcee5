"""Grid network speed: ms per frame at the engine's input size, CPU.

    python benchmarks/bench_gridnet.py [--size 256x144] [--batch 1 8] [--threads 1 2]

Measures ``LearnedStyle.grids_for`` (what the render engine calls: numpy in, grid out, the
pixel model's refit included) and the bare network, both as rendering runs it (numpy,
`vidbw.models.inference`, numpy's BLAS held to one thread) and as training runs it (torch, 1 or 2 threads), with
the shipped weights and style.  Prints the median over repeats; the budget in docs/DESIGN is
<= 5 ms per frame (low-res resize + network) on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x144")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    import torch

    from vidbw.models.content import content_evidence
    from vidbw.models.retoucher import load_default
    from vidbw.styles import list_styles

    from vidbw.models.inference import default_model_path, load_retoucher_arrays

    w, h = map(int, args.size.split("x"))
    model = load_default()
    arrays = load_retoucher_arrays(str(default_model_path()))
    learned = [s for s in list_styles() if s.kind == "learned"]
    rng = np.random.default_rng(0)
    print(f"grid network {model.cfg.in_size}px internal, grid 4x{model.cfg.depth}x{model.cfg.grid}x{model.cfg.grid}, "
          f"{sum(p.numel() for p in model.gridnet.parameters())} parameters; input {w}x{h}")
    for batch in args.batch:
        frames = rng.random((batch, h, w, 3), dtype=np.float32)
        rgb = torch.from_numpy(frames.transpose(0, 3, 1, 2).copy())
        code = torch.nn.functional.normalize(torch.randn(batch, model.cfg.style_dim), dim=1)
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = []
            with torch.inference_mode():
                for i in range(args.repeats + 5):
                    t = time.perf_counter()
                    model.gridnet(rgb, code)
                    if i >= 5:
                        times.append((time.perf_counter() - t) * 1000 / batch)
            print(f"torch        batch {batch:2d} threads {threads}: {statistics.median(times):6.2f} ms/frame")
        times = []
        for i in range(args.repeats + 5):
            t = time.perf_counter()
            arrays.gridnet(frames, code[0].numpy())
            if i >= 5:
                times.append((time.perf_counter() - t) * 1000 / batch)
        print(f"numpy        batch {batch:2d} (render time): {statistics.median(times):6.2f} ms/frame")
        if learned:
            style = learned[0]
            times = []
            for i in range(args.repeats + 5):
                t = time.perf_counter()
                style.grids_for(frames, proxy=0)
                if i >= 5:
                    times.append((time.perf_counter() - t) * 1000 / batch)
            print(f"grids_for    batch {batch:2d} ({style.name}): {statistics.median(times):6.2f} ms/frame")
            t = time.perf_counter()
            style.choose_proxy(content_evidence(frames))
            print(f"choose_proxy batch {batch:2d}: {(time.perf_counter() - t) * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
