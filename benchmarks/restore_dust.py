"""Measure the dust and scratches parts of `vidbw.restore` on real clips with seeded synthetic damage.

For each clip (made gray, 720p as shipped): restore the first frames damaged by `vidbw.eval.damage`
(dust only, or scratches only) and score against the clean frames, and restore the clean frames to
count what the part changes where there is nothing to mend. Then run both parts on the real archive
and write a before/after crop of the frame they change most.

    python benchmarks/restore_dust.py [--frames 40] [--crop /tmp/restore_dust_chaplin.png]
        [--clips juggler_park_720p.mp4 ...] [--parts dust scratches archive] [--seeds 1 2 3 5 7]

Columns: specks visible in the damage and removed (% of them); for scratches, per seed, the share of
scratch pixels (the damage mask) whose error against the clean frame is left under a third of the
damage, and their mean error before -> after (codes), then the same on the damaged Chaplin archive;
for dust, PSNR against the clean frames before and after; pixels changed by more than one 8-bit code on
the clean clip; milliseconds per frame of the part alone (this machine, as many threads as OpenCV takes).
Dust is scored and counted on every frame (the first and last are compared with the two frames after
or before them), and timed on the frames with a neighbour on each side.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidbw.eval.damage import Damager, DamageSpec
from vidbw.restore.base import Part, Window, WorkFrame
from vidbw.restore.dust import Dust
from vidbw.restore.scratches import Scratches

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
CLIPS = [
    "juggler_park_720p.mp4",
    "dog_park_720p.mp4",
    "hands_blocks_720p.mp4",
    "squirrel_table_720p.mp4",
    "cups_table_720p.mp4",
]
ONE_CODE = 1.0 / 255
SEEDS = (1, 2, 3, 5, 7)  # scratch damage seeds (two scratches each)


def gray_frames(path: Path, count: int, skip: int = 0) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= skip:
                frames.append(frame.to_ndarray(format="gray").astype(np.float32) / 255)
            if len(frames) == count:
                break
    return frames


def work_frame(index: int, y: np.ndarray) -> WorkFrame:
    neutral = np.full((y.shape[0] // 2, y.shape[1] // 2), 0.5, np.float32)
    return WorkFrame(index, y, neutral, neutral)


def run_part(part: Part, planes: list[np.ndarray], interior: bool = False) -> tuple[list[np.ndarray], float]:
    """Every frame restored in one shot, windows as the stream builds them; (luma out, ms per frame).
    `interior`: the time is per frame with its whole window (the first and last `radius` frames, which
    have fewer neighbours, are not counted)."""
    frames = [work_frame(i, y) for i, y in enumerate(planes)]
    summaries = [part.summarise(f) for f in frames]
    cache: dict = {}
    out, seconds, timed = [], 0.0, 0
    for i in range(len(frames)):
        near = range(-part.reach, part.reach + 1)
        window = Window(
            {k: frames[i + k] for k in near if 0 <= i + k < len(frames) and abs(k) <= part.radius},
            {k: summaries[i + k] for k in near if 0 <= i + k < len(frames) and abs(k) <= part.summary_radius},
            cache,
        )
        start = time.perf_counter()
        out.append(part.restore(window).y)
        if not interior or part.radius <= i < len(frames) - part.radius:
            seconds += time.perf_counter() - start
            timed += 1
        for old in [k for k in cache if k < i - part.reach]:
            del cache[old]
    return out, 1000 * seconds / max(timed, 1)


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b)])
    return float(10 * np.log10(1 / max(mse, 1e-12)))


def speck_scores(clean, damaged, restored, specks_per_frame) -> tuple[int, int]:
    """(visible specks, removed specks): visible when its core differs from the clean frame by more than
    0.05 on average, removed when what is left of that difference is under a quarter of it."""
    visible = removed = 0
    for c, d, r, (mask, specks) in zip(clean, damaged, restored, specks_per_frame):
        h, w = c.shape
        yy, xx = np.ogrid[:h, :w]
        for speck in specks:
            core = mask & ((xx - speck.x) ** 2 + (yy - speck.y) ** 2 <= (2.5 * speck.radius + 1) ** 2)
            if not core.any():
                continue
            before = np.abs(d[core] - c[core]).mean()
            if before < 0.05:
                continue
            visible += 1
            removed += np.abs(r[core] - c[core]).mean() < 0.25 * before
    return visible, removed


def changed_fraction(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return float(np.mean([np.mean(np.abs(a - b) > ONE_CODE) for a, b in zip(before, after)]))


def measure_clip(path: Path, count: int, parts: list[str], seeds=SEEDS) -> list[float]:
    clean = gray_frames(path, count)
    if "dust" in parts:
        measure_dust(path, clean)
    if "scratches" in parts:
        return measure_scratches(path, clean, seeds)
    return []


def measure_dust(path: Path, clean: list[np.ndarray]) -> None:
    """Scored on every frame, the shot's first and last included."""
    dust_damager = Damager(DamageSpec(dust=6.0, seed=7), clean[0].shape)
    dusty = [dust_damager(i, y) for i, y in enumerate(clean)]
    restored, ms = run_part(Dust(), [d.y for d in dusty], interior=True)
    damaged = [d.y for d in dusty]
    visible, removed = speck_scores(clean, damaged, restored, [(d.dust, d.specks) for d in dusty])
    on_clean, _ = run_part(Dust(), clean)
    print(
        f"dust       {path.stem:24s} specks removed {removed}/{visible} = {100 * removed / max(visible, 1):5.1f} %"
        f"  PSNR {psnr(clean, damaged):5.2f} -> {psnr(clean, restored):5.2f} dB"
        f"  clean changed {100 * changed_fraction(clean, on_clean):.4f} %  {ms:.1f} ms/frame"
    )


def scratch_scores(clean, scratched, restored) -> tuple[float, float, float]:
    """(share of scratch pixels fixed, mean error before, after in codes) over the damage masks: a pixel
    is fixed when its error against the clean frame is left under a third of what the damage made it."""
    fixed = total = 0
    before = after = 0.0
    for c, s, r in zip(clean, scratched, restored):
        damage, left = np.abs(s.y - c)[s.scratches], np.abs(r - c)[s.scratches]
        fixed += int((left < damage / 3).sum())
        total += damage.size
        before, after = before + float(damage.sum()), after + float(left.sum())
    return fixed / max(total, 1), 255 * before / max(total, 1), 255 * after / max(total, 1)


def measure_scratches(path: Path, clean: list[np.ndarray], seeds=SEEDS, first_index: int = 0) -> list[float]:
    """Two scratches from each seed; per seed the share of scratch pixels fixed and the scratch error
    before -> after; then pixels changed on the clean clip and the part's time. Returns the shares."""
    scores, shares = [], []
    ms = 0.0
    for seed in seeds:
        damager = Damager(DamageSpec(scratches=2, seed=seed), clean[0].shape)
        scratched = [damager(first_index + i, y) for i, y in enumerate(clean)]
        restored, ms = run_part(Scratches(), [s.y for s in scratched])
        fixed, before, after = scratch_scores(clean, scratched, restored)
        shares.append(fixed)
        scores.append(f"s{seed} {100 * fixed:3.0f}% {before:4.1f}->{after:4.1f}")
    on_clean, _ = run_part(Scratches(), clean)
    print(
        f"scratches  {path.stem:24s} fixed, codes: {'  '.join(scores)}"
        f"  clean changed {100 * changed_fraction(clean, on_clean):.4f} %  {ms:.1f} ms/frame"
    )
    return shares


def look_at_archive(count: int, crop_png: Path) -> None:
    """Both parts on the real archive: how much they change, and the most-changed frame's crop."""
    original = gray_frames(MEDIA / "archive_bw" / "chaplin_music_360p.mp4", count, skip=100)
    descratched, _ = run_part(Scratches(), original)
    restored, ms = run_part(Dust(), descratched)
    print(
        f"archive    chaplin_music_360p  changed: scratches {100 * changed_fraction(original, descratched):.3f} %,"
        f" scratches+dust {100 * changed_fraction(original, restored):.3f} %  (dust {ms:.1f} ms/frame at 360p)"
    )
    worst = int(np.argmax([np.sum(np.abs(a - b) > ONE_CODE) for a, b in zip(original, restored)]))
    difference = np.abs(original[worst] - restored[worst]) > ONE_CODE
    rows, cols = np.nonzero(difference)
    h, w = original[worst].shape
    cy, cx = (int(np.median(rows)), int(np.median(cols))) if rows.size else (h // 2, w // 2)
    y0, x0 = min(max(cy - 80, 0), h - 160), min(max(cx - 120, 0), w - 240)
    tiles = [p[worst][y0 : y0 + 160, x0 : x0 + 240] for p in (original, restored)]
    marked = np.where(difference[y0 : y0 + 160, x0 : x0 + 240], 1.0, tiles[0] * 0.5)
    sheet = np.hstack([tiles[0], tiles[1], marked])
    sheet = cv2.resize(sheet, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(crop_png), np.clip(sheet * 255, 0, 255).astype(np.uint8))
    print(
        f"archive    frame {100 + worst}: before | after | changed pixels (white), crop at ({x0}, {y0}) -> {crop_png}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--crop", type=Path, default=Path("/tmp/restore_dust_chaplin.png"))
    parser.add_argument("--clips", nargs="*", default=CLIPS)
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS), help="scratch damage seeds")
    parser.add_argument(
        "--parts", nargs="*", default=["dust", "scratches", "archive"], choices=["dust", "scratches", "archive"]
    )
    args = parser.parse_args()
    shares = []
    for clip in args.clips:
        shares += measure_clip(MEDIA / "video" / clip, args.frames, args.parts, args.seeds)
    if "scratches" in args.parts:
        # The real archive at its own 360p with the same synthetic scratches (seed 1 is the pair on the
        # contact sheet of benchmarks/restore_sheet.py); the clean clip is its pillarboxed original.
        chaplin = MEDIA / "archive_bw" / "chaplin_music_360p.mp4"
        shares += measure_scratches(chaplin, gray_frames(chaplin, args.frames), args.seeds)
        mean, worst = 100 * np.mean(shares), 100 * min(shares)
        print(f"scratches  all clips and seeds: {mean:.1f} % of scratch pixels fixed (worst {worst:.0f} %)")
    if "archive" in args.parts:
        look_at_archive(args.frames, args.crop)


if __name__ == "__main__":
    main()
