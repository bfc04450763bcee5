"""The colorizer: shipped weights, grids and correspondence features, a real photo, training and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import media  # noqa: E402
from conftest import assert_ok, run_inprocess  # noqa: E402

from vidbw.errors import InputError  # noqa: E402
from vidbw.eval.colorizer import colorize_frame, colourfulness, psnr  # noqa: E402
from vidbw.kernels.ycbcr import rgb_to_ycbcr709, ycbcr709_to_rgb  # noqa: E402
from vidbw.models.colorizer import Colorizer, default_colorizer_path, load_colorizer  # noqa: E402


def test_shipped_weights_load_small_and_frozen():
    path = default_colorizer_path()
    assert path.is_file()
    assert path.stat().st_size < 2_500_000
    model = load_colorizer()
    assert isinstance(model, Colorizer)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert load_colorizer() is model  # loaded once per process


def test_grids_and_features_have_the_documented_shape():
    model = load_colorizer()
    cfg = model.cfg
    level = np.random.default_rng(0).random((2, 144, 256), dtype=np.float32)
    grids = model.predict_grids(level)
    assert grids.shape == (2, 4, cfg.depth, cfg.grid, cfg.grid) and grids.dtype == np.float32
    assert np.isfinite(grids).all()
    feats = model.features(level)
    assert feats.shape == (2, cfg.embed_dim, 36, 64) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-4)
    odd = model.features(level[:1, :101, :99])
    assert odd.shape == (1, cfg.embed_dim, 26, 25)  # ceil(h/4), ceil(w/4)
    assert model.predict_grids(level[0]).shape == (1, *grids.shape[1:])  # one (h, w) frame is a batch of one


def test_untrained_colorizer_is_gray():
    grids = Colorizer().eval().predict_grids(np.random.default_rng(1).random((1, 40, 60), dtype=np.float32))
    assert np.abs(grids).max() == 0.0


def test_real_photo_gets_real_colour_and_beats_gray(shared_media):
    """kodim23 (parrots) was held out of the shipped model's training (see its model card)."""
    from vidbw.io.images import read_image

    img = read_image(shared_media / "photos" / "kodak" / "kodim23.png")
    rgb = img.rgb.astype(np.float32) / 255.0
    level = rgb_to_ycbcr709(rgb)[0]
    out = colorize_frame(load_colorizer(), level)
    gray = np.repeat(level[..., None], 3, axis=2)
    np.testing.assert_allclose(rgb_to_ycbcr709(out)[0], level, atol=0.01)  # luma kept (up to clipping)
    assert colourfulness(out) > 20.0  # gray is 0, the truth 90; the shipped model gives 37
    assert psnr(out, rgb) > psnr(gray, rgb) + 0.2  # shipped: 15.81 vs 15.32 dB


def test_ycbcr_round_trip():
    rgb = np.random.default_rng(2).random((8, 9, 3), dtype=np.float32)
    np.testing.assert_allclose(ycbcr709_to_rgb(*rgb_to_ycbcr709(rgb)), rgb, atol=1e-5)


def test_missing_corrupt_and_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="colorizer weights not found"):
        load_colorizer(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!")
    with pytest.raises(InputError, match="corrupt"):
        load_colorizer(bad)
    from vidbw.models.io import save_weights

    foreign = tmp_path / "foreign.safetensors"
    save_weights(foreign, {"w": torch.zeros(3)}, {"model_id": "something-else"})
    with pytest.raises(InputError, match="does not hold a vidbw colorizer"):
        load_colorizer(foreign)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colour_data")
    (folder / "sub").mkdir()
    for i, size in enumerate([(96, 64), (64, 96), (80, 80)]):
        media.write_image(folder / ("sub" if i else ".") / f"photo{i}.png", size=size)
    media.write_video(folder / "clip.mp4", size=(160, 96), frames=24)
    return folder


def _train(args, out, capsys):
    run = run_inprocess(["train", "colorizer", *args, "--out", out, "-q"], capsys)
    assert_ok(run)
    return json.loads((out / "state.json").read_text())


@pytest.mark.slow
def test_train_command_writes_a_loadable_checkpoint_and_resumes_exactly(tiny_data, tmp_path, capsys):
    from vidbw.models.io import load_weights

    a, b = tmp_path / "a", tmp_path / "b"
    state = _train(["--data", str(tiny_data), "--steps", "2"], a, capsys)
    assert state["step"] == 2
    model = load_colorizer(a / "colorizer.safetensors")
    assert model.meta["train"]["photos"] == 3 and model.meta["train"]["frames"] > 0
    assert model.predict_grids(np.full((1, 32, 48), 0.5, np.float32)).shape[0] == 1
    state = _train(["--data", str(tiny_data), "--steps", "3", "--resume"], a, capsys)
    assert state["step"] == 3
    _train(["--data", str(tiny_data), "--steps", "3"], b, capsys)
    wa, _ = load_weights(a / "colorizer.safetensors")
    wb, _ = load_weights(b / "colorizer.safetensors")
    for k in wa:  # 2 steps + resume 1 == 3 steps straight
        assert torch.equal(wa[k], wb[k]), k


def test_train_command_with_everything_excluded_is_a_one_line_error(tiny_data, tmp_path, capsys):
    from conftest import assert_one_line_error

    run = run_inprocess(["train", "colorizer", "--data", tiny_data, "--exclude", "*.png", "--exclude", "clip*",
                         "--out", tmp_path / "x", "--steps", "1", "-q"], capsys)
    assert_one_line_error(run, "no training images or videos")
