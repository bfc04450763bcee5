"""The dust part on a real clip: synthetic specks go, clean motion and a fast small subject stay."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vidbw.eval.damage import Damager, DamageSpec
from vidbw.restore.base import Window, WorkFrame
from vidbw.restore.dust import Dust

FRAMES = 8


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    """The first frames of a fast-motion clip, gray, at 360p."""
    frames = []
    with av.open(str(shared_media / "video" / "juggler_park_720p.mp4")) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(y, (640, 360), interpolation=cv2.INTER_AREA))
            if len(frames) == FRAMES:
                break
    return frames


def restored(planes: list[np.ndarray]) -> list[np.ndarray]:
    """Frames 1..n-2 restored, each from its window, one cache shared as the stream shares it."""
    part, cache = Dust(), {}
    neutral = np.full((180, 320), 0.5, np.float32)
    frames = [WorkFrame(i, y, neutral, neutral) for i, y in enumerate(planes)]
    return [
        part.restore(Window({k: frames[i + k] for k in (-1, 0, 1)}, {}, cache)).y for i in range(1, len(frames) - 1)
    ]


def test_most_specks_go(clean):
    damager = Damager(DamageSpec(dust=12.0, seed=3), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    out = restored([d.y for d in damaged])
    before = after = 0.0
    for d, c, r in zip(damaged[1:-1], clean[1:-1], out):
        before += np.abs(d.y - c)[d.dust].sum()
        after += np.abs(r - c)[d.dust].sum()
    assert before > 0
    assert after < 0.35 * before  # measured 0.2-0.3: see benchmarks/restore_dust.py for the speck count


def test_clean_fast_motion_is_left_alone(clean):
    out = restored(clean)
    changed = np.mean([np.mean(np.abs(r - c) > 1 / 255) for r, c in zip(out, clean[1:-1])])
    assert changed <= 0.001


def test_a_small_fast_subject_survives(clean):
    """A bright disc crossing the frame 20 px a frame is on every frame: it is no speck."""
    planes = [y.copy() for y in clean]
    for i, y in enumerate(planes):
        cv2.circle(y, (100 + 20 * i, 200), 4, 0.97, -1, lineType=cv2.LINE_AA)
    out = restored(planes)
    for i, (r, p) in enumerate(zip(out, planes[1:-1]), start=1):
        disc = (slice(194, 207), slice(94 + 20 * i, 107 + 20 * i))
        assert np.abs(r[disc] - p[disc]).max() < 1 / 255
