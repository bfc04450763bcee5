"""Deflicker on real clips with known flicker, against ffmpeg's `deflicker` filter, same frames, same run.

Each clip (720p, made gray, the first FRAMES frames) gets seeded global + regional flicker
(`vidbw.eval.damage`, ARCHIVE_DAMAGE's flicker amplitudes, no other damage), rounded to 8-bit codes
and written losslessly (FFV1, gray). Then:

* ours: the `Deflicker` part through the restoration stream's stages on the damaged frames, timed (ms per frame: the
  summaries and the restore of every frame);
* ffmpeg: `-vf deflicker=size=5:mode=am` on the lossless clip, read back losslessly;

and for each: the brightness flicker index (`vidbw.eval.restore`, 8-bit codes) and the mean PSNR
against the clean frames. The Chaplin archive clip (real flicker, no clean original) gets the index
before and after.

    .venv/bin/python benchmarks/restore_deflicker.py [--frames 90]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

from vidbw.eval.brightness import brightness_flicker_index
from vidbw.eval.damage import ARCHIVE_DAMAGE, Damager, DamageSpec
from vidbw.eval.restore import score_against_clean
from vidbw.restore.base import WorkFrame
from vidbw.restore.deflicker import Deflicker
from vidbw.restore.stream import restore_work_frames

MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
CLIPS = ["video/juggler_park_720p.mp4", "video/dog_park_720p.mp4", "video/hands_blocks_720p.mp4"]
ARCHIVE = "archive_bw/chaplin_music_360p.mp4"
FLICKER = DamageSpec(flicker=ARCHIVE_DAMAGE.flicker, regional_flicker=ARCHIVE_DAMAGE.regional_flicker, seed=7)


def deflicker_lumas(lumas: list[np.ndarray], cuts=()) -> list[np.ndarray]:
    neutral = np.full((1, 1), 0.5, np.float32)
    frames = [WorkFrame(t, y, neutral, neutral) for t, y in enumerate(lumas)]
    return [f.y for f in restore_work_frames([Deflicker()], frames, cuts)]


def read_gray(path: Path, frames: int) -> list[np.ndarray]:
    """The first `frames` frames as float32 luma in [0, 1] (8-bit codes / 255)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="gray").astype(np.float32) / 255)
            if len(out) == frames:
                break
    return out


def to_codes(lumas: list[np.ndarray]) -> list[np.ndarray]:
    return [np.clip(np.rint(y * 255), 0, 255).astype(np.uint8) for y in lumas]


def write_lossless(codes: list[np.ndarray], path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = codes[0].shape[1], codes[0].shape[0], "gray"
        for c in codes:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(c, format="gray")))
        container.mux(stream.encode(None))


def ffmpeg_deflicker(codes: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    src, dst = folder / "damaged.mkv", folder / "ffmpeg.mkv"
    write_lossless(codes, src)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(src), "-vf", "deflicker=size=5:mode=am", "-c:v", "ffv1", str(dst)]
    subprocess.run(cmd, check=True)
    return read_gray(dst, len(codes))


def as_float(codes: list[np.ndarray]) -> list[np.ndarray]:
    return [c.astype(np.float32) / 255 for c in codes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args()
    print(
        f"{'clip':28}{'index clean':>12}{'damaged':>9}{'ours':>7}{'ffmpeg':>8}{'ours %':>8}{'ffm %':>7}"
        f"{'PSNR dmg':>10}{'ours':>7}{'ffmpeg':>8}{'ms/frame':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            clean = as_float(to_codes(read_gray(MEDIA / clip, args.frames)))
            damager = Damager(FLICKER, clean[0].shape)
            damaged_codes = to_codes([damager(t, y).y for t, y in enumerate(clean)])
            damaged = as_float(damaged_codes)
            start = time.perf_counter()
            ours = as_float(to_codes(deflicker_lumas(damaged)))
            ms = 1000 * (time.perf_counter() - start) / len(damaged)
            theirs = ffmpeg_deflicker(damaged_codes, Path(tmp))
            index = [brightness_flicker_index(f) for f in (clean, damaged, ours, theirs)]
            psnr = [score_against_clean(f, clean).mean_psnr for f in (damaged, ours, theirs)]
            cut = [100 * (1 - i / index[1]) for i in index[2:]]
            print(
                f"{Path(clip).name:28}{index[0]:12.2f}{index[1]:9.2f}{index[2]:7.2f}{index[3]:8.2f}"
                f"{cut[0]:7.0f}%{cut[1]:6.0f}%{psnr[0]:10.2f}{psnr[1]:7.2f}{psnr[2]:8.2f}{ms:10.2f}"
            )
    archive = read_gray(MEDIA / ARCHIVE, 10**9)
    before, after = brightness_flicker_index(archive), brightness_flicker_index(deflicker_lumas(archive))
    print(f"{Path(ARCHIVE).name} ({len(archive)} frames, no cuts given): flicker index {before:.2f} -> {after:.2f}")


if __name__ == "__main__":
    main()
