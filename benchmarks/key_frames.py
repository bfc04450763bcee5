"""How close a learned look's key-frame grids render to predicting every frame's grid.

    python benchmarks/key_frames.py                                   # juggler_park, dog_park, Sintel
    python benchmarks/key_frames.py ../shared/media/video/dog_park_720p.mp4 --style portrait-master

Each clip is converted twice, losslessly (FFV1), at `--temporal light`: as vidbw does it (keys 4
frames apart, 2 where the grid changes; see docs/SHOTS.md) and with every frame a key
(`render.KEY_STRIDE["light"] = 1`). It prints the PSNR of the luma between the two over all frames,
the worst frame's PSNR, the rms difference in code values, and how many grids each predicted.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np

from vidbw import render
from vidbw.io.encode import EncodeSettings
from vidbw.pipeline import convert
from vidbw.styles import get_style

MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media" / "video"
DEFAULT_CLIPS = [(MEDIA / "juggler_park_720p.mp4", "landscape-master"), (MEDIA / "dog_park_720p.mp4", "landscape-master"),
                 (MEDIA / "sintel_cuts_360p.mp4", "street-noir")]


def luma_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]


def render_counting(source: Path, output: Path, style_name: str, every_frame: bool) -> int:
    """Convert `source` losslessly; return how many grids the style predicted."""
    style = get_style(style_name)
    predicted = []
    original_grids_for = style.grids_for

    def counting(batch, proxy=None):
        predicted.append(len(batch))
        return original_grids_for(batch, proxy)

    stride = render.KEY_STRIDE["light"]
    style.grids_for = counting
    render.KEY_STRIDE["light"] = 1 if every_frame else stride
    try:
        convert(source, output, style, temporal="light", encode=EncodeSettings(codec="ffv1"), overwrite=True)
    finally:
        render.KEY_STRIDE["light"] = stride
        del style.grids_for
    return sum(predicted)


def compare(source: Path, style_name: str, work: Path) -> str:
    keyed, every = work / "keyed.mkv", work / "every.mkv"
    keys = render_counting(source, keyed, style_name, every_frame=False)
    all_keys = render_counting(source, every, style_name, every_frame=True)
    a, b = luma_frames(keyed), luma_frames(every)
    mse = np.array([((x - y) ** 2).mean() for x, y in zip(a, b)])
    psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-12))
    return (f"{source.name} ({style_name}): {10 * np.log10(255**2 / max(mse.mean(), 1e-12)):.1f} dB, worst frame "
            f"{psnr.min():.1f} dB, {np.sqrt(mse.mean()):.3f} codes rms; {keys} grids predicted instead of {all_keys}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path)
    parser.add_argument("--style", default="landscape-master")
    args = parser.parse_args()
    clips = [(args.clip, args.style)] if args.clip else DEFAULT_CLIPS
    with tempfile.TemporaryDirectory() as work:
        for source, style_name in clips:
            print(compare(source, style_name, Path(work)))


if __name__ == "__main__":
    main()
