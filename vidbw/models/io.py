"""Loading and saving weights: safetensors tensors + JSON metadata, no network access.

torch is imported only by what needs it: rendering reads weights as numpy arrays (`load_arrays`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidbw.errors import InputError
from vidbw.io.atomic import write_atomic

if TYPE_CHECKING:
    import torch

__all__ = [
    "save_weights",
    "load_weights",
    "load_arrays",
    "float32_arrays",
    "save_optimizer_state",
    "load_optimizer_state",
]


def save_weights(path: Path, tensors: dict, meta: dict) -> None:
    """Write ``tensors`` (name -> tensor/array) and ``meta`` (JSON-able) atomically."""
    import torch
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: torch.as_tensor(v).detach().cpu().contiguous().clone() for k, v in tensors.items()}
    # Written by vidbw's atomic writer rather than safetensors' save_file, which creates the file owner-only
    # (0600): a style file is meant to be shared, so it gets the user's umask like any other file.
    write_atomic(path, save(flat, metadata={"vidbw": json.dumps(meta, sort_keys=True)}))


def load_weights(path: Path) -> tuple[dict, dict]:
    """(tensors, meta) from a file written by :func:`save_weights`; one clear error if it is unusable."""
    return _read(path, "pt")


def load_arrays(path: Path) -> tuple[dict, dict]:
    """Like `load_weights`, as numpy arrays, without importing torch."""
    return _read(path, "numpy")


def float32_arrays(tensors: dict) -> dict:
    """Weights as float32 numpy arrays, whether read by `load_arrays` or torch tensors just trained."""
    return {
        k: np.ascontiguousarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, np.float32)
        for k, v in tensors.items()
    }


def _read(path: Path, framework: str) -> tuple[dict, dict]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"model weights not found: {path} (reinstall vidbw or retrain with `vidbw train retoucher`)")
    try:
        with safe_open(str(path), framework=framework) as f:
            meta = json.loads((f.metadata() or {}).get("vidbw", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for truncated / foreign files
        raise InputError(f"corrupt or unreadable weights file {path}: {exc.__class__.__name__}: {exc}") from None
    return tensors, meta


def save_optimizer_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """An optimizer's per-parameter state (Adam moments, step) as safetensors, for `--resume`."""
    import torch

    tensors = {}
    for pid, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{pid}.{key}"] = torch.as_tensor(value).reshape(-1) if key == "step" else value
    save_weights(path, tensors, {"n": len(optimizer.state_dict()["state"])})


def load_optimizer_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Restore what :func:`save_optimizer_state` wrote into an optimizer over the same parameters."""
    tensors, _ = load_weights(path)
    state_dict = optimizer.state_dict()
    state: dict = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value.reshape(()) if key == "step" else value
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)
