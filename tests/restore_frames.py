"""Real frames for the restoration part tests, and a plain loop that runs one part over them.

`run_part` goes through the restoration stream's own stages (`restore_work_frames`), so a part is
tested alone, without decoding or encoding, but windowed exactly as in a render.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from vidbw.restore.base import Part, WorkFrame
from vidbw.restore.stream import restore_work_frames


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
    """`part` over one shot of frames, as the restoration stream runs it; `only` restores just those
    positions (a chunk), from the neighbours a chunked job decodes around it."""
    if only is None:
        return restore_work_frames([part], frames)
    around = frames[max(0, only.start - part.reach) : only.stop + part.reach]
    wanted = {frames[i].index for i in only}
    return [f for f in restore_work_frames([part], around) if f.index in wanted]
