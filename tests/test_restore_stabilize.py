"""Gate weave removal on real footage: seeded synthetic weave is taken out, a pan (synthetic and a real
handheld one) is kept, a shot the tiles cannot read (a plane against plain sky) is never made worse,
and a clip without weave comes back bit-exact (no resampling)."""

from __future__ import annotations

import numpy as np
import pytest
from restore_frames import gray_frames, run_part, work_frames

from vidbw.eval.damage import Damager, DamageSpec
from vidbw.restore.stabilize import Stabilize, global_steps, residual_jitter, shift_plane

SIZE = (320, 180)
FRAMES = 24
PAN = (-1.5, -0.5)  # pixels per frame at SIZE


@pytest.fixture(scope="module")
def still(shared_media) -> list[np.ndarray]:
    """A locked-off shot (a tripod; a person moves a lot in it)."""
    return gray_frames(shared_media / "video" / "cups_table_720p.mp4", FRAMES, SIZE)


@pytest.fixture(scope="module")
def pan(shared_media) -> list[np.ndarray]:
    """A steady diagonal pan over a real frame: a window of SIZE moving PAN pixels a frame."""
    (big,) = gray_frames(shared_media / "video" / "dog_park_720p.mp4", 1, (2 * SIZE[0], 2 * SIZE[1]))
    w, h = SIZE
    return [shift_plane(big, PAN[0] * t, PAN[1] * t)[h // 2 : h // 2 + h, w // 2 : w // 2 + w] for t in range(FRAMES)]


@pytest.fixture(scope="module")
def handheld_pan(shared_media) -> list[np.ndarray]:
    """A real handheld pan across a bedroom (~0.6 px a frame to the right at SIZE), with parallax."""
    return gray_frames(shared_media / "video" / "bedroom_kids_540p.mp4", FRAMES, SIZE, start=125)


@pytest.fixture(scope="module")
def plane_in_sky(shared_media) -> list[np.ndarray]:
    """A jerky tracking shot of a plane against plain sky: no tile sees a textured background."""
    return gray_frames(shared_media / "video" / "airfield_sound_360p.mp4", FRAMES, SIZE)


def woven(frames: list[np.ndarray], seed: int = 5) -> list[np.ndarray]:
    """The frames with seeded gate weave: 3 px (x) and 1.5 px (y) std at 720p, 0.75 / 0.375 px here."""
    damage = Damager(DamageSpec(weave=3.0, seed=seed), frames[0].shape)
    return [damage(i, y).y for i, y in enumerate(frames)]


def lumas(frames) -> list[np.ndarray]:
    return [f.y for f in frames]


def test_weave_on_a_still_shot_is_removed(still):
    damaged = woven(still)
    restored = lumas(run_part(Stabilize(), work_frames(damaged)))
    before, after = residual_jitter(damaged), residual_jitter(restored)
    assert before > 0.5
    assert after <= 0.3 * before, (before, after)


def test_a_steady_pan_is_kept_and_its_weave_removed(pan):
    damaged = woven(pan, seed=9)
    restored = lumas(run_part(Stabilize(), work_frames(damaged)))
    before, after = residual_jitter(damaged), residual_jitter(restored)
    assert after <= 0.3 * before, (before, after)
    # The camera still moves PAN a frame: the move is kept, only the jitter around it goes.
    assert global_steps(restored).mean(axis=0) == pytest.approx(PAN, abs=0.1)


def test_a_real_handheld_pan_is_kept_and_its_weave_removed(handheld_pan):
    move = global_steps(handheld_pan).mean(axis=0)
    assert move[0] > 0.4  # the camera really pans
    damaged = woven(handheld_pan, seed=9)
    restored = lumas(run_part(Stabilize(), work_frames(damaged)))
    before, after = residual_jitter(damaged), residual_jitter(restored)
    assert after <= 0.2 * before, (before, after)
    assert global_steps(restored).mean(axis=0) == pytest.approx(move, abs=0.05)


@pytest.mark.parametrize("seed", [5, 9])
def test_a_plane_against_plain_sky_is_never_made_worse(plane_in_sky, seed):
    damaged = woven(plane_in_sky, seed=seed)
    restored = lumas(run_part(Stabilize(), work_frames(damaged)))
    before, after = residual_jitter(damaged), residual_jitter(restored)
    assert after <= before + 1e-6, (before, after)
    # The camera's move (what the measure sees of it) is kept.
    assert global_steps(restored).mean(axis=0) == pytest.approx(global_steps(damaged).mean(axis=0), abs=0.05)


def test_clips_without_weave_come_back_bit_exact(still, pan):
    for clip in (still, pan):
        frames = work_frames(clip)
        restored = run_part(Stabilize(), frames)
        assert all(r.y is f.y and r.cb is f.cb for r, f in zip(restored, frames))


def test_a_chunk_renders_what_a_single_pass_does(still):
    frames = work_frames(woven(still, seed=2))
    whole = run_part(Stabilize(), frames)
    chunk = run_part(Stabilize(), frames, only=range(8, 16))
    for a, b in zip(whole[8:16], chunk):
        assert np.array_equal(a.y, b.y) and np.array_equal(a.cr, b.cr)


def test_a_one_frame_shot_passes_through(still):
    frames = work_frames(woven(still)[:1])
    assert run_part(Stabilize(), frames)[0] is frames[0]
