"""The dust part on real clips: synthetic specks go (faint ones and those on a shot's end frames
too), clean motion, a fast small subject and rain stay."""

from __future__ import annotations

from functools import cache

import av
import cv2
import numpy as np
import pytest

from vidbw.eval.damage import Damager, DamageSpec
from vidbw.restore.base import WorkFrame
from vidbw.restore.dust import Dust
from vidbw.restore.stream import restore_work_frames

FRAMES = 8


@cache
def gray_frames(path: str) -> tuple[np.ndarray, ...]:
    """The first frames of a clip, gray, at 360p."""
    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(y, (640, 360), interpolation=cv2.INTER_AREA))
            if len(frames) == FRAMES:
                break
    return tuple(frames)


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    """A fast-motion clip (a juggler: hands, balls)."""
    return list(gray_frames(str(shared_media / "video" / "juggler_park_720p.mp4")))


def restored_frames(
    planes: list[np.ndarray], chroma: list[np.ndarray] | None = None, shot_starts=()
) -> list[WorkFrame]:
    """Every frame restored as the restoration stream restores it (its windows, its shots)."""
    neutral = np.full((180, 320), 0.5, np.float32)
    frames = [WorkFrame(i, y, neutral if chroma is None else chroma[i], neutral) for i, y in enumerate(planes)]
    return restore_work_frames([Dust()], frames, shot_starts)


def restored(planes: list[np.ndarray], shot_starts=()) -> list[np.ndarray]:
    return [frame.y for frame in restored_frames(planes, shot_starts=shot_starts)]


def speck_scores(damaged, clean: list[np.ndarray], out: list[np.ndarray]) -> tuple[int, int]:
    """(visible, removed) specks, as benchmarks/restore_dust.py counts them: visible when the speck's
    core departs from the clean frame by 0.05 on average, removed when under a quarter of that is left."""
    visible = removed = 0
    h, w = clean[0].shape
    yy, xx = np.ogrid[:h, :w]
    for d, c, r in zip(damaged, clean, out):
        for speck in d.specks:
            core = d.dust & ((xx - speck.x) ** 2 + (yy - speck.y) ** 2 <= (2.5 * speck.radius + 1) ** 2)
            if core.any() and (departure := np.abs(d.y[core] - c[core]).mean()) >= 0.05:
                visible += 1
                removed += np.abs(r[core] - c[core]).mean() < 0.25 * departure
    return visible, removed


def test_most_specks_go(clean):
    damager = Damager(DamageSpec(dust=12.0, seed=3), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    out = restored([d.y for d in damaged])[1:-1]
    before = sum(np.abs(d.y - c)[d.dust].sum() for d, c in zip(damaged[1:-1], clean[1:-1]))
    after = sum(np.abs(r - c)[d.dust].sum() for d, c, r in zip(damaged[1:-1], clean[1:-1], out))
    visible, removed = speck_scores(damaged[1:-1], clean[1:-1], out)
    assert before > 0 and visible >= 50
    assert after < 0.05 * before  # measured 0.004 (0.007 when specks under 15 codes were not looked for)
    assert removed >= 0.9 * visible  # measured 75 of 75 (73 of 75)


@pytest.mark.parametrize("clip", ["juggler_park_720p.mp4", "dog_park_720p.mp4"])
def test_clean_fast_motion_is_left_alone(shared_media, clip):
    planes = list(gray_frames(str(shared_media / "video" / clip)))
    out = restored(planes)
    changed = np.mean([np.mean(np.abs(r - c) > 1 / 255) for r, c in zip(out, planes)])
    assert changed <= 0.001  # the limit; measured 0.044 % and 0.055 %, end frames included


def test_a_small_fast_subject_survives(clean):
    """A bright disc crossing the frame 20 px a frame is on every frame: it is no speck."""
    planes = [y.copy() for y in clean]
    for i, y in enumerate(planes):
        cv2.circle(y, (100 + 20 * i, 200), 4, 0.97, -1, lineType=cv2.LINE_AA)
    out = restored(planes)
    for i, (r, p) in enumerate(zip(out, planes)):
        disc = (slice(194, 207), slice(94 + 20 * i, 107 + 20 * i))
        assert np.abs(r[disc] - p[disc]).max() < 1 / 255


def test_a_coloured_speck_goes_from_the_chroma_too(clean):
    """A speck's chroma is filled from the neighbours' with its luma."""
    planes = [y.copy() for y in clean]
    chroma = [np.full((180, 320), 0.5, np.float32) for _ in planes]
    cv2.circle(planes[3], (400, 120), 4, 0.02, -1)
    cv2.circle(chroma[3], (200, 60), 2, 0.8, -1)
    out = restored_frames(planes, chroma)[3]
    assert abs(float(out.y[120, 400]) - float(clean[3][120, 400])) < 0.05
    assert abs(float(out.cb[60, 200]) - 0.5) < 0.01
    assert np.array_equal(out.cr, np.full((180, 320), 0.5, np.float32))


def test_specks_on_a_shots_end_frames_go(clean):
    """A shot's first and last frames are compared with the two frames after or before them."""
    damager = Damager(DamageSpec(dust=12.0, seed=5), clean[0].shape)
    damaged = [damager(i, y) for i, y in enumerate(clean)]
    out = restored([d.y for d in damaged], shot_starts=[4])  # two shots: frames 0-3 and 4-7
    ends = [0, 3, 4, 7]
    visible, removed = speck_scores(*([seq[i] for i in ends] for seq in (damaged, clean, out)))
    assert visible >= 25
    assert removed >= 0.9 * visible  # measured 43 of 47 (0 when the end frames were passed through)


def test_faint_specks_go(clean):
    """Specks only 10 codes off the picture under them (dust in thin layers, or out of focus)."""
    planes = [y.copy() for y in clean]
    rng = np.random.default_rng(7)
    placed = []
    for i, y in enumerate(planes):
        for _ in range(12):
            x, top, radius = int(rng.integers(20, 620)), int(rng.integers(20, 340)), int(rng.integers(2, 5))
            disc = np.zeros_like(y, np.uint8)
            cv2.circle(disc, (x, top), radius, 1, -1)
            y[disc > 0] += np.float32(rng.choice([-10, 10]) / 255)
            placed.append((i, disc > 0))
    out = restored(planes)
    removed = [np.abs(out[i][disc] - clean[i][disc]).mean() < 0.25 * 10 / 255 for i, disc in placed]
    assert np.mean(removed) >= 0.8  # measured 0.86 (0 when specks under 15 codes were not looked for)


@pytest.mark.xfail(strict=True, reason="known limit (docs/RESTORE.md): thin fast streaks are taken for dust")
def test_rain_survives(clean):
    """Streaks falling 18 px a frame, many alike, on every frame: rain is no dust. Each streak has
    left its surroundings behind in the neighbours, so the subject search does not find it there."""
    planes = [y.copy() for y in clean]
    rng = np.random.default_rng(11)
    drops = [(int(rng.integers(10, 630)), int(rng.integers(-150, 200))) for _ in range(60)]
    streaks = []
    for i, y in enumerate(planes):
        mask = np.zeros_like(y, np.uint8)
        for x, top in drops:
            cv2.line(mask, (x, top + 18 * i), (x + 2, top + 18 * i + 10), 1, 1, lineType=cv2.LINE_8)
        y[mask > 0] = np.maximum(y[mask > 0], np.float32(0.85))
        streaks.append(mask > 0)
    out = restored(planes)
    changed = [np.mean(np.abs(r - p)[s] > 2 / 255) for r, p, s in zip(out, planes, streaks)]
    assert max(changed) <= 0.02, changed  # measured 0.70-0.87 of the streak pixels changed
