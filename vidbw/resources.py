"""Where vidbw finds the data it ships: the networks' weights, the learned styles and the recipes.

They live in the repository's top-level `models/` and `pipelines/`. `vidbw/_shipped/` links to
both, and a wheel carries them there as package data, so a checkout, an editable install and an
installed wheel all find them through `importlib.resources`. `VIDBW_MODELS` points at another
models folder with the same layout (`retoucher/`, `colorizer/`, `styles/`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["MODELS_ENV", "models_dir", "pipelines_dir"]

MODELS_ENV = "VIDBW_MODELS"


def models_dir() -> Path:
    """The folder holding `retoucher/`, `colorizer/` and `styles/`: `$VIDBW_MODELS`, else the shipped one."""
    override = os.environ.get(MODELS_ENV)
    return Path(override).expanduser().resolve() if override else _shipped("models")


def pipelines_dir() -> Path:
    """The shipped recipes (`*.toml`)."""
    return _shipped("pipelines")


def _shipped(name: str) -> Path:
    # vidbw is always installed as plain files (wheels are unpacked), so the traversable is a real
    # path; resolved, so a checkout reports models/... rather than the link it went through.
    return Path(str(resources.files("vidbw") / "_shipped" / name)).resolve()
