"""The pixel model's grid fit (`vidbw.models.pixel_look`): exact where a grid can be exact, the
network's grid where there are no pixels, and no change when the model says nothing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidbw.kernels.slicing import slice_rgb  # noqa: E402
from vidbw.models.io import float32_arrays  # noqa: E402
from vidbw.models.pixel_look import (  # noqa: E402
    _forward, _forward_arrays, before_tone, ensemble, fit_grid, inverse_tone, members_of, new_pixel_model,
    pixel_features, predict, refit_grids, train_pixel_model, with_mirror_images)


def colours(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3)).astype(np.float32)


def test_a_target_that_one_mix_explains_is_fitted_exactly_everywhere():
    rgb = colours(0, 256, 256)
    mix = np.array([0.9, -0.3, 0.4, 0.05], np.float32)
    target = rgb @ mix[:3] + mix[3]
    grid = fit_grid(rgb, target, np.zeros((4, 8, 16, 16), np.float32), ridge=1e-6)
    # Random colours put many pixels of every hue in the middle luma bins of every cell; the
    # darkest and brightest bins hold too few distinct colours for four unknowns.
    middle = grid[:, 2:6].reshape(4, -1)
    np.testing.assert_allclose(middle, np.broadcast_to(mix[:, None], middle.shape), atol=1e-3, rtol=0)


def test_bins_without_pixels_keep_the_networks_grid():
    rgb = np.full((32, 32, 3), 0.2, np.float32)  # one luma: a single pair of luma bins holds pixels
    prior = np.random.default_rng(0).standard_normal((4, 8, 16, 16)).astype(np.float32)
    grid = fit_grid(rgb, np.full((32, 32), 0.9, np.float32), prior)
    np.testing.assert_allclose(grid[:, 5:], prior[:, 5:], rtol=1e-6, atol=1e-6)  # bright bins: nothing to fit
    assert not np.allclose(grid[:, 1], prior[:, 1])


def test_before_tone_inverts_a_monotone_curve():
    lut = np.clip(np.linspace(-0.1, 1.2, 1024), 0, 1).astype(np.float32) ** 1.7
    values = np.linspace(0.05, 0.95, 50).astype(np.float32)
    back = np.interp(before_tone(inverse_tone(lut), values), np.linspace(0, 1, 1024), lut)
    np.testing.assert_allclose(back, values, atol=2e-3)


def test_a_pixel_model_that_says_nothing_leaves_the_render_as_it_was():
    frames = np.stack([colours(1, 72, 128), colours(2, 72, 128)])
    grids = np.zeros((2, 4, 8, 16, 16), np.float32)
    grids[:, 0], grids[:, 1], grids[:, 2] = 0.5, 0.3, 0.2
    grids[:, 0, 4:] = 0.2  # brighter bins mix differently: a grid with real structure
    lut = np.linspace(0, 1, 1024, dtype=np.float32) ** 0.8
    refitted = refit_grids(new_pixel_model(16, 0), lut, frames, grids)
    for frame, before, after in zip(frames, grids, refitted):
        assert float(np.abs(slice_rgb(frame, after, lut) - slice_rgb(frame, before, lut)).mean()) < 1 / 255


def test_the_render_time_forward_pass_is_trainings_own():
    model = new_pixel_model(16, 3)
    model["w2"] = 0.1 * torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    model = ensemble([model, new_pixel_model(16, 4) | {"w2": torch.full((1, 16), 0.05), "b2": torch.full((1,), 0.2)}])
    features = np.random.default_rng(5).standard_normal((5000, model["w0"].shape[1])).astype(np.float32)
    with torch.inference_mode():
        expected = _forward(model, torch.from_numpy(features)).numpy()
    assert float(np.abs(expected).max()) > 0.1  # both members say something
    np.testing.assert_allclose(_forward_arrays(float32_arrays(model), features), expected, rtol=0, atol=2e-6)


def test_the_pixel_model_learns_each_pair_as_it_is_and_mirrored():
    pairs = [tuple(colours(seed, 8, 12)[..., :channels].squeeze() for channels in (3, 1, 1)) for seed in (3, 4)]
    out = with_mirror_images(pairs)
    assert len(out) == 4
    for k, pair in enumerate(pairs):
        as_is, mirrored = out[2 * k], out[2 * k + 1]
        for a, b, c in zip(pair, as_is, mirrored):
            np.testing.assert_array_equal(b, a)
            np.testing.assert_array_equal(c, a[:, ::-1])


def test_an_ensemble_predicts_the_mean_of_its_members():
    members = []
    for seed in (5, 6, 7):
        model = new_pixel_model(16, seed)
        # Small, non-zero corrections: nothing reaches the clip to [0, 1], so means can be compared.
        model["w2"] = 0.01 * torch.randn(1, 16, generator=torch.Generator().manual_seed(seed))
        model["b2"] = torch.full((1,), 0.01 * seed)
        members.append(model)
    rgb = colours(8, 24, 32)
    base = 0.25 + 0.5 * rgb.mean(-1)
    corrections = [predict(m, rgb, base) - base for m in members]
    assert min(float(np.abs(c).max()) for c in corrections) > 1e-3
    together = predict(ensemble(members), rgb, base)
    np.testing.assert_allclose(together, np.mean(corrections, axis=0) + base, atol=1e-5)
    for before, after in zip(members, members_of(ensemble(members))):
        for key in before:
            torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)


def test_members_are_trained_apart_and_a_fit_continues_with_as_many():
    rgb = colours(9, 24, 32)
    base = rgb.mean(-1)
    target = np.clip(rgb @ np.array([0.7, 0.5, -0.2], np.float32), 0, 1)
    counted = []
    model = train_pixel_model([(rgb, base, target)], steps=40, hidden=16, members=2,
                              progress=lambda done, info: counted.append(done))
    assert model["w2"].shape == (2, 16) and counted == list(range(1, 81))
    first, second = members_of(model)
    assert not torch.equal(first["w0"], second["w0"])  # each member starts from its own draw
    before = float(np.mean((predict(model, rgb, base) - target) ** 2))
    assert before < float(np.mean((base - target) ** 2))  # it learned something
    more = train_pixel_model([(rgb, base, target)], steps=40, model=model)
    assert more["w2"].shape == (2, 16)
    assert float(np.mean((predict(more, rgb, base) - target) ** 2)) < before
    assert pixel_features(rgb, base).shape[0] == 24 * 32
