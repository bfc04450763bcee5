"""Render a fixed set of conversions losslessly and print a fingerprint of every decoded frame.

Run it before and after a change that must not alter any output, and diff the two JSON files:

    python scripts/render_fingerprints.py OUT.json [--work DIR]

The set: a classic style, a learned style, a reference colorization (key frame = the source's own
frame 0) and a chunked two-worker job, all on the bundled real clip, written as FFV1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "airfield_6s.mp4"


def vidbw(*args) -> None:
    subprocess.run([sys.executable, "-c", "from vidbw.cli import main; main()", *map(str, args)], check=True,
                   cwd=REPO, capture_output=True)


def fingerprint(path: Path) -> dict:
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            digest = hashlib.sha256()
            for plane in frame.planes:
                digest.update(bytes(plane))
            frames.append((frame.pts, digest.hexdigest()[:16]))
    return {"frames": len(frames), "sha256": hashlib.sha256(json.dumps(frames).encode()).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vidbw-fingerprints-"))
    work.mkdir(parents=True, exist_ok=True)
    key = work / "key.png"
    with av.open(str(SAMPLE)) as container:
        next(container.decode(video=0)).to_image().save(key)
    renders = {
        "classic_tri-x": ["--style", "tri-x"],
        "learned_landscape-master": ["--style", "landscape-master"],
        "colorize_reference": ["--colorize", "--reference", key],
        "job_workers2_landscape-master": ["--style", "landscape-master", "--workers", "2", "--job-dir", work / "job"],
    }
    result = {}
    for name, options in renders.items():
        out = work / f"{name}.mkv"
        vidbw("convert", SAMPLE, "-o", out, "--codec", "ffv1", "--overwrite", *options)
        result[name] = fingerprint(out)
        print(name, result[name], flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
