"""The scratches part on a real clip: synthetic scratches are filled, lines of the scene stay."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vidbw.eval.damage import Damager, DamageSpec
from vidbw.restore.base import Window, WorkFrame
from vidbw.restore.scratches import Scratches

FRAMES = 7


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    frames = []
    with av.open(str(shared_media / "video" / "dog_park_720p.mp4")) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(y, (640, 360), interpolation=cv2.INTER_AREA))
            if len(frames) == FRAMES:
                break
    return frames


def restored(planes: list[np.ndarray]) -> list[np.ndarray]:
    """Every frame restored from its window of summaries (fewer neighbours at the ends)."""
    part = Scratches()
    neutral = np.full((180, 320), 0.5, np.float32)
    frames = [WorkFrame(i, y, neutral, neutral) for i, y in enumerate(planes)]
    summaries = [part.summarise(f) for f in frames]
    reach = range(-part.summary_radius, part.summary_radius + 1)
    return [
        part.restore(Window({0: f}, {k: summaries[i + k] for k in reach if 0 <= i + k < len(frames)})).y
        for i, f in enumerate(frames)
    ]


def test_scratches_are_filled(clean):
    damager = Damager(DamageSpec(scratches=2, seed=5), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    out = restored([d.y for d in damaged])
    before = np.mean([np.abs(d.y - c)[d.scratches].mean() for d, c in zip(damaged, clean)])
    after = np.mean([np.abs(r - c)[d.scratches].mean() for r, d, c in zip(out, damaged, clean)])
    assert after < 0.5 * before


def test_clean_clip_and_scene_lines_stay(clean):
    """A wall's edge and a pole down the whole frame are the scene's: a step edge and a wide line."""
    planes = [y.copy() for y in clean]
    for y in planes:
        y[:, 300:] = np.clip(y[:, 300:] + 0.2, 0, 1)
        y[:, 450:460] = 0.05
    out = restored(planes)
    changed = np.mean([np.mean(np.abs(r - p) > 1 / 255) for r, p in zip(out, planes)])
    assert changed <= 0.001
