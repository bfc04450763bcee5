"""The Python API (`vidbw.api`, exported by `vidbw`) called directly, not through click: the same
outputs as the command line, results with the choices made, and errors that name parameters."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import assert_ok, assert_one_line_error, run_inprocess, temp_files

import vidbw
from vidbw.errors import OptionError, OutputError


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def assert_same_pictures(a: Path, b: Path) -> None:
    frames_a, frames_b = decoded(a), decoded(b)
    assert len(frames_a) == len(frames_b) > 0
    for x, y in zip(frames_a, frames_b):
        np.testing.assert_array_equal(x, y)


def test_import_is_cheap_and_signatures_are_real():
    import inspect
    import subprocess
    import sys

    code = "import sys, vidbw; vidbw.convert; print(sorted(m for m in ('torch', 'numba', 'av') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    params = inspect.signature(vidbw.convert).parameters
    for name in ("style", "grain", "toning", "codec", "crf", "pix_fmt", "colorize", "reference", "shots", "temporal",
                 "job_dir", "workers", "engine", "progress"):
        assert name in params, name
    assert "options" not in params  # no **options: every keyword is visible


def test_convert_classic_style_as_the_cli_does(tmp_path, clip_mkv, capsys):
    out_api, out_cli = tmp_path / "api.mkv", tmp_path / "cli.mkv"
    stages = []

    def progress(label):
        from contextlib import nullcontext

        stages.append(label)
        return nullcontext(lambda done, total, fields=None: None)

    done = vidbw.convert(clip_mkv, out_api, style="red", grain=0.05, grain_seed=3, codec="ffv1", progress=progress)
    assert done.output == out_api and out_api.is_file()
    assert (done.frames, done.film, done.chunked, done.colorize, done.style) == (24, True, False, False, "red")
    assert stages == [f"converting {clip_mkv.name}"]
    run = run_inprocess(["convert", clip_mkv, "-o", out_cli, "--style", "red", "--grain", "0.05", "--grain-seed", "3",
                         "--codec", "ffv1", "-q"], capsys)
    assert_ok(run)
    assert_same_pictures(out_api, out_cli)
    first = decoded(out_api)[0]
    assert np.array_equal(first[..., 0], first[..., 1]) and np.array_equal(first[..., 1], first[..., 2])  # gray
    assert json.loads(done.to_json())["frames"] == 24


def test_convert_applies_a_recipe_and_given_values_win(tmp_path, images):
    recipe = tmp_path / "look.toml"
    recipe.write_text('[look]\nstyle = "green"\ngrain = 0.0\n')
    by_recipe = vidbw.convert(images["png8"], tmp_path / "recipe.png", recipe=str(recipe))
    by_style = vidbw.convert(images["png8"], tmp_path / "style.png", style="green")
    overridden = vidbw.convert(images["png8"], tmp_path / "red.png", recipe=str(recipe), style="red")
    assert (by_recipe.style, overridden.style, by_recipe.film) == ("green", "red", False)
    assert_same_pictures(by_recipe.output, by_style.output)
    with pytest.raises(AssertionError):
        assert_same_pictures(by_recipe.output, overridden.output)


@pytest.fixture
def pairs(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from test_style_learn import make_pairs

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return make_pairs(tmp_path / "pairs", 6)


def test_learn_style_then_convert_with_it(tmp_path, pairs, clip_mkv, capsys):
    from vidbw.styles import get_style

    labels = []

    def progress(label):
        from contextlib import nullcontext

        labels.append(label)
        return nullcontext(None)

    learned = vidbw.learn_style("API Look", pairs, steps=12, holdout=0.2, progress=progress)
    assert learned.path == tmp_path / "xdg" / "vidbw" / "styles" / "api-look.safetensors" and learned.path.is_file()
    assert (learned.name, learned.n_pairs, learned.held_out, learned.by_name) == ("api-look", 6, 1, True)
    assert labels == ["learning api-look", "refining api-look on all pairs"]
    style = get_style("api-look")
    assert style.kind == "learned" and style.meta["heldout_psnr"] == learned.heldout_psnr > 10
    assert json.loads(learned.to_json())["heldout_ssim"] == style.meta["heldout_ssim"]
    assert not temp_files(learned.path.parent)

    done = vidbw.convert(clip_mkv, tmp_path / "learned.mkv", style="api-look", codec="ffv1")
    assert done.frames == 24 and done.explain and all("style api-look" in line for line in done.explain)
    run = run_inprocess(["convert", clip_mkv, "-o", tmp_path / "cli.mkv", "--style", "api-look", "--codec", "ffv1",
                         "-q"], capsys)
    assert_ok(run)
    assert_same_pictures(done.output, tmp_path / "cli.mkv")
    neutral = vidbw.convert(clip_mkv, tmp_path / "neutral.mkv", codec="ffv1")
    assert not np.array_equal(decoded(done.output)[0], decoded(neutral.output)[0])

    with pytest.raises(OutputError) as err:
        vidbw.learn_style("api-look", pairs, steps=10)
    assert err.value.params == ("overwrite",) and "`overwrite`" in str(err.value)
    with pytest.raises(OptionError) as err:
        vidbw.learn_style("other", pairs, steps=10, description="x" * 71)
    assert err.value.param == "description"


def test_evaluate_style_scores_and_writes_json(tmp_path, pairs):
    report = tmp_path / "scores.json"
    ev = vidbw.evaluate_style(pairs, train_fraction=0.6, steps=12, json_output=report)
    assert (ev.n_train, ev.n_test) == (4, 2) and set(ev.rows) == {"rec709", "mix+curve", "learned"}
    assert all(np.isfinite(v).all() for v in ev.rows.values())
    assert report.read_text() == ev.to_json()
    assert json.loads(report.read_text())["n_test"] == 2 and [p.name for p in tmp_path.iterdir() if p.is_file()] == [
        "scores.json"]
    with pytest.raises(OptionError) as err:
        vidbw.evaluate_style(pairs, train_fraction=1.5)
    assert err.value.param == "train_fraction" and "`train_fraction`" in str(err.value)


def test_find_shots_writes_the_list(tmp_path, clip_mkv):
    found = vidbw.find_shots(clip_mkv, tmp_path / "shots.json")
    assert found.output == tmp_path / "shots.json" and found.shot_list.frames == 24
    assert json.loads(found.output.read_text()) == json.loads(found.to_json())
    with pytest.raises(OptionError) as err:
        vidbw.find_shots(clip_mkv, fps=25)
    assert err.value.param == "fps"


def test_library_errors_name_parameters(tmp_path, images, clip_mkv):
    with pytest.raises(OptionError) as err:
        vidbw.convert(images["png8"], tmp_path / "x.png", colorize=True, style="red")
    assert err.value.param == "colorize" and str(err.value).startswith("`colorize` makes colour")
    with pytest.raises(OptionError) as err:
        vidbw.convert(images["png8"], tmp_path / "x.png", reference=images["jpg"])
    assert err.value.param == "reference" and err.value.params == ("reference", "colorize")
    with pytest.raises(OptionError) as err:
        vidbw.convert(clip_mkv, tmp_path / "x.mkv", temporal="medium")
    assert err.value.param == "temporal"
    assert not temp_files(tmp_path)


def test_cli_shows_a_library_parameter_as_its_flag(tmp_path, clip_mkv, capsys, monkeypatch):
    from vidbw import api

    def refuse(*args, **kwargs):
        raise OptionError("unknown `temporal` 'x' (use off, light or strong); see also `job_dir` and `pix_fmt`",
                          param="temporal", mentions=("job_dir", "pix_fmt"))

    monkeypatch.setattr(api, "convert", refuse)
    run = run_inprocess(["convert", clip_mkv, "-o", tmp_path / "x.mkv"], capsys)
    line = assert_one_line_error(run)
    assert "vidbw: error: unknown --temporal 'x' (use off, light or strong); see also --job-dir and --pix-fmt" in line
    monkeypatch.undo()
    # A real one: preview's `at_seconds` is the --at option.
    run = run_inprocess(["preview", clip_mkv, "--at", "99", "-o", tmp_path / "sheet.png"], capsys)
    line = assert_one_line_error(run)
    assert "--at 99s is outside the clip" in line and "`" not in line


def test_atomic_writer_leaves_nothing_on_failure(tmp_path):
    from vidbw.io.atomic import write_atomic, write_json_atomic

    path = write_json_atomic(tmp_path / "a.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    with pytest.raises(OutputError, match="output appeared"):
        write_atomic(path, b"new", overwrite=False)
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["a.json"]
