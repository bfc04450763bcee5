"""The restoration table: seeded archive damage on real clean clips, restored by vidbw and by ffmpeg's
deflicker, scored against the clean clip; plus the real archive film, and speed against ffmpeg.

    python benchmarks/restore_table.py                       # the clips of docs/RESTORE.md, 96 frames each
    python benchmarks/restore_table.py --clips video/dog_park_720p.mp4 --frames 48
    python benchmarks/restore_table.py --speed               # 720p, clean and damaged: vs ffmpeg's plain transcode

Each clip's first N frames are made gray and damaged by `vidbw.eval.damage` (flicker, regional
flicker, dust, scratches; seed 1) and written losslessly (FFV1), with the clean luma beside them.
vidbw restores with the default parts (`vidbw restore`, FFV1 out); ffmpeg runs
`-vf deflicker=size=5:mode=am` on the same file. Reported per clip, in 8-bit luma codes:
- flicker index (`vidbw.eval.restore.brightness_flicker_index`) of clean, damaged, vidbw, ffmpeg;
- PSNR against the clean clip of damaged, vidbw, ffmpeg;
- specks removed: a speck counts as removed when the error left on its core is under a quarter of
  what the damage put there (or under 4 codes);
- changed on the clean clip: the share of pixels that `vidbw restore` moves by more than 1 code
  when there is no damage at all (fast motion must not look like dust).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from vidbw.eval.brightness import brightness_flicker_index
from vidbw.eval.damage import ARCHIVE_DAMAGE, Damager, damage_clip
from vidbw.metrics import psnr

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parent.parent / "shared" / "media"
WORK = HERE.parent / ".bench" / "restore"
CLIPS = [
    "video/juggler_park_720p.mp4",
    "video/dog_park_720p.mp4",
    "video/hands_blocks_720p.mp4",
    "video/cups_table_720p.mp4",
    "video/squirrel_table_720p.mp4",
    "archive_bw/chaplin_music_360p.mp4",  # the real archive film with the same damage on top
]
DAMAGE = replace(ARCHIVE_DAMAGE, weave=0.0, seed=1)  # weave is stabilize's, an opt-in part: see its own row


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def lumas(path: Path) -> list[np.ndarray]:
    """Every frame's Y plane, in codes."""
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray()[: frame.height].astype(np.float32))  # Y plane codes
        return out


def vidbw(*args: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-c", "from vidbw.cli import main; main()", *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ffmpeg(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
    return time.perf_counter() - started


def specks_removed(restored: list[np.ndarray], damaged: list[np.ndarray], clean: list[np.ndarray]) -> tuple[int, int]:
    damager = Damager(DAMAGE, clean[0].shape)
    removed = total = 0
    yy, xx = np.mgrid[0 : clean[0].shape[0], 0 : clean[0].shape[1]]
    for index, clean_frame in enumerate(clean):
        for speck in damager(index, (clean_frame - 16) / 219).specks:
            core = (xx - speck.x) ** 2 + (yy - speck.y) ** 2 <= max(speck.radius * 0.7, 1.0) ** 2
            if not core.any():
                continue
            before = np.abs(damaged[index][core] - clean_frame[core]).mean()
            if before < 8:  # a speck the same tone as the picture under it: nothing to remove
                continue
            after = np.abs(restored[index][core] - clean_frame[core]).mean()
            total += 1
            removed += bool(after < max(before / 4, 4.0))
    return removed, total


def table_row(clip: Path, frames: int) -> dict:
    work = WORK / clip.stem
    work.mkdir(parents=True, exist_ok=True)
    clean_path, damaged_path = work / "clean.mkv", work / "damaged.mkv"
    damage_clip(clip, clean_path, damaged_path, DAMAGE, frames)
    ours, theirs, untouched = work / "vidbw.mkv", work / "ffmpeg.mkv", work / "clean_restored.mkv"
    vidbw("restore", str(damaged_path), "-o", str(ours), "--codec", "ffv1", "--overwrite", "-q")
    ffmpeg("-i", str(damaged_path), "-vf", "deflicker=size=5:mode=am", "-c:v", "ffv1", str(theirs))
    vidbw("restore", str(clean_path), "-o", str(untouched), "--codec", "ffv1", "--overwrite", "-q")
    clean, damaged, restored, ff, clean_after = (
        lumas(p) for p in (clean_path, damaged_path, ours, theirs, untouched)
    )
    removed, total = specks_removed(restored, damaged, clean)
    changed = np.mean([np.mean(np.abs(a - b) > 1) for a, b in zip(clean_after, clean)])

    def score(frames_):
        return round(float(np.mean([psnr(a / 255, b / 255) for a, b in zip(frames_, clean)])), 2)

    return {
        "clip": clip.name,
        "frames": len(clean),
        "flicker": {
            name: round(brightness_flicker_index([f / 255 for f in seq]), 3)
            for name, seq in (("clean", clean), ("damaged", damaged), ("vidbw", restored), ("ffmpeg", ff))
        },
        "psnr": {"damaged": score(damaged), "vidbw": score(restored), "ffmpeg": score(ff)},
        "specks_removed": f"{removed}/{total}",
        "changed_on_clean_pct": round(100 * float(changed), 3),
    }


def archive_row() -> dict:
    film = MEDIA / "archive_bw" / "chaplin_music_360p.mp4"
    work = WORK / "chaplin"
    work.mkdir(parents=True, exist_ok=True)
    ours, theirs = work / "vidbw.mkv", work / "ffmpeg.mkv"
    vidbw("restore", str(film), "-o", str(ours), "--codec", "ffv1", "--overwrite", "-q")
    ffmpeg("-i", str(film), "-vf", "deflicker=size=5:mode=am", "-c:v", "ffv1", "-an", str(theirs))
    return {
        "clip": film.name,
        "flicker": {
            name: round(brightness_flicker_index([f / 255 for f in lumas(p)]), 3)
            for name, p in (("source", film), ("vidbw", ours), ("ffmpeg", theirs))
        },
    }


def speed_row(clip: Path, label: str) -> dict:
    """`vidbw restore` (default parts, x264 medium crf 18) against ffmpeg's plain transcode with the
    same settings, alternated twice in the same run; the best of each."""
    work = WORK / "speed"
    work.mkdir(parents=True, exist_ok=True)
    with av.open(str(clip)) as container:
        frames = sum(1 for packet in container.demux(video=0) if packet.size)
    encode = ["-c:v", "libx264", "-preset", "medium", "-crf", "18"]
    transcode, ours = [], []
    for _ in range(2):
        transcode.append(ffmpeg("-i", str(clip), *encode, "-c:a", "copy", str(work / "ffmpeg.mp4")))
        ours.append(vidbw("restore", str(clip), "-o", str(work / "vidbw.mp4"), "--overwrite", "-q"))
    deflicker = ffmpeg("-i", str(clip), "-vf", "deflicker=size=5:mode=am", *encode, str(work / "ffmpeg_deflicker.mp4"))
    return {
        "clip": label,
        "frames": frames,
        "ffmpeg_transcode_fps": round(frames / min(transcode), 1),
        "ffmpeg_deflicker_fps": round(frames / deflicker, 1),
        "vidbw_restore_fps": round(frames / min(ours), 1),
        "ratio_to_transcode": round(min(transcode) / min(ours), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=CLIPS)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--speed", action="store_true", help="only the speed row (720p, whole clip)")
    args = parser.parse_args()
    if args.speed:
        clip = MEDIA / "video" / "dog_park_720p.mp4"
        print(json.dumps(speed_row(clip, clip.name)), flush=True)
        damaged = WORK / "speed" / "dog_park_damaged.mkv"
        damaged.parent.mkdir(parents=True, exist_ok=True)
        damage_clip(clip, WORK / "speed" / "dog_park_clean.mkv", damaged, DAMAGE)  # the whole clip, lossless
        print(json.dumps(speed_row(damaged, "dog_park_720p.mp4 with archive damage (FFV1)")), flush=True)
        return
    for name in args.clips:
        print(json.dumps(table_row(MEDIA / name, args.frames)), flush=True)
    print(json.dumps(archive_row()), flush=True)


if __name__ == "__main__":
    main()
