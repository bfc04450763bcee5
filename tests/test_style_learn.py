"""`vidbw style learn`, learned styles in convert, `vidbw eval style`, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

import vidbw  # noqa: E402
from vidbw.cli import cli  # noqa: E402
from vidbw.errors import InputError  # noqa: E402
from vidbw.io.images import write_image  # noqa: E402
from vidbw.styles import get_style  # noqa: E402
from vidbw.train.expert import HELD_OUT_SEED_START, sample_style  # noqa: E402
from vidbw.train.style_learn import read_pairs  # noqa: E402


def picture(seed: int, h: int = 40, w: int = 56) -> np.ndarray:
    """Small varied colour scenes: sky / foliage / skin-like regions in random layouts."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    horizon = int(h * rng.uniform(0.3, 0.7))
    img[:horizon] = rng.uniform([0.2, 0.4, 0.7], [0.5, 0.7, 1.0])
    img[horizon:] = rng.uniform([0.1, 0.35, 0.05], [0.4, 0.7, 0.3])
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = rng.uniform(0.3, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.25) * h
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform([0.7, 0.4, 0.25], [1.0, 0.65, 0.45])
    img *= np.linspace(rng.uniform(0.6, 1.0), 1.0, w, dtype=np.float32)[None, :, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def make_pairs(folder: Path, n: int, seed: int = HELD_OUT_SEED_START + 7, family: str = "landscape") -> Path:
    style = sample_style(seed, family)
    (folder / "color").mkdir(parents=True)
    (folder / "bw").mkdir(parents=True)
    for i in range(n):
        rgb = picture(i)
        write_image(folder / "color" / f"p{i:02d}.png", np.round(rgb * 255).astype(np.uint8))
        write_image(folder / "bw" / f"p{i:02d}.png", np.round(style.render(rgb) * 255).astype(np.uint8))
    return folder


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "vidbw" / "styles"


def run(*args):
    result = CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=True)
    return result


@pytest.mark.slow
def test_learn_writes_a_style_that_convert_accepts_by_name_and_path(tmp_path, user_dir):
    pairs = make_pairs(tmp_path / "pairs", 6)
    r = run("style", "learn", "My_Look", "--pairs", pairs, "--steps", "12", "--holdout", "0.2", "-q")
    assert r.exit_code == 0, r.output + repr(r.exception)
    path = user_dir / "my-look.safetensors"
    assert path.is_file() and Path(r.output.strip().splitlines()[-1]) == path
    style = get_style("my-look")
    assert style.kind == "learned" and style.meta["n_pairs"] == 6 and "heldout_psnr" in style.meta
    src = tmp_path / "photo.png"
    write_image(src, np.round(picture(99, 60, 80) * 255).astype(np.uint8))
    for ref, out in (("my-look", tmp_path / "by_name.png"), (str(path), tmp_path / "by_path.png")):
        vidbw.convert(src, out, style=ref)
        assert out.is_file()
    from vidbw.io.images import read_image

    a, b = read_image(tmp_path / "by_name.png").rgb, read_image(tmp_path / "by_path.png").rgb
    np.testing.assert_array_equal(a, b)
    # explicit -o path
    other = tmp_path / "styles" / "other.safetensors"
    r = run("style", "learn", "other", "--pairs", pairs, "--steps", "10", "--holdout", "0", "-o", other)
    assert r.exit_code == 0 and other.is_file()
    assert get_style(str(other)).name == "other"
    assert f"`vidbw convert --style {other}` uses it" in r.output  # not found by name outside the style folder
    r = run("style", "learn", "third", "--pairs", pairs, "--steps", "10", "--holdout", "0")
    assert r.exit_code == 0 and "`vidbw convert --style third` uses it" in r.output


def test_too_few_pairs(tmp_path):
    pairs = make_pairs(tmp_path / "pairs", 3)
    with pytest.raises(InputError, match="at least 4"):
        read_pairs(pairs)


def test_mismatched_stems_are_named(tmp_path):
    pairs = make_pairs(tmp_path / "pairs", 5)
    (pairs / "bw" / "p01.png").rename(pairs / "bw" / "stray.png")
    with pytest.raises(InputError, match=r"p01.*stray|stray.*p01"):
        read_pairs(pairs)


def test_unreadable_image(tmp_path):
    pairs = make_pairs(tmp_path / "pairs", 5)
    (pairs / "color" / "p02.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="p02"):
        read_pairs(pairs)


def test_colour_image_on_the_bw_side(tmp_path):
    pairs = make_pairs(tmp_path / "pairs", 5)
    write_image(pairs / "bw" / "p03.png", np.round(picture(3) * 255).astype(np.uint8))
    with pytest.raises(InputError, match="in colour.*p03"):
        read_pairs(pairs)


def test_cli_errors_are_one_line(tmp_path, user_dir, capsys):
    from vidbw.cli import main

    pairs = make_pairs(tmp_path / "pairs", 3)
    with pytest.raises(SystemExit) as exc:
        main(["style", "learn", "x", "--pairs", str(pairs)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidbw: error:") and "\n" not in err


@pytest.mark.slow
def test_eval_style_beats_rec709_on_a_tiny_run(tmp_path):
    from vidbw.eval.style import evaluate_style, fit_mix_curve

    pairs = read_pairs(make_pairs(tmp_path / "pairs", 8, family="infrared"))
    ev = evaluate_style(pairs, train_fraction=0.6, seed=0, steps=15)
    assert ev.n_train + ev.n_test == 8
    assert ev.rows["learned"][0] > ev.rows["rec709"][0]
    assert ev.rows["mix+curve"][0] > ev.rows["rec709"][0]
    curve = fit_mix_curve(pairs)
    assert np.all(np.diff(curve.ys) >= -1e-12)  # monotone


@pytest.mark.slow
def test_eval_style_cli_prints_a_table(tmp_path):
    """The table: a title with the split, a header, one row per method with the evaluation's own PSNR
    and SSIM (as --json writes them), and the learned style's gain over mix+curve below it."""
    import json

    pairs = make_pairs(tmp_path / "pairs", 6)
    r = run("eval", "style", "--pairs", pairs, "--steps", "10", "-q", "--json", tmp_path / "scores.json")
    assert r.exit_code == 0, r.output + repr(r.exception)
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert (scores["n_train"], scores["n_test"]) == (4, 2)  # --train-fraction 0.6 of 6 pairs
    lines = r.output.splitlines()
    assert lines[0].strip() == "style imitation: 4 training pairs, 2 held-out pairs"
    cells = [[c.strip() for c in line.replace("┃", "│").strip("│").split("│")] for line in lines if line[:1] in "┃│"]
    rows = scores["rows"]
    assert cells == [
        ["method", "PSNR (dB)", "SSIM"],
        ["Rec.709 luma", f"{rows['rec709'][0]:.2f}", f"{rows['rec709'][1]:.4f}"],
        ["global mix + monotone curve", f"{rows['mix+curve'][0]:.2f}", f"{rows['mix+curve'][1]:.4f}"],
        ["vidbw learned style", f"{rows['learned'][0]:.2f}", f"{rows['learned'][1]:.4f}"],
    ]
    gain = (f"gain over mix+curve: {rows['learned'][0] - rows['mix+curve'][0]:+.2f} dB PSNR, "
            f"{rows['learned'][1] - rows['mix+curve'][1]:+.4f} SSIM (fit ")
    assert lines[-1].startswith(gain)


def test_make_pairs_cli(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        write_image(photos / f"a{i}.png", np.round(picture(i) * 255).astype(np.uint8))
    r = run("train", "make-pairs", "--style-seed", HELD_OUT_SEED_START, "--family", "noir", "--out", tmp_path / "out",
            "--photos", photos)
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert sorted(p.name for p in (tmp_path / "out" / "bw").iterdir()) == ["a0.png", "a1.png"]
    assert (tmp_path / "out" / "style.json").is_file()


def test_version_2_adapter_terms_are_optional_and_neutral_at_zero():
    import torch

    from vidbw.models.gridnet import GridNet
    from vidbw.models.retoucher import load_default

    model = load_default()
    rgb = torch.from_numpy(picture(5, 48, 64)).permute(2, 0, 1)[None].float()
    code = torch.nn.functional.normalize(model.proxies[0].detach(), dim=0)[None]
    v1 = GridNet.new_adapter(model.cfg)
    v2 = {**v1, "film_b": torch.zeros(2 * sum(model.gridnet._film_sizes)),
          "grid_b": torch.zeros(4, model.cfg.depth, model.cfg.grid, model.cfg.grid)}
    with torch.no_grad():
        a, b, c = model.gridnet(rgb, code), model.gridnet(rgb, code, v1), model.gridnet(rgb, code, v2)
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)
        v2["grid_b"][0, 0, 0, 0] = 0.5
        assert float((model.gridnet(rgb, code, v2) - c).abs().max()) == pytest.approx(0.5)


def test_learned_style_file_records_its_version(tmp_path):
    from vidbw.models.pixel_look import members_of
    from vidbw.styles.learned import load_style_file
    from vidbw.train.style_learn import fit_style, read_pairs, save_style

    pairs = read_pairs(make_pairs(tmp_path / "pairs", 4))
    reports = []
    result = fit_style(pairs, steps=3, progress=lambda done, total, info: reports.append((done, total)))
    assert "adapter.film_b" in result and "adapter.grid_b" in result and "pixel.w0" in result
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == reports[-1][1]  # one bar over both stages, ending full
    style = load_style_file(save_style(tmp_path / "v3.safetensors", "v3", "d", result))
    assert style.meta["style_version"] == 3 and style.pixel_model()["w2"].shape[0] == 2  # two MLPs
    # a version-3 file of the first release (one MLP) still loads and renders
    one = {**result, **{f"pixel.{k}": v for k, v in members_of(style.pixel_model())[0].items()}}
    single = load_style_file(save_style(tmp_path / "v3-one.safetensors", "v3-one", "d", one))
    assert single.pixel_model()["w1"].shape == (64, 64)
    assert np.isfinite(single.grids_for(np.random.default_rng(0).uniform(0, 1, (2, 36, 64, 3)).astype(np.float32))).all()
    assert set(style.adapter()) == {"head_w", "head_b", "film_b", "grid_b"}
    # version-2 (no pixel model) and version-1 files (no FiLM offset, no residual grid) still load and render
    v2 = {k: v for k, v in result.items() if not k.startswith("pixel.")}
    v1 = {k: v for k, v in v2.items() if k not in ("adapter.film_b", "adapter.grid_b")}
    for version, tensors in ((2, v2), (1, v1)):
        old = load_style_file(save_style(tmp_path / f"v{version}.safetensors", f"v{version}", "d", tensors))
        assert old.meta["style_version"] == version and old.pixel_model() is None
        g = old.grids_for(np.zeros((1, 36, 64, 3), np.float32))
        assert g.shape == (1, 4, 8, 16, 16) and np.isfinite(g).all()
    assert set(old.adapter()) == {"head_w", "head_b"}


@pytest.mark.slow
def test_the_pixel_model_brings_held_out_pictures_closer_to_the_look(tmp_path):
    """Stage 2 of style learning must earn its place: on pictures it was not fitted on, the
    style with its pixel model is closer to the expert's render than the same fit without it."""
    from vidbw.metrics import psnr
    from vidbw.train.style_learn import render_style, split_pairs
    from vidbw.train.style_learn import fit_style, make_style

    pairs = read_pairs(make_pairs(tmp_path / "pairs", 12, family="infrared"))
    train, test = split_pairs(pairs, 0.67, 0)
    result = fit_style(train, steps=40, pixel_steps=600)
    with_model = make_style("with", "d", result)
    without = make_style("without", "d", {k: v for k, v in result.items() if not k.startswith("pixel.")})
    score = {name: np.mean([psnr(render_style(style, p.color), p.bw) for p in test])
             for name, style in (("with", with_model), ("without", without))}
    assert score["with"] > score["without"] + 1.0, score


def test_a_style_file_is_written_with_the_users_umask_not_owner_only(tmp_path):
    """Style files are shared between colourists: like any file the user writes, they follow the
    umask (safetensors' own writer creates them 0600)."""
    import os

    from vidbw.train.style_learn import fit_style, save_style

    pairs = read_pairs(make_pairs(tmp_path / "pairs", 4))
    umask = os.umask(0o022)
    try:
        path = save_style(tmp_path / "shared.safetensors", "shared", "d", fit_style(pairs, steps=2, pixel_steps=2))
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644
