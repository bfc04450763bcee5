"""The retoucher: shipped weights, grid network, learned styles through the real kernel."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidbw.errors import InputError  # noqa: E402
from vidbw.kernels.colour import rgb_matrix  # noqa: E402
from vidbw.kernels.slicing import slice_apply  # noqa: E402
from vidbw.models.content import CONTENT_DIM, content_evidence  # noqa: E402
from vidbw.models.retoucher import Retoucher, default_model_path, load_default  # noqa: E402
from vidbw.styles import get_style, list_styles  # noqa: E402
from vidbw.styles.learned import LearnedStyle, shipped_style_dir  # noqa: E402
from vidbw.train.expert import HELD_OUT_SEED_START, sample_style  # noqa: E402


def scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A tiny colourful picture: blue sky, green ground, an orange blob, grey noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    img[: h // 2] = (0.35, 0.55, 0.9)
    img[h // 2:] = (0.25, 0.6, 0.2)
    yy, xx = np.mgrid[:h, :w]
    blob = ((yy - h * 0.6) ** 2 + (xx - w * 0.4) ** 2) < (h * 0.2) ** 2
    img[blob] = (0.9, 0.55, 0.3)
    img *= np.linspace(0.6, 1.1, w, dtype=np.float32)[None, :, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def shipped() -> list[LearnedStyle]:
    return [s for s in list_styles() if s.kind == "learned" and s.path and s.path.parent == shipped_style_dir()]


def test_weights_load_and_are_small():
    path = default_model_path()
    assert path.is_file()
    assert path.stat().st_size < 5_000_000
    model = load_default()
    assert isinstance(model, Retoucher)
    assert not any(p.requires_grad for p in model.parameters())


def test_missing_and_corrupt_weights_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Retoucher.load(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!")
    with pytest.raises(InputError, match="corrupt"):
        Retoucher.load(bad)


def test_grid_shape_dtype_and_proxy_dependence():
    model = load_default()
    rgb = torch.from_numpy(np.stack([scene(), scene(seed=1)]).transpose(0, 3, 1, 2).copy())
    a = torch.nn.functional.normalize(model.proxies[:2], dim=1)
    b = torch.nn.functional.normalize(model.proxies[-2:], dim=1)
    with torch.inference_mode():
        ga, gb = model.gridnet(rgb, a), model.gridnet(rgb, b)
    d, g = model.cfg.depth, model.cfg.grid
    assert ga.shape == (2, 4, d, g, g) and ga.dtype == torch.float32
    assert float((ga - gb).abs().max()) > 1e-3  # the style code changes the grid


def test_untrained_gridnet_is_rec709():
    from vidbw.models.gridnet import GridNet

    net = GridNet()
    with torch.inference_mode():
        grid = net(torch.rand(1, 3, 20, 30), torch.randn(1, net.cfg.style_dim))
    assert torch.allclose(grid[0, :, 0, 0, 0], torch.tensor([0.2126, 0.7152, 0.0722, 0.0]))


def test_the_render_time_grid_network_is_the_trained_ones():
    """vidbw.models.inference runs the shipped weights in numpy; torch's GridNet is the reference."""
    from vidbw.models.inference import load_retoucher_arrays, unit

    model, arrays = load_default(), load_retoucher_arrays(str(default_model_path()))
    style = get_style("landscape-master")
    adapter = style.adapter()
    assert set(adapter) == {"head_w", "head_b", "film_b", "grid_b"}  # every adapter term is exercised
    code = unit(style._loaded()["proxies"][1])
    # 144x256 is the 1080p analysis copy (an uneven pooling to the 128-px input); 128x128 needs none.
    for h, w in ((144, 256), (128, 128), (200, 150)):
        frames = np.stack([scene(h, w, seed) for seed in range(2)])
        with torch.inference_mode():
            expected = model.gridnet(torch.from_numpy(frames.transpose(0, 3, 1, 2).copy()),
                                     torch.from_numpy(code)[None].expand(2, -1),
                                     {k: torch.from_numpy(v) for k, v in adapter.items()}).numpy()
        got = arrays.gridnet(frames, code, adapter)
        assert got.shape == expected.shape == (2, 4, 8, 16, 16)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        assert float(np.abs(expected - model.gridnet.prior.numpy()[0]).max()) > 0.05  # the style moves the grid


def test_shipped_learned_styles_are_listed():
    names = {s.name for s in shipped()}
    assert {"landscape-master", "portrait-master", "street-noir"} <= names
    assert any(s.kind == "classic" for s in list_styles())  # beside the classic ones


def test_learned_style_renders_with_the_numba_kernel():
    style = get_style("landscape-master")
    assert style.kind == "learned" and not style.is_constant
    img = scene(90, 120)
    small = img[::2, ::2].copy()
    grids = style.grids_for(small[None])
    assert grids.dtype == np.float32 and grids.shape[:2] == (1, 4)
    u8 = np.round(img * 255).astype(np.uint8)
    out = np.empty(u8.shape[:2], np.uint8)
    slice_apply((u8[..., 0], u8[..., 1], u8[..., 2]), rgb_matrix(8), grids[0], style.tone_lut, out, 0.0, 255.0)
    assert 5 < out.mean() < 250 and out.std() > 3
    # Matches the torch twin the networks were trained through.
    from vidbw.kernels.slicing_torch import slice_apply_torch

    ref = slice_apply_torch(torch.from_numpy(u8.transpose(2, 0, 1)[None] / 255.0).float(), torch.from_numpy(grids),
                            torch.from_numpy(style.tone_lut.copy()))[0].numpy()
    assert np.abs(out / 255.0 - ref).max() < 2.5 / 255


def test_choose_proxy_is_deterministic_and_valid():
    style = get_style("portrait-master")
    frames = np.stack([scene(seed=i) for i in range(3)])
    evidence = content_evidence(frames)
    assert evidence.shape == (3, CONTENT_DIM) and evidence.dtype == np.float32
    first = style.choose_proxy(evidence)
    assert first == style.choose_proxy(evidence) == style.choose_proxy(evidence[::-1].copy())
    assert 0 <= first < style.n_proxies
    assert isinstance(first, int)
    np.testing.assert_array_equal(style.grids_for(frames, proxy=first), style.grids_for(frames))
    with pytest.raises(ValueError):
        style.grids_for(frames, proxy=style.n_proxies)


def test_warm_up_beside_the_render_thread_gives_the_same_grids(tmp_path):
    # convert_video warms a learned style up on a background thread while the render thread may
    # already want grids: the two must not disturb each other (numpy's BLAS thread count, limited
    # for each call, is process-wide: a warm-up that restored it mid-call changed the render's sums).
    import shutil
    import threading

    frames = np.stack([scene(seed=i) for i in range(2)])
    expected = get_style("street-noir").grids_for(frames, proxy=1)
    copy = tmp_path / "noir-copy.safetensors"  # a new file: its own LearnedStyle, nothing loaded yet
    shutil.copy(shipped_style_dir() / "street-noir.safetensors", copy)
    style = get_style(str(copy))
    calls = []  # what wraps grids_for (benchmarks count predictions) sees the render's calls only
    real_grids_for = style.grids_for
    style.grids_for = lambda batch, proxy=None: calls.append(len(batch)) or real_grids_for(batch, proxy)
    threads = torch.get_num_threads()
    warming = threading.Thread(target=style.warm_up)
    warming.start()
    got = [style.grids_for(frames, proxy=1) for _ in range(3)]
    warming.join()
    for grids in got:
        np.testing.assert_array_equal(grids, expected)
    assert torch.get_num_threads() == threads
    assert calls == [2, 2, 2]


def test_a_broken_style_warms_up_quietly_and_fails_where_it_is_used(tmp_path, capfd, caplog):
    """Warming up a broken style raises nothing and says nothing (no output, no log record, no
    warning): the render thread's own load reports it, as an error naming the file, at each use."""
    import logging
    import re
    import warnings

    from vidbw.models.io import save_weights

    path = tmp_path / "broken.safetensors"
    save_weights(path, {"not_proxies": torch.zeros(2, 4)}, {"kind": "learned", "name": "broken"})
    style = get_style(str(path))
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        style.warm_up()
    assert capfd.readouterr() == ("", "")
    assert caplog.records == [] and warned == []
    for _ in range(2):  # not only the first use: warming up left nothing half-loaded behind
        with pytest.raises(InputError, match=re.escape(f"style file {path} holds no proxies")):
            style.grids_for(scene()[None], proxy=0)


def test_style_by_path_and_bad_path(tmp_path):
    path = shipped_style_dir() / "street-noir.safetensors"
    assert get_style(str(path)).name == "street-noir"
    with pytest.raises(InputError):
        get_style(str(tmp_path / "nope.safetensors"))


def test_expert_styles_are_deterministic_and_region_aware():
    img = scene()
    a = sample_style(HELD_OUT_SEED_START + 1, "infrared").render(img)
    b = sample_style(HELD_OUT_SEED_START + 1, "infrared").render(img)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == img.shape[:2] and 0 <= a.min() and a.max() <= 1
    # infrared: foliage (bottom) brighter relative to sky (top) than Rec.709 has it
    luma = img @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    h = img.shape[0]
    assert a[h * 3 // 4:].mean() - a[: h // 4].mean() > luma[h * 3 // 4:].mean() - luma[: h // 4].mean()


@pytest.mark.slow
def test_training_checkpoints_and_resumes(tmp_path):
    """Stopped after 2 steps and resumed to 3, training ends with the weights of a run that was never
    stopped (same seed, same 3 steps). Exactly the same: on the CPU training is deterministic (one
    thread, each step's batch drawn from its own (seed, step) generator, Adam's moments restored from
    the checkpoint), so no tolerance is needed and any drift in what a checkpoint keeps shows."""
    from vidbw.io.images import write_image
    from vidbw.models.io import load_weights
    from vidbw.models.inference import WEIGHTS_NAME
    from vidbw.train.retoucher import TrainConfig, train_retoucher

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        write_image(data / f"s{i}.png", np.round(scene(40, 56, seed=i) * 255).astype(np.uint8))
    cfg = TrainConfig(steps=2, batch=2, size=32, n_styles=4, checkpoint_every=1)
    state = train_retoucher([data], tmp_path / "out", cfg)
    assert state["step"] == 2 and len(state["history"]) == 2
    model = Retoucher.load(tmp_path / "out" / WEIGHTS_NAME)
    assert model.n_styles == 4
    after_two, _ = load_weights(tmp_path / "out" / WEIGHTS_NAME)
    cfg.steps = 3
    state = train_retoucher([data], tmp_path / "out", cfg, resume=True)
    assert state["step"] == 3 and len(state["history"]) == 3

    straight_state = train_retoucher([data], tmp_path / "straight", TrainConfig(steps=3, batch=2, size=32, n_styles=4,
                                                                                checkpoint_every=1))
    resumed, _ = load_weights(tmp_path / "out" / WEIGHTS_NAME)
    straight, _ = load_weights(tmp_path / "straight" / WEIGHTS_NAME)
    assert resumed.keys() == straight.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0, msg=f"{name} differs after resuming")
    assert not all(torch.equal(after_two[name], resumed[name]) for name in resumed)  # the third step did train
    losses = [{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in state["history"]]
    assert losses == [{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in straight_state["history"]]
