"""Several key frames in one shot, on real clips: the first frame alone against the first and a later one.

    python benchmarks/colorize_keys.py                                   # the table in docs/COLORIZE.md
    python benchmarks/colorize_keys.py --clip hands_blocks_720p.mp4 --key 180

Each clip (one shot) is its own truth: its true colour frames, saved as PNGs named by frame number,
are the key frames. It is colorized losslessly (FFV1, default smoothing) from a folder holding its
first frame alone, then from one holding its first frame and frame K, and each output is scored
with `vidbw eval colorize --every 3` on the frames before K and from K on (`--frames`). Speed:
benchmarks/bench_colorize.py (`two_keys`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from vidbw.api import evaluate_colorize
from vidbw.io.encode import EncodeSettings
from vidbw.io.images import write_image
from vidbw.pipeline import convert

MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media" / "video"
# (clip, K): a subject entering or the scene rearranged mid-shot, then a first + last pair.
EVERY = 3  # frames measured: 1 in 3, as docs/COLORIZE.md's other tables
CASES = [
    ("hands_blocks_720p.mp4", 180),
    ("bedroom_kids_540p.mp4", 170),
    ("flower_macro_540p.mp4", 149),
    ("cups_table_720p.mp4", 299),
]


def write_keys(clip: Path, frames: list[int], folder: Path) -> Path:
    """The clip's true colour frames `frames` as folder/NNNNNN.png."""
    folder.mkdir()
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in frames:
                write_image(folder / f"{index:06d}.png", np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            if index >= max(frames):
                return folder
    raise SystemExit(f"{clip.name} has no frame {max(frames)}")


def compare(clip: Path, key: int, work: Path) -> list[str]:
    scores = {}
    for name, frames in (("first", [0]), ("first+K", [0, key])):
        keys = write_keys(clip, frames, work / f"{clip.stem}_{name}")
        out = work / f"{clip.stem}_{name}.mkv"
        done = convert(clip, out, colorize=True, reference=keys, encode=EncodeSettings(codec="ffv1"), overwrite=True)
        spans = {"before K": range(0, key), "from K": range(key, done.frames)}
        reports = {label: evaluate_colorize(clip, out, every=EVERY, frames=span) for label, span in spans.items()}
        scores[name] = {
            f"{label} ({r.span[0]}-{r.span[1]})": (r.gray.psnr, r.output.psnr) for label, r in reports.items()
        }
        scores[name]["all"] = tuple(whole(reports.values(), method) for method in ("gray", "output"))
    rows = []
    for label, (gray, one) in scores["first"].items():
        two = scores["first+K"][label][1]
        rows.append(f"| {clip.stem} | {key} | {label} | {gray:.2f} | {one:.2f} | **{two:.2f}** | {two - one:+.2f} |")
    return rows


def whole(reports, method: str) -> float:
    """The PSNR over the spans together (one MSE over all their frames, as `vidbw eval colorize` takes it)."""
    mse = [10 ** (-getattr(r, method).psnr / 10) * r.measured for r in reports]
    return float(-10 * np.log10(sum(mse) / sum(r.measured for r in reports)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", help="a clip in ../shared/media/video (with --key)")
    parser.add_argument("--key", type=int, help="the second key frame's number")
    args = parser.parse_args()
    cases = [(args.clip, args.key)] if args.clip else CASES
    print("| clip | K | frames | gray PSNR | first frame as key | first + frame K | gain |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name, key in cases:
            clip = MEDIA / name
            if not clip.exists():
                sys.exit(f"clip missing: {clip}")
            for row in compare(clip, key, Path(work)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
