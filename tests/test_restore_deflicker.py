"""Deflicker on frames of a real clip: synthetic flicker goes, real changes of light stay."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from restore_frames import work_frames

from vidbw.eval.brightness import brightness_flicker_index
from vidbw.eval.damage import Damager, DamageSpec
from vidbw.eval.restore import score_against_clean
from vidbw.restore.deflicker import Deflicker
from vidbw.restore.stream import restore_work_frames

FRAMES = 48
SIZE = (320, 180)


def deflicker_lumas(lumas: list[np.ndarray], cuts=()) -> list[np.ndarray]:
    return [f.y for f in restore_work_frames([Deflicker()], work_frames(lumas), cuts)]


def codes(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y * 255), 0, 255)


def on_codes(lumas: list[np.ndarray]) -> list[np.ndarray]:
    """Frames as an 8-bit film carries them (float in [0, 1] on the 8-bit code grid)."""
    return [(codes(y) / 255).astype(np.float32) for y in lumas]


def mean_codes(lumas: list[np.ndarray]) -> np.ndarray:
    return np.array([255 * float(y.mean()) for y in lumas])


@pytest.fixture(scope="module")
def clean(shared_media) -> list[np.ndarray]:
    """The first frames of a real park clip, gray, small."""
    frames = []
    with av.open(str(shared_media / "video" / "juggler_park_720p.mp4")) as container:
        for frame in container.decode(video=0):
            gray = frame.to_ndarray(format="gray").astype(np.float32) / 255
            frames.append(cv2.resize(gray, SIZE, interpolation=cv2.INTER_AREA))
            if len(frames) == FRAMES:
                break
    return on_codes(frames)


def flickered(clean: list[np.ndarray], seed: int = 3) -> list[np.ndarray]:
    damager = Damager(DamageSpec(flicker=0.06, regional_flicker=0.08, seed=seed), clean[0].shape)
    return on_codes([damager(t, y).y for t, y in enumerate(clean)])


# Seed 3 draws a band for the regional flicker, seed 4 a corner. On this short, small clip the corner
# is reduced by about 75 % (a known limit, docs/RESTORE.md); on the 720p clips of the table, 88-92 %.
@pytest.mark.parametrize(("seed", "removed"), [(3, 0.8), (4, 0.7)])
def test_global_and_regional_flicker_is_removed(clean, seed, removed):
    damaged = flickered(clean, seed)
    restored = on_codes(deflicker_lumas(damaged))
    before, after = brightness_flicker_index(damaged), brightness_flicker_index(restored)
    assert after <= (1 - removed) * before, (before, after)
    assert score_against_clean(restored, clean).mean_psnr > score_against_clean(damaged, clean).mean_psnr + 3


@pytest.mark.parametrize(("seed", "removed"), [(3, 0.8), (4, 0.7)])
def test_flicker_on_dark_footage_is_removed(clean, seed, removed):
    """The same flicker on the clip at a quarter of its brightness: a floor under the log that is large
    next to the light would damp every step measured (it left 0.74 and 0.67 here; now 0.88 and 0.77)."""
    dark = on_codes([y / 4 for y in clean])
    damaged = flickered(dark, seed)
    restored = on_codes(deflicker_lumas(damaged))
    before, after = brightness_flicker_index(damaged), brightness_flicker_index(restored)
    assert after <= (1 - removed) * before, (before, after)


def test_clean_footage_is_untouched(clean):
    restored = deflicker_lumas(clean)
    assert all(np.array_equal(codes(a), codes(b)) for a, b in zip(restored, clean))


def test_light_switched_on_is_kept(clean):
    lit = on_codes([y * (1.0 if t < FRAMES // 2 else 1.35) for t, y in enumerate(clean)])
    restored = deflicker_lumas(lit)
    np.testing.assert_allclose(mean_codes(restored), mean_codes(lit), atol=1.5)


def test_fade_to_black_and_back_is_kept(clean):
    gains = np.concatenate([np.ones(8), np.linspace(1, 0.03, 16), np.linspace(0.03, 1, 16), np.ones(FRAMES - 40)])
    faded = on_codes([y * g for y, g in zip(clean, gains)])
    restored = deflicker_lumas(faded)
    np.testing.assert_allclose(mean_codes(restored), mean_codes(faded), atol=1.5)


def test_moving_bright_subject_is_not_dimmed(clean):
    h, w = clean[0].shape
    yy, xx = np.mgrid[0:h, 0:w]
    subjects = [(xx - (20 + 6 * t)) ** 2 + (yy - h // 2) ** 2 < (h // 8) ** 2 for t in range(FRAMES)]
    scene = on_codes([np.where(s, 0.95, y) for y, s in zip(clean, subjects)])
    restored = deflicker_lumas(scene)
    worst = max(float(np.abs(codes(r) - codes(y))[s].max()) for r, y, s in zip(restored, scene, subjects))
    assert worst <= 1, worst


def test_flicker_does_not_leak_across_a_cut(clean):
    # a second shot much darker than the first: each shot is steady, so nothing is corrected
    shots = clean[:24] + on_codes([y * 0.4 for y in clean[24:]])
    restored = deflicker_lumas(shots, cuts=[24])
    assert all(np.array_equal(codes(a), codes(b)) for a, b in zip(restored, shots))
