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


def gray_360p(path, skip: int = 0, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index < skip:
                continue
            y = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(y, size, interpolation=cv2.INTER_AREA))
            if len(frames) == FRAMES:
                break
    return frames


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    return gray_360p(shared_media / "video" / "dog_park_720p.mp4")


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
    # Measured 0.57 here (360p) since the tests against scene lines (both flanks, unbroken, straight):
    # they cost some recall, worst at 360p; 0.3-0.75 at 720p in benchmarks/restore_dust.py.
    assert after < 0.6 * before


def test_clean_clip_and_scene_lines_stay(clean):
    """A wall's edge and a pole down the whole frame are the scene's: a step edge and a wide line."""
    planes = [y.copy() for y in clean]
    for y in planes:
        y[:, 300:] = np.clip(y[:, 300:] + 0.2, 0, 1)
        y[:, 450:460] = 0.05
    out = restored(planes)
    changed = np.mean([np.mean(np.abs(r - p) > 1 / 255) for r, p in zip(out, planes)])
    assert changed <= 0.001


def changed(planes: list[np.ndarray]) -> float:
    return float(np.mean([np.mean(np.abs(r - p) > 1 / 255) for r, p in zip(restored(planes), planes)]))


def test_a_straight_line_of_the_scene_stays(shared_media):
    """hands_blocks holds a bright vertical rod, still over the whole clip, that hands pass in front of:
    a line of the scene, hidden in places, where a scratch would show in every band."""
    # At 720p, as shipped: at 360p the texture beside the rod still passes for it (0.46 % changed).
    assert changed(gray_360p(shared_media / "video" / "hands_blocks_720p.mp4", size=(1280, 720))) <= 0.001


def test_the_archive_pillarbox_edge_stays(shared_media):
    """The Chaplin archive's black pillarbox ends in a bright rim one column wide, on every frame: an
    edge's rim, black on one side and picture on the other, not a scratch."""
    assert changed(gray_360p(shared_media / "archive_bw" / "chaplin_music_360p.mp4", skip=100)) == 0
