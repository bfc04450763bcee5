"""Slice + apply speed per 1080p frame: numba (8-bit and 10-bit 4:2:0) and torch on CPU.

    python benchmarks/bench_kernel.py [--runs 30] [--threads N]

Frames are laid out like decoder output (row-padded, non-contiguous plane views).
"natural" frames are smooth gradients with edges and mild noise, like film; "footage" is a
real frame (juggler_park from ../shared/media, upscaled to 1080p), whose textures make each
run of pixels span more luma bins than "natural" does (5.4 of 8 against fewer), so it is the
case to compare with a conversion; "noise" frames are uniform random codes, the kernel's
worst case (every run of pixels spans every luma bin).  Times are the median over ``--runs``
calls after warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import cv2
import numba
import numpy as np
import torch

from vidbw.kernels.colour import REC709_LUMA, luma_output_coding, yuv_to_rgb_matrix
from vidbw.kernels.slicing import slice_apply
from vidbw.kernels.slicing_torch import planes_to_rgb_torch, slice_apply_torch

HEIGHT, WIDTH = 1080, 1920
GRID_SHAPE = (4, 8, 16, 16)
FOOTAGE = Path(__file__).resolve().parent.parent.parent / "shared" / "media" / "video" / "juggler_park_720p.mp4"
LINE_PAD = 64  # decoders pad rows to an alignment; the kernel reads the padded views in place


def padded(a: np.ndarray) -> np.ndarray:
    buf = np.zeros((a.shape[0], a.shape[1] + LINE_PAD), a.dtype)
    buf[:, : a.shape[1]] = a
    return buf[:, : a.shape[1]]


def natural_rgb(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    r = 0.5 + 0.4 * np.sin(xx / 170.0) * np.cos(yy / 230.0)
    g = 0.45 + 0.35 * np.cos(xx / 310.0 + yy / 190.0)
    b = 0.3 + 0.6 * (xx / WIDTH) * (yy / HEIGHT)
    rgb = np.stack([r, g, b], axis=-1)
    rgb[200:700, 600:1100] *= np.float32(0.4)  # a hard-edged dark object
    rgb += rng.normal(0, 0.02, rgb.shape).astype(np.float32)  # grain-like noise
    return np.clip(rgb, 0, 1)


def footage_rgb(frame_index: int = 60) -> np.ndarray | None:
    """A real frame as float32 R'G'B' at 1080p, or None when the shared media is not beside the repo."""
    if not FOOTAGE.exists():
        return None
    with av.open(str(FOOTAGE)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == frame_index:
                rgb = frame.to_ndarray(format="rgb24")
                break
    rgb = cv2.resize(rgb, (WIDTH, HEIGHT), interpolation=cv2.INTER_LANCZOS4)
    return rgb.astype(np.float32) / 255.0


def yuv420_planes(rgb: np.ndarray, bits: int) -> tuple[np.ndarray, ...]:
    """BT.709 limited-range 4:2:0 codes (chroma co-sited left, centred vertically)."""
    kr, kg, kb = REC709_LUMA
    s = 2 ** (bits - 8)
    y = rgb @ np.array([kr, kg, kb], np.float32)
    cb = (rgb[..., 2] - y) / (2 * (1 - kb))
    cr = (rgb[..., 0] - y) / (2 * (1 - kr))
    dtype = np.uint8 if bits == 8 else np.uint16
    y_codes = np.round(16 * s + 219 * s * y).astype(dtype)
    sub = lambda c: 0.5 * (c[0::2, 0::2] + c[1::2, 0::2])  # noqa: E731
    u = np.round(128 * s + 224 * s * sub(cb)).astype(dtype)
    v = np.round(128 * s + 224 * s * sub(cr)).astype(dtype)
    return padded(y_codes), padded(u), padded(v)


def noise_planes(rng: np.random.Generator, bits: int) -> tuple[np.ndarray, ...]:
    dtype = np.uint8 if bits == 8 else np.uint16
    top = 2**bits
    return (
        padded(rng.integers(0, top, (HEIGHT, WIDTH)).astype(dtype)),
        padded(rng.integers(0, top, (HEIGHT // 2, WIDTH // 2)).astype(dtype)),
        padded(rng.integers(0, top, (HEIGHT // 2, WIDTH // 2)).astype(dtype)),
    )


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case (median reported)")
    parser.add_argument("--torch-runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="numba and torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    grid = np.empty(GRID_SHAPE, np.float32)
    grid[:3] = rng.uniform(0.0, 0.7, (3,) + GRID_SHAPE[1:])
    grid[3] = rng.uniform(-0.05, 0.05, GRID_SHAPE[1:])
    lut = (np.linspace(0, 1, 256) ** 0.9).astype(np.float32)
    tile = rng.normal(0, 1, (256, 256)).astype(np.float32)
    rgb = natural_rgb(rng)
    footage = footage_rgb()

    print(f"1920x1080, grid {GRID_SHAPE}, numba threads {numba.get_num_threads()}, "
          f"torch threads {torch.get_num_threads()}; median of {args.runs} runs")
    cases = []
    for bits in (8, 10):
        to_rgb = yuv_to_rgb_matrix("bt709", False, bits)
        offset, scale = luma_output_coding(False, bits)
        out = np.empty((HEIGHT, WIDTH), np.uint8 if bits == 8 else np.uint16)
        contents = [("natural", yuv420_planes(rgb, bits))]
        if footage is not None:
            contents.append(("footage", yuv420_planes(footage, bits)))
        contents.append(("noise", noise_planes(rng, bits)))
        for content, planes in contents:
            cases.append((f"numba {bits:2d}-bit 4:2:0, {content}", planes, to_rgb, out, offset, scale, {}))
        if bits == 8:
            grain = {"grain": tile, "grain_offset": (17, 5), "grain_amount": 0.05}
            cases.append(("numba  8-bit 4:2:0, natural + grain", cases[0][1], to_rgb, out, offset, scale, grain))

    if footage is None:
        print(f"  (no footage case: {FOOTAGE} is missing)")
    for name, planes, to_rgb, out, offset, scale, extra in cases:
        ms = median_ms(lambda: slice_apply(planes, to_rgb, grid, lut, out, offset, scale, **extra), args.runs)
        print(f"  {name:<40s} {ms:8.2f} ms/frame")

    planes = [torch.from_numpy(np.ascontiguousarray(p)) for p in yuv420_planes(rgb, 8)]
    to_rgb = yuv_to_rgb_matrix("bt709", False, 8)
    grid_t = torch.from_numpy(grid)[None]
    lut_t = torch.from_numpy(lut)

    def torch_frame():
        with torch.inference_mode():
            return slice_apply_torch(planes_to_rgb_torch(planes, to_rgb)[None], grid_t, lut_t)

    ms = median_ms(torch_frame, args.torch_runs, warmup=2)
    print(f"  {'torch CPU  8-bit 4:2:0 (to RGB + slice)':<40s} {ms:8.2f} ms/frame")


if __name__ == "__main__":
    main()
