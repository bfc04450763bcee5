"""Gate weave and grain on real clips with seeded synthetic damage: how much each part takes out.

    python benchmarks/restore_weave.py [--frames 60]

Stabilize: the residual jitter (RMS frame-to-frame global move after its smooth trend, measured by
DIS flow, pixels at 720p) of the clean clip, with seeded weave, and restored; the clip's mean move per
frame clean and restored (a camera move must be kept); how many frames of the clean clip the part
leaves bit-exact; ms per frame. The clips: a locked-off shot with a person moving a lot (cups_table), a
locked-off park (dog_park), a plane against plain sky with a jerky tracking camera (airfield: no tile
sees a textured background), a handheld pan with parallax (bedroom_kids from frame 110), and a fast
animated pan over a letterboxed scene (sintel's first shot, frames 0-57). Grain: PSNR against the
clean clip with seeded film-like grain and after reduction, gradient strength on the clean clip's
edges, ms per frame. Run from the repo root.

"ms" is the time per frame with each restored frame dropped once made, as the stream does; "kept"
keeps every restored frame alive, as `run_part` does (at 720p the fresh pages cost ~1 ms a plane).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from restore_frames import gray_frames, run_part, work_frames  # noqa: E402

from vidbw.eval.damage import Damager, DamageSpec  # noqa: E402
from vidbw.restore.base import Window  # noqa: E402
from vidbw.restore.grain import Grain, synthetic_grain  # noqa: E402
from vidbw.restore.stabilize import Stabilize, global_steps, residual_jitter  # noqa: E402

VIDEO = REPO.parent / "shared" / "media" / "video"
# (clip, first frame, most frames): one shot each.
WEAVE_CLIPS = [
    ("cups_table_720p.mp4", 0, 10**6),
    ("dog_park_720p.mp4", 0, 10**6),
    ("airfield_sound_360p.mp4", 0, 10**6),
    ("bedroom_kids_540p.mp4", 110, 10**6),
    ("sintel_cuts_360p.mp4", 0, 58),
]
GRAIN_CLIPS = ["cups_table_720p.mp4", "dog_park_720p.mp4"]
SIZE = (1280, 720)


def timed(part, frames) -> tuple[list, float, float]:
    """The restored frames, and ms per frame: with each output dropped at once (the stream's way), and
    with all of them kept (`run_part`)."""
    start = time.perf_counter()
    summaries = [part.summarise(f) for f in frames]
    cache: dict = {}
    for i in range(len(frames)):
        near = range(-part.reach, part.reach + 1)
        part.restore(
            Window(
                {k: frames[i + k] for k in near if abs(k) <= part.radius and 0 <= i + k < len(frames)},
                {k: summaries[i + k] for k in near if abs(k) <= part.summary_radius and 0 <= i + k < len(frames)},
                cache,
            )
        )
    dropped = (time.perf_counter() - start) / len(frames) * 1e3
    start = time.perf_counter()
    out = run_part(part, frames)
    return out, dropped, (time.perf_counter() - start) / len(frames) * 1e3


def weave(count: int) -> None:
    print("stabilize (weave 1.5 px std x, 0.75 y at 720p, seed 7)")
    print(
        f"{'clip':26} {'jitter clean':>12} {'woven':>7} {'restored':>8} {'cut':>5} {'move clean':>14} {'restored':>14}"
        f" {'untouched':>9} {'ms':>5} {'kept':>5}"
    )
    for name, first, most in WEAVE_CLIPS:
        clean = gray_frames(VIDEO / name, min(count, most), SIZE, start=first)
        damage = Damager(DamageSpec(weave=1.5, seed=7), clean[0].shape)
        woven = [damage(i, y).y for i, y in enumerate(clean)]
        restored, ms, ms_kept = timed(Stabilize(), work_frames(woven))
        kept = run_part(Stabilize(), frames := work_frames(clean))
        untouched = sum(r.y is f.y for r, f in zip(kept, frames))
        before, after = residual_jitter(woven), residual_jitter([r.y for r in restored])
        move_clean = global_steps(clean).mean(axis=0)
        move_restored = global_steps([r.y for r in restored]).mean(axis=0)
        label = f"{name}@{first}" if first else name
        print(
            f"{label:26} {residual_jitter(clean):12.3f} {before:7.3f} {after:8.3f} {1 - after / before:5.0%}"
            f" {move_clean[0]:+6.2f},{move_clean[1]:+6.2f} {move_restored[0]:+6.2f},{move_restored[1]:+6.2f}"
            f" {untouched:4d}/{len(clean):<4d} {ms:5.1f} {ms_kept:5.1f}"
        )


def grain(count: int) -> None:
    print("grain (0.04 std at mid-gray, seed 3)")
    print(
        f"{'clip':26} {'PSNR grainy':>11} {'restored':>8} {'edge clean':>10} {'grainy':>7} {'restored':>8}"
        f" {'ms':>5} {'kept':>5}"
    )
    for name in GRAIN_CLIPS:
        clean = gray_frames(VIDEO / name, count, SIZE)
        grainy = [y + synthetic_grain(y, seed=3, index=i) for i, y in enumerate(clean)]
        restored, ms, ms_kept = timed(Grain(), work_frames(grainy))

        middle = count // 2
        edges = cv2.Canny(np.uint8(clean[middle] * 255), 60, 150) > 0
        print(
            f"{name:26} {psnr(grainy, clean):11.2f} {psnr([r.y for r in restored], clean):8.2f}"
            f" {edge(clean[middle], edges):10.3f}"
            f" {edge(grainy[middle], edges):7.3f} {edge(restored[middle].y, edges):8.3f} {ms:5.1f} {ms_kept:5.1f}"
        )


def psnr(frames: list[np.ndarray], clean: list[np.ndarray]) -> float:
    return float(np.mean([10 * np.log10(1 / np.mean((x - c) ** 2)) for x, c in zip(frames, clean)]))


def edge(y: np.ndarray, edges: np.ndarray) -> float:
    """Mean gradient magnitude on the clean frame's edge pixels."""
    return float(np.hypot(cv2.Sobel(y, -1, 1, 0), cv2.Sobel(y, -1, 0, 1))[edges].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    weave(args.frames)
    grain(min(args.frames, 24))


if __name__ == "__main__":
    main()
