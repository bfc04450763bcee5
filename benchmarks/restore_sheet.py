"""The picture in docs/RESTORE.md: the real archive clip, the same with seeded archive damage, and
vidbw's restoration of that, side by side at two moments.

    python benchmarks/restore_sheet.py docs/images/restore_chaplin.jpg [--parts default]

The damage is `vidbw.eval.damage.ARCHIVE_DAMAGE` without weave (seed 1) on the first 120 frames;
the restoration is `vidbw restore` with the given parts, written losslessly.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

from vidbw.eval.damage import ARCHIVE_DAMAGE, damage_clip

HERE = Path(__file__).resolve().parent
FILM = HERE.parent.parent / "shared" / "media" / "archive_bw" / "chaplin_music_360p.mp4"
WORK = HERE.parent / ".bench" / "restore_sheet"
MOMENTS = (41, 97)  # frame numbers shown
CROP = (slice(0, 360), slice(72, 568))  # inside the pillarbox


def frames(path: Path, wanted) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                out[index] = frame.to_ndarray(format="gray")
            if index >= max(wanted):
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--parts", default="default")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    clean, damaged, restored = WORK / "clean.mkv", WORK / "damaged.mkv", WORK / "restored.mkv"
    damage_clip(FILM, clean, damaged, replace(ARCHIVE_DAMAGE, weave=0.0, seed=1), 120)
    subprocess.run(
        [sys.executable, "-c", "from vidbw.cli import main; main()", "restore", str(damaged), "-o", str(restored),
         "--parts", args.parts, "--codec", "ffv1", "--overwrite", "-q"],
        check=True, stdout=subprocess.DEVNULL,
    )
    columns = [frames(p, MOMENTS) for p in (clean, damaged, restored)]
    rows = [np.hstack([np.pad(c[m][CROP], ((4, 4), (4, 4)), constant_values=255) for c in columns]) for m in MOMENTS]
    sheet = np.vstack(rows)
    for i, label in enumerate(("archive", "seeded damage", "vidbw restore")):
        x = 12 + i * (sheet.shape[1] // 3)
        cv2.putText(sheet, label, (x, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 3, cv2.LINE_AA)
        cv2.putText(sheet, label, (x, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 0, 1, cv2.LINE_AA)
    width = 1000
    sheet = cv2.resize(sheet, (width, round(sheet.shape[0] * width / sheet.shape[1])), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(args.output), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(args.output)


if __name__ == "__main__":
    main()
