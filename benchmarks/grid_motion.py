"""Does a learned look's mapping flicker come from its grid sitting in frame coordinates?

Not speed. Two experiments, both read with `mapping_ratio_held_still` (mapping flicker over that of
the same look held still, `vidbw.eval.flicker`):

``synthetic CLIP``: one real frame (frame 45) translated by a random walk of whole pixels at its own
size (handheld-like, ≈ 0.4 px a frame at 480 px), each window area-scaled to 480 px wide. Nothing
in it can flicker. Outputs, per learned style:

* ``attached``: the look rendered once on the whole frame, then cut and scaled like the source: a
  look that moves exactly with the content;
* ``frame-locked``: one grid (the first window's) for every frame, in frame coordinates;
* ``per-frame``: every window's own predicted grid (``--temporal off``);
* ``flat``: the frame-locked grid averaged over its cells (one mix per luma bin, no position): a
  steady global function of the pixel, which can neither flicker nor sit in frame coordinates;
* ``carried``: the frame-locked grid displaced with the content by the exact translation
  (bilinear in x, y on an 8× finer copy of the same bilinear grid), rendered at 480 px.

``real CLIP...``: lossless 480-px copies (`flicker_table.py` makes them) rendered through the
pipeline: ``light`` (the default), ``frozen`` (the shot's middle grid for every frame), ``flat``
(that grid averaged over its cells), ``carried`` (every frame's predicted grid smoothed like
``light``, σ 2 frames, but each neighbour's grid first displaced to the frame along the low-res DIS
flow at ≤ 256 px, cell means, composed frame by frame) and ``carried6`` (the same with σ 6, radius 12).

    PYTHONPATH=. .venv/bin/python benchmarks/grid_motion.py synthetic ../shared/media/video/juggler_park_720p.mp4
    PYTHONPATH=. .venv/bin/python benchmarks/grid_motion.py real .bench/flicker_table/juggler_park_720p.90.mkv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flicker_decompose import Recorder, Replace, render  # noqa: E402

import vidbw.pipeline as pipeline  # noqa: E402
from vidbw.eval.flicker import measure_flicker_frames_many, measure_flicker_many  # noqa: E402
from vidbw.kernels.colour import luma_output_coding, rgb_matrix  # noqa: E402
from vidbw.render import FrameRenderer, Look, RenderPlan, image_grid  # noqa: E402
from vidbw.temporal import GridSmoother  # noqa: E402

STYLES = "landscape-master,portrait-master,street-noir"


def displaced(grid: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """grid (4, D, Gh, Gw) sampled at cell (x + dx, y + dy), bilinear, edges replicated (cell units)."""
    gh, gw = grid.shape[-2:]
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    mx, my = (xs + dx).astype(np.float32), (ys + dy).astype(np.float32)
    planes = grid.reshape(-1, gh, gw)
    return np.stack([cv2.remap(p, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for p in planes]).reshape(
        grid.shape
    )


def flat(grid: np.ndarray) -> np.ndarray:
    return np.broadcast_to(grid.mean(axis=(2, 3), keepdims=True), grid.shape).copy()


def print_reports(names, reports) -> None:
    print(f"{'output':34s} {'held-still':>10s} {'map/floor':>9s} {'map':>6s} {'held map':>8s} {'map/held':>8s}")
    for name, r in zip(names, reports):
        print(
            f"{name:34s} {r.ratio_held_still:10.3f} {r.mapping_ratio:9.2f} {r.mapping_flicker:6.3f} "
            f"{r.mapping_held_still:8.3f} {r.mapping_ratio_held_still:8.3f}",
            flush=True,
        )


def synthetic(clip: Path, styles: list[str], frames: int, step: int) -> None:
    with av.open(str(clip)) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i == 45:
                big = f.to_ndarray(format="rgb24")
                break
    height, width = big.shape[:2]
    ww, wh = int(width * 0.9) // 2 * 2, int(height * 0.9) // 2 * 2
    walk = np.cumsum(np.random.default_rng(0).integers(-step, step + 1, size=(frames, 2)), axis=0)
    pos = np.minimum(walk - walk.min(0), [width - ww, height - wh])
    size = (480, round(480 * wh / ww))

    def cut(image, p):
        return cv2.resize(image[p[1] : p[1] + wh, p[0] : p[0] + ww], size, interpolation=cv2.INTER_AREA)

    src = [cut(big, p) for p in pos]
    renderer, to_rgb = FrameRenderer(), rgb_matrix(8)

    def draw(rgb, look, grid):
        out = np.empty(rgb.shape[:2], np.uint8)
        renderer.render(tuple(rgb[..., c] for c in range(3)), to_rgb, 0, look, grid, out, luma_output_coding(True, 8))
        return out.astype(np.float32) / 255

    def grid_of(look, rgb):
        return image_grid(look, tuple(rgb[..., c] for c in range(3)), to_rgb)[0]

    names, outputs = [], []
    for style in styles:
        look = Look.named(style)
        attached = draw(big, look, grid_of(look, big))
        g0 = grid_of(look, src[0])
        fine = 8  # the same bilinear function on 8x finer cells, so displacing it hardly blurs it
        gh, gw = g0.shape[-2:]
        g8 = np.stack(
            [cv2.resize(p, (gw * fine, gh * fine), interpolation=cv2.INTER_LINEAR) for p in g0.reshape(-1, gh, gw)]
        ).reshape(g0.shape[:2] + (gh * fine, gw * fine))
        carried = []
        for s, p in zip(src, pos):
            d = (p - pos[0]) / np.array([ww, wh]) * np.array([gw, gh]) * fine
            carried.append(draw(s, look, displaced(g8, np.float32(d[0]), np.float32(d[1]))))
        variants = {
            "attached": [cut(attached, p) for p in pos],
            "frame-locked": [draw(s, look, g0) for s in src],
            "per-frame": [draw(s, look, grid_of(look, s)) for s in src],
            "flat": [draw(s, look, flat(g0)) for s in src],
            "carried": carried,
        }
        for k, v in variants.items():
            names.append(f"{style} {k}")
            outputs.append(v)
    reports = measure_flicker_frames_many([s.astype(np.float32) / 255 for s in src], outputs)
    print(f"# {clip.name}: frame 45 translated, {frames} frames, steps of ≤ {step} px at {width} px; 480 px")
    print_reports(names, reports)


class CellFlow:
    """Low-res DIS flow from frame t to its neighbours, as cell means (cell units), composed over frames."""

    def __init__(self, source: Path, cells: tuple[int, int]):
        self.lumas = []
        with av.open(str(source)) as container:
            for f in container.decode(video=0):
                rgb = f.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                s = min(1.0, 256 / max(h, w))
                small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
                self.lumas.append(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        self.cells = cells
        self._steps: dict[tuple[int, int], np.ndarray] = {}

    def step(self, a: int, b: int) -> np.ndarray:
        if (a, b) not in self._steps:
            gh, gw = self.cells
            f = self.dis.calc(self.lumas[a], self.lumas[b], None)
            h, w = self.lumas[a].shape
            c = cv2.resize(f, (gw, gh), interpolation=cv2.INTER_AREA)
            c[..., 0] *= gw / w
            c[..., 1] *= gh / h
            self._steps[(a, b)] = c
        return self._steps[(a, b)]

    def to(self, t: int, j: int) -> np.ndarray:
        """Where the content of frame t's cells is in frame j (cell displacement, (Gh, Gw, 2))."""
        gh, gw = self.cells
        disp = np.zeros((gh, gw, 2), np.float32)
        direction = 1 if j > t else -1
        for cur in range(t, j, direction):
            f = self.step(cur, cur + direction)
            disp = disp + displaced(f.transpose(2, 0, 1)[None], disp[..., 0], disp[..., 1])[0].transpose(1, 2, 0)
        return disp


def real(source: Path, styles: list[str], work: Path, variants: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    shot_list = None
    flow = None
    for style in styles:
        plan, shot_list = pipeline.shot_render_plan(source, Look.named(style), "off")
        recorder = Recorder()
        render(source, work / f"{source.stem}.{style}.off.mkv", RenderPlan(plan.shots, "off"), recorder)
        grids = recorder.grids
        if flow is None:
            flow = CellFlow(source, grids[0].shape[-2:])
        for v in variants:
            out = work / f"{source.stem}.{style}.{v}.mkv"
            outputs[f"{style} {v}"] = out
            if v == "light":
                render(source, out, RenderPlan(plan.shots, "light"), GridSmoother("light"))
                continue
            table: dict[int, np.ndarray] = {}
            for shot in shot_list.shots:
                lo, hi = shot.start_frame, shot.end_frame
                middle = grids[(lo + hi - 1) // 2]
                if v in ("frozen", "flat"):
                    g = middle if v == "frozen" else flat(middle)
                    table.update({i: g for i in range(lo, hi)})
                    continue
                sigma, radius = (6.0, 12) if v == "carried6" else (2.0, 4)
                for t in range(lo, hi):
                    total, weights = np.zeros(middle.shape), 0.0
                    for j in range(max(lo, t - radius), min(hi, t + radius + 1)):
                        w = float(np.exp(-0.5 * ((j - t) / sigma) ** 2))
                        d = flow.to(t, j)
                        total += w * (grids[j] if j == t else displaced(grids[j], d[..., 0], d[..., 1]))
                        weights += w
                    table[t] = (total / weights).astype(np.float32)
            render(source, out, RenderPlan(plan.shots, "off"), Replace(table))
    reports = measure_flicker_many(source, list(outputs.values()), shots=shot_list)
    print(f"# {source.name}")
    print_reports(list(outputs), reports)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("synthetic", "real"))
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--style", default=STYLES)
    ap.add_argument("--frames", type=int, default=40, help="synthetic: frames")
    ap.add_argument("--step", type=int, default=1, help="synthetic: largest step of the walk, px at the clip's size")
    ap.add_argument("--variants", default="light,frozen,flat,carried,carried6", help="real: which renders")
    ap.add_argument("--work", type=Path, default=Path(".bench/grid_motion"))
    args = ap.parse_args(argv)
    styles = [s.strip() for s in args.style.split(",") if s.strip()]
    for clip in args.clips:
        if args.mode == "synthetic":
            synthetic(clip, styles, args.frames, args.step)
        else:
            real(clip, styles, args.work, [v.strip() for v in args.variants.split(",") if v.strip()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
