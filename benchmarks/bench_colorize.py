"""Throughput of `vidbw convert --colorize` against ffmpeg's plain transcode, in the same run.

    python benchmarks/bench_colorize.py                      # 720p real clip, automatic and reference modes
    python benchmarks/bench_colorize.py --clip cups_table_720p.mp4 --preset veryfast

The reference is `ffmpeg -i IN -c:v libx264 -preset P -crf Q -c:a copy OUT` (same preset and crf):
what it costs just to re-encode the film. The input is a real 720p clip from ../shared/media; the
reference mode gets the clip's own first frame as its coloured key frame (the issue's protocol).
vidbw's fps is the whole command's wall clock (analysis pass, model loading and Python start-up
included); "steady" uses the conversion time vidbw reports itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench_convert import FFMPEG, MEDIA, WORK, frame_count, timed


def first_frame_png(clip: Path) -> Path:
    import av
    import numpy as np

    from vidbw.io.images import write_image

    path = WORK / f"{clip.stem}_key0.png"
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
        write_image(path, np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
    return path


def bench(clip: Path, preset: str, crf: int) -> dict:
    WORK.mkdir(exist_ok=True)  # a fresh clone has no .bench/ yet
    frames = frame_count(clip)
    ff_wall = timed([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-c:v", "libx264",
                     "-preset", preset, "-crf", str(crf), "-c:a", "copy", str(WORK / "ffmpeg_transcode.mp4")]).wall
    result = {"clip": clip.name, "frames": frames, "ffmpeg_fps": round(frames / ff_wall, 1)}
    modes = {"automatic": [], "reference": ["--reference", str(first_frame_png(clip))]}
    for mode, extra in modes.items():
        wall, rss, log, _ = timed([sys.executable, "-c", "from vidbw.cli import main; main()", "convert", str(clip),
                                   "-o", str(WORK / f"colorize_{mode}.mp4"), "--overwrite", "--colorize", *extra,
                                   "--preset", preset, "--crf", str(crf)])
        steady = re.search(r"in ([\d.]+)s \(", log)
        result[mode] = {"fps": round(frames / wall, 1), "ratio": round(ff_wall / wall, 2),
                        "steady_fps": round(frames / float(steady.group(1)), 1) if steady else None,
                        "peak_rss_mib": rss}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="dog_park_720p.mp4", help="a clip in ../shared/media/video")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    args = parser.parse_args()
    clip = MEDIA / args.clip
    if not clip.exists():
        sys.exit(f"benchmark clip missing: {clip}")
    print(json.dumps(bench(clip, args.preset, args.crf), indent=2))


if __name__ == "__main__":
    main()
