"""Real frames for the restoration part tests, and a plain loop that runs one part over them.

The loop builds each frame's `Window` the way the restoration stream does (neighbours within the
part's radii, one shared per-frame `cache`), so a part is tested alone, without decoding or encoding.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from vidbw.restore.base import Part, Window, WorkFrame


def gray_frames(path: Path, count: int, size: tuple[int, int], start: int = 0) -> list[np.ndarray]:
    """`count` frames of a clip from frame `start`, as float32 luma in [0, 1] area-scaled to `size` (w, h)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= start:
                gray = frame.to_ndarray(format="gray").astype(np.float32) / 255
                frames.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def work_frames(lumas: list[np.ndarray], first_index: int = 0) -> list[WorkFrame]:
    """Luma planes as `WorkFrame`s with neutral 4:2:0 chroma."""
    h, w = lumas[0].shape
    neutral = np.full((h // 2, w // 2), 0.5, np.float32)
    return [WorkFrame(first_index + i, y, neutral, neutral) for i, y in enumerate(lumas)]


def run_part(part: Part, frames: list[WorkFrame], only: range | None = None) -> list[WorkFrame]:
    """`part` over one shot of frames; `only` restores just those positions (a chunk), reading the
    same neighbours a chunked job decodes around it, with a fresh cache."""
    summaries = [part.summarise(f) for f in frames]
    cache: dict = {}
    out = []
    for i in only if only is not None else range(len(frames)):
        near = range(-part.reach, part.reach + 1)
        window = Window(
            {k: frames[i + k] for k in near if abs(k) <= part.radius and 0 <= i + k < len(frames)},
            {k: summaries[i + k] for k in near if abs(k) <= part.summary_radius and 0 <= i + k < len(frames)},
            cache,
        )
        out.append(part.restore(window))
    return out
