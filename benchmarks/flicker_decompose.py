"""Where the warping error of a learned style comes from.

Renders one clip losslessly (FFV1) several ways through the real pipeline and measures each with
`vidbw.eval.flicker` on the same shot list (the flow computed once, so the numbers are exactly what
`vidbw eval flicker SOURCE OUTPUT --shots SHOTS` prints for each output):

* ``luma``: the classic ``neutral`` style (Rec.709 luma), the pipeline's own flicker-free render;
* ``off`` / ``light`` / ``strong``: the learned style with ``--temporal off|light|strong``;
* ``frozen``: every frame of a shot sliced with ONE grid, the one predicted for the shot's middle
  frame (with the shot's proxy): a fixed per-pixel mapping, so zero temporal change of the look.

If ``frozen`` ≈ ``off``, the excess over 1 is not flicker of the grids but the look itself (its
contrast, channel mix and region gains applied to the source's noise and to the flow's residue).
``frozen`` is fixed per pixel position, not per point of the scene: when the camera moves, content
crosses the grid's cells, so a spatially varying look changes along the motion even when frozen.
Grid statistics (RMS frame-to-frame change and RMS deviation from the shot's mean grid) tell how
much the per-frame grids move.

    .venv/bin/python benchmarks/flicker_decompose.py ../shared/media/video/dog_park_720p.mp4 \
        --style landscape-master,portrait-master,street-noir --work .bench/flicker --json .bench/flicker/dog.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import vidbw.pipeline as pipeline
from vidbw.eval.flicker import measure_flicker_many
from vidbw.io.encode import EncodeSettings
from vidbw.render import Look, RenderPlan
from vidbw.temporal import GridSmoother


class Recorder:
    """A pass-through 'smoother' (temporal off) that keeps every frame's grid and shot."""

    def __init__(self):
        self.grids: dict[int, np.ndarray] = {}
        self.shot_of: dict[int, int] = {}

    def push(self, index, shot, grid):
        self.grids[index] = np.array(grid, dtype=np.float32)
        self.shot_of[index] = shot
        return [(index, grid)]

    def flush(self):
        return []


class Replace:
    """A 'smoother' that hands out a precomputed grid for every frame."""

    def __init__(self, table: dict[int, np.ndarray]):
        self.table = table

    def push(self, index, shot, grid):
        return [(index, self.table[index])]

    def flush(self):
        return []


def render(source: Path, out: Path, plan: RenderPlan, smoother) -> float:
    started = time.perf_counter()
    original = pipeline.make_smoother
    pipeline.make_smoother = lambda mode: smoother
    try:
        pipeline.convert_video(source, out, plan, EncodeSettings(codec="ffv1"), overwrite=True, device="cpu")
    finally:
        pipeline.make_smoother = original
    return time.perf_counter() - started


def grid_stats(recorder: Recorder) -> dict:
    """How much the raw grids move within shots: RMS frame-to-frame change and RMS deviation from
    the shot's mean grid, for the channel weights and for the offset, over all cells."""
    by_shot: dict[int, list[np.ndarray]] = {}
    for i in sorted(recorder.grids):
        by_shot.setdefault(recorder.shot_of[i], []).append(recorder.grids[i])
    steps_w, steps_c, dev_w, dev_c = [], [], [], []
    for grids in by_shot.values():
        g = np.stack(grids).astype(np.float64)  # (n, 4, D, gh, gw)
        if len(g) > 1:
            d = np.diff(g, axis=0)
            steps_w.append(np.square(d[:, :3]).mean()); steps_c.append(np.square(d[:, 3]).mean())
        dev = g - g.mean(axis=0, keepdims=True)
        dev_w.append(np.square(dev[:, :3]).mean()); dev_c.append(np.square(dev[:, 3]).mean())
    return {"shots": len(by_shot),
            "rms_step_weights": float(np.sqrt(np.mean(steps_w))) if steps_w else 0.0,
            "rms_step_offset": float(np.sqrt(np.mean(steps_c))) if steps_c else 0.0,
            "rms_dev_weights": float(np.sqrt(np.mean(dev_w))), "rms_dev_offset": float(np.sqrt(np.mean(dev_c)))}


def render_style(source: Path, style: str, variants: list[str], work: Path, reuse: bool) -> tuple[dict, object, dict]:
    """Render the learned-style variants of one clip; -> ({variant: path}, shot list, grid stats)."""
    stem = f"{source.stem}.{style}"
    plan, shot_list = pipeline.shot_render_plan(source, Look.named(style), "off")
    shot_list.save(work / f"{stem}.shots.json", overwrite=True)
    stats_path = work / f"{stem}.grids.json"
    outputs = {v: work / f"{stem}.{v}.mkv" for v in variants}
    todo = [v for v in variants if not (reuse and outputs[v].is_file())]
    recorder = Recorder()
    if "frozen" in todo or not stats_path.is_file():  # the per-frame grids first: 'frozen' is built from them
        todo = ["off"] + [v for v in todo if v != "off"]
    for variant in todo:
        out = work / f"{stem}.{variant}.mkv"
        if variant == "off":
            seconds = render(source, out, RenderPlan(plan.shots, "off"), recorder)
            stats_path.write_text(json.dumps({"proxies": [s.proxy for s in shot_list.shots], **grid_stats(recorder)}) + "\n")
        elif variant in ("light", "strong"):
            seconds = render(source, out, RenderPlan(plan.shots, variant), GridSmoother(variant))
        elif variant == "frozen":
            table = {}
            for shot in shot_list.shots:
                middle = recorder.grids[(shot.start_frame + shot.end_frame - 1) // 2]
                table.update({i: middle for i in range(shot.start_frame, shot.end_frame)})
            seconds = render(source, out, RenderPlan(plan.shots, "off"), Replace(table))
        else:
            raise SystemExit(f"unknown variant {variant}")
        print(f"rendered {style} {variant} in {seconds:.1f}s -> {out}", file=sys.stderr)
    return outputs, shot_list, json.loads(stats_path.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("--style", default="landscape-master", help="learned style(s), comma-separated")
    ap.add_argument("--work", type=Path, default=Path(".bench/flicker"))
    ap.add_argument("--variants", default="luma,off,light,strong,frozen")
    ap.add_argument("--reuse", action="store_true", help="measure renders already in --work instead of rendering them again")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    styles = [s.strip() for s in args.style.split(",") if s.strip()]
    outputs: dict[str, Path] = {}
    shot_list = None
    results = {"source": str(args.source), "styles": {}, "outputs": {}}
    if "luma" in variants:
        outputs["luma"] = args.work / f"{args.source.stem}.luma.mkv"
        if not (args.reuse and outputs["luma"].is_file()):
            render(args.source, outputs["luma"], RenderPlan.single(Look.named("neutral")), None)
    for style in styles:
        paths, shot_list, stats = render_style(args.source, style, [v for v in variants if v != "luma"], args.work, args.reuse)
        outputs.update({f"{style} {v}": path for v, path in paths.items()})
        results["styles"][style] = {"shots": [(s.start_frame, s.end_frame) for s in shot_list.shots], "grids": stats}
    # every output against one flow (cuts are the source's, the same for every style)
    started = time.perf_counter()
    reports = measure_flicker_many(args.source, list(outputs.values()), shots=shot_list)
    print(f"measured {len(outputs)} outputs in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    for name, report in zip(outputs, reports):
        results["outputs"][name] = {**report.to_dict(), "output": str(outputs[name])}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    keys = ("ratio_held_still", "mapping_ratio", "mapping_ratio_held_still", "ratio_rec709", "brightness_flicker_output")
    print(f"{'output':28s} " + " ".join(f"{k.replace('ratio_', ''):>15s}" for k in keys))
    for name, r in results["outputs"].items():
        print(f"{name:28s} " + " ".join(f"{r[k]:15.3f}" if r[k] is not None else f"{'-':>15s}" for k in keys))
    for style, info in results["styles"].items():
        print(f"{style}: grids {json.dumps(info['grids'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
