"""Throughput of `vidbw convert --colorize` against ffmpeg's plain transcode, in the same run.

    python benchmarks/bench_colorize.py                      # 720p real clip, automatic and reference modes
    python benchmarks/bench_colorize.py --clip cups_table_720p.mp4 --preset veryfast
    python benchmarks/bench_colorize.py --clip cups_table_720p.mp4 --modes reference,two_keys

The reference is `ffmpeg -i IN -c:v libx264 -preset P -crf Q -c:a copy OUT` (same preset and crf):
what it costs just to re-encode the film. The input is a real 720p clip from ../shared/media; the
reference mode gets the clip's own first frame as its coloured key frame (the issue's protocol),
"two_keys" its first and last frames (every frame between them carried from both: the most a frame
costs). vidbw's fps is the whole command's wall clock (analysis pass, model loading and Python
start-up included); "steady" uses the conversion time vidbw reports itself; "cpu_ratio" is vidbw's
CPU seconds (all threads) over ffmpeg's, steadier than wall clock on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench_convert import FFMPEG, MEDIA, WORK, frame_count, timed


def key_frames(clip: Path, frames: list[int], name: str) -> Path:
    """The clip's frames `frames` as key frames, in a folder named by frame number (--reference DIR)."""
    import av
    import numpy as np

    from vidbw.io.images import write_image

    folder = WORK / f"{clip.stem}_{name}"
    folder.mkdir(exist_ok=True)
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in frames:
                write_image(folder / f"{index:06d}.png", np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
    return folder


def bench(clip: Path, preset: str, crf: int, modes: list[str]) -> dict:
    WORK.mkdir(exist_ok=True)  # a fresh clone has no .bench/ yet
    frames = frame_count(clip)
    ffmpeg = timed([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-c:v", "libx264",
                    "-preset", preset, "-crf", str(crf), "-c:a", "copy", str(WORK / "ffmpeg_transcode.mp4")])
    result = {"clip": clip.name, "frames": frames, "ffmpeg_fps": round(frames / ffmpeg.wall, 1)}
    keys = {"automatic": None, "reference": [0], "two_keys": [0, frames - 1]}
    for mode in modes:
        extra = ["--reference", str(key_frames(clip, keys[mode], mode))] if keys[mode] else []
        wall, rss, log, cpu = timed([sys.executable, "-c", "from vidbw.cli import main; main()", "convert", str(clip),
                                     "-o", str(WORK / f"colorize_{mode}.mp4"), "--overwrite", "--colorize", *extra,
                                     "--preset", preset, "--crf", str(crf)])
        steady = re.search(r"in ([\d.]+)s \(", log)
        result[mode] = {"fps": round(frames / wall, 1), "ratio": round(ffmpeg.wall / wall, 2),
                        "steady_fps": round(frames / float(steady.group(1)), 1) if steady else None,
                        "cpu_ratio": round(cpu / ffmpeg.cpu, 2), "peak_rss_mib": rss}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="dog_park_720p.mp4", help="a clip in ../shared/media/video")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--modes", default="automatic,reference,two_keys", help="a comma list of the modes above")
    args = parser.parse_args()
    clip = MEDIA / args.clip
    if not clip.exists():
        sys.exit(f"benchmark clip missing: {clip}")
    print(json.dumps(bench(clip, args.preset, args.crf, args.modes.split(",")), indent=2))


if __name__ == "__main__":
    main()
