"""The flicker table: every style on real clips, against the same look held still.

For each clip, the first N frames are copied losslessly (FFV1, scaled to --width), every style is
rendered from that copy with `vidbw convert --codec ffv1` (default --temporal), and all renders are
measured in one `measure_flicker_many` call (one flow, so each row is what
`vidbw eval flicker COPY RENDER --shots SHOTS` prints). Cuts come from `vidbw shots` on the copy.

Columns: the warping-error ratio to the look held still, mapping flicker over its Rec.709 floor
(and the codes), the Rec.709 warping ratio, and the brightness flicker index (codes).

    PYTHONPATH=. /work/main/.venv/bin/python benchmarks/flicker_table.py --frames 90 \
        --clips airfield_sound_360p,dog_park_720p,juggler_park_720p,cups_table_720p,hands_blocks_720p,\
squirrel_table_720p,sintel_cuts_360p --work .bench/flicker_table --json .bench/flicker_table/table.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2

from vidbw import api
from vidbw.eval.flicker import measure_flicker_many

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "media" / "video"
CLIPS = (
    "airfield_sound_360p,dog_park_720p,juggler_park_720p,cups_table_720p,hands_blocks_720p,"
    "squirrel_table_720p,sintel_cuts_360p"
)


def trimmed_copy(source: Path, target: Path, frames: int, width: int) -> Path:
    """The first `frames` frames of `source`, scaled to `width` (even sizes), as lossless FFV1 yuv420p."""
    if target.is_file():
        return target
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        rate = stream_in.average_rate or Fraction(25)
        out = dst.add_stream("ffv1", rate=rate)
        out.pix_fmt = "yuv420p"
        count = 0
        for frame in src.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            if w > width:
                size = (width, 2 * round(h * width / w / 2))
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            if count == 0:
                out.width, out.height = rgb.shape[1], rgb.shape[0]
            dst.mux(out.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")))
            count += 1
            if count == frames:
                break
        dst.mux(out.encode())
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default=CLIPS, help="clip stems in --media, comma-separated")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--styles", default="all", help="comma-separated, or all (every classic and learned style)")
    ap.add_argument("--temporal", default=None, help="off, light or strong [default: vidbw's default]")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--width", type=int, default=480, help="width of the trimmed copy")
    ap.add_argument("--work", type=Path, default=Path(".bench/flicker_table"))
    ap.add_argument("--reuse", action="store_true", help="measure renders already in --work")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.styles == "all":
        styles = [s.name for s in api.list_styles() if s.kind in ("classic", "learned")]
    else:
        styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    kinds = {s.name: s.kind for s in api.list_styles()}
    results: dict = {}
    header = f"{'clip':22s} {'style':17s} {'held-still':>10s} {'map/floor':>9s} {'map':>6s} {'floor':>6s} "
    header += f"{'held map':>8s} {'Rec.709':>8s} {'bright':>7s}"
    print(header)
    for clip in [c.strip() for c in args.clips.split(",") if c.strip()]:
        found = sorted(args.media.glob(f"{clip}.*"))
        if not found:
            raise SystemExit(f"no clip {clip} in {args.media}")
        copy = trimmed_copy(found[0], args.work / f"{clip}.{args.frames}.mkv", args.frames, args.width)
        shots_path = args.work / f"{clip}.{args.frames}.shots.json"
        if not shots_path.is_file():
            api.find_shots(copy, shots_path, overwrite=True)
        started = time.perf_counter()
        renders = {}
        for style in styles:
            tag = f"{style}.{args.temporal}" if args.temporal else style
            out = args.work / f"{clip}.{args.frames}.{tag}.mkv"
            if not (args.reuse and out.is_file()):
                api.convert(copy, out, style=style, codec="ffv1", temporal=args.temporal, overwrite=True)
            renders[style] = out
        rendered = time.perf_counter() - started
        reports = measure_flicker_many(copy, list(renders.values()), shots=shots_path)
        measured = time.perf_counter() - started - rendered
        print(
            f"# {clip}: {reports[0].frames} frames, {reports[0].skipped_at_cuts} cuts; rendered in {rendered:.0f}s, "
            f"measured in {measured:.0f}s",
            file=sys.stderr,
        )
        results[clip] = {}
        for style, report in zip(renders, reports):
            r = report.to_dict()
            results[clip][style] = {**r, "kind": kinds.get(style, "?")}
            print(
                f"{clip:22s} {style:17s} {report.ratio_held_still:10.3f} {report.mapping_ratio:9.3f} "
                f"{report.mapping_flicker:6.2f} {report.mapping_floor:6.2f} {report.mapping_held_still:8.2f} "
                f"{report.ratio_rec709:8.3f} {report.brightness_flicker_output:7.3f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
