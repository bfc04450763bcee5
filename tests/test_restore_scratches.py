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


def gray_360p(path, skip: int = 0, size: tuple[int, int] = (640, 360), count: int = FRAMES) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index < skip:
                continue
            y = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(y, size, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    return gray_360p(shared_media / "video" / "dog_park_720p.mp4")


def restored(planes: list[np.ndarray]) -> list[np.ndarray]:
    """Every frame restored from its window of summaries (fewer neighbours at the ends)."""
    part = Scratches()
    h, w = planes[0].shape
    neutral = np.full((h // 2, w // 2), 0.5, np.float32)
    frames = [WorkFrame(i, y, neutral, neutral) for i, y in enumerate(planes)]
    summaries = [part.summarise(f) for f in frames]
    reach = range(-part.summary_radius, part.summary_radius + 1)
    return [
        part.restore(Window({0: f}, {k: summaries[i + k] for k in reach if 0 <= i + k < len(frames)})).y
        for i, f in enumerate(frames)
    ]


def fixed_share(clean, damaged, out) -> float:
    """The share of scratch pixels (the damage mask) whose error against the clean frame is left under a
    third of what the damage made it, as benchmarks/restore_dust.py counts them."""
    fixed = sum(((np.abs(r - c) < np.abs(d.y - c) / 3) & d.scratches).sum() for r, d, c in zip(out, damaged, clean))
    return float(fixed / sum(d.scratches.sum() for d in damaged))


def test_scratches_are_filled(clean):
    damager = Damager(DamageSpec(scratches=2, seed=5), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    out = restored([d.y for d in damaged])
    before = np.mean([np.abs(d.y - c)[d.scratches].mean() for d, c in zip(damaged, clean)])
    after = np.mean([np.abs(r - c)[d.scratches].mean() for r, d, c in zip(out, damaged, clean)])
    # Measured 0.20 and 76 % fixed here (360p, the hardest size: scratches under 1.5 px); 0.57 before the
    # scratch was taken off as what it adds rather than interpolated over.
    assert after < 0.3 * before
    assert fixed_share(clean, damaged, out) >= 0.7


@pytest.mark.parametrize("seed", [1, 2])
def test_scratches_are_removed_at_720p(shared_media, seed):
    """At the size the synthetic scratches are drawn for, nearly every scratch pixel is mended (measured
    98 % and 95 %; seed 1's two scratches lie 3 px apart and are mended as one)."""
    clean = gray_360p(shared_media / "video" / "dog_park_720p.mp4", size=(1280, 720))
    damager = Damager(DamageSpec(scratches=2, seed=seed), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    assert fixed_share(clean, damaged, restored([d.y for d in damaged])) >= 0.9


def test_both_scratches_leave_the_damaged_archive(shared_media):
    """The Chaplin sheet's damage (seed 1) around frame 97, where one of its two scratches used to stay
    fully visible: 79 % of scratch pixels fixed (56 % before), the rest mostly where a scratch runs
    through the scene's own thin lines."""
    start = 85
    clean = gray_360p(shared_media / "archive_bw" / "chaplin_music_360p.mp4", skip=start, count=24)
    damager = Damager(DamageSpec(scratches=2, seed=1), clean[0].shape)
    damaged = [damager(start + i, y) for i, y in enumerate(clean)]
    assert fixed_share(clean, damaged, restored([d.y for d in damaged])) >= 0.75


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


@pytest.mark.parametrize("size", [(1280, 720), (640, 360)])
def test_a_straight_line_of_the_scene_stays(shared_media, size):
    """hands_blocks films a cutting mat: thin bright grid lines down the whole frame, still over the
    clip, that the blocks and hands hide in places and that slant by 2-3 px (at 720p): lines of the
    scene, where a scratch would show in every band about as strongly and run straight."""
    # 0.46 % changed at 360p before a scratch had to show about as strongly in every band (EVEN).
    assert changed(gray_360p(shared_media / "video" / "hands_blocks_720p.mp4", size=size)) <= 0.001


def test_the_archive_pillarbox_edge_stays(shared_media):
    """The Chaplin archive's black pillarbox ends in a bright rim one column wide, on every frame: an
    edge's rim, black on one side and picture on the other, not a scratch."""
    assert changed(gray_360p(shared_media / "archive_bw" / "chaplin_music_360p.mp4", skip=100)) == 0
