"""The wheel: it carries every file vidbw loads, and works installed outside the checkout."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

# Training state that `vidbw train` writes beside the weights: it stays out of the wheel.
TRAINING_STATE = {"optimizer.safetensors", "state.json"}


def shipped_files() -> list[str]:
    """The repository's models/ and pipelines/ files that a wheel must carry, relative to the repo."""
    files = []
    for folder in ("models", "pipelines"):
        files += [p.relative_to(REPO).as_posix() for p in sorted((REPO / folder).rglob("*"))
                  if p.is_file() and p.name not in TRAINING_STATE]
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True, text=True)
    (built,) = dist.glob("vidbw-*.whl")
    return built


@pytest.mark.slow
def test_wheel_carries_the_weights_styles_and_recipes(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = shipped_files()
    assert any(f.startswith("models/styles/") for f in expected) and any(f.startswith("pipelines/") for f in expected)
    missing = [f for f in expected if f"vidbw/_shipped/{f}" not in names]
    assert missing == []
    assert not [n for n in names if Path(n).name in TRAINING_STATE]


@pytest.mark.slow
def test_installed_wheel_converts_colorizes_and_loads_recipes_outside_the_checkout(wheel, tmp_path, clip_mkv):
    """A venv holding the wheel and, through a .pth line, this environment's dependencies (but not
    its editable vidbw), run from a folder outside the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(purelib), str(wheel)], check=True, capture_output=True)
    # A .pth line puts the directory on sys.path without running the .pth files inside it (such as
    # the editable install's), so only the wheel's vidbw can be imported.
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = venv / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIDBW_MODELS")}

    def vidbw(*args) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-c", "from vidbw.cli import main; main()", *map(str, args)],
                              cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = subprocess.run([str(python), "-c", "import vidbw; print(vidbw.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(purelib), where
    for number, args in enumerate((["--style", "landscape-master"], ["--colorize"], ["--pipeline", "remaster-bw"])):
        out = work / f"out{number}.mkv"
        run = vidbw("convert", clip_mkv, "-o", out, *args)
        assert run.returncode == 0, f"{args}: {run.stderr}"
        assert out.is_file() and out.stat().st_size > 0


def test_vidbw_models_points_at_another_models_folder(tmp_path):
    """VIDBW_MODELS replaces the shipped models folder: its styles are listed and its weights used."""
    import shutil

    models = tmp_path / "models"
    (models / "styles").mkdir(parents=True)
    shutil.copytree(REPO / "models" / "retoucher", models / "retoucher")
    shutil.copy(REPO / "models" / "styles" / "street-noir.safetensors", models / "styles")
    env = {**os.environ, "VIDBW_MODELS": str(models), "COLUMNS": "200"}
    code = ("from vidbw.models.inference import default_model_path; print(default_model_path()); "
            "from vidbw.cli import main; main(['styles'])")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    first, listing = run.stdout.split("\n", 1)
    assert Path(first) == models.resolve() / "retoucher" / "retoucher.safetensors"
    assert "street-noir" in listing and "landscape-master" not in listing
