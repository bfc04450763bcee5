"""Training checkpoints in an output folder: weights, optimizer state and a JSON state, for --resume.

One place for what every trainer keeps (`vidbw train retoucher`, `vidbw train colorizer`):

    OUT/<weights name>.safetensors   the model (its own `save`, with metadata)
    OUT/optimizer.safetensors        Adam moments and step (not shipped; only for --resume)
    OUT/state.json                   step, elapsed time, loss history
"""

from __future__ import annotations

import json
from pathlib import Path

from vidbw.io.atomic import write_json_atomic
from vidbw.models.io import load_optimizer_state, load_weights, save_optimizer_state

OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "state.json"


def resume_from(out: Path, weights_name: str, model, optimizer) -> dict | None:
    """Load the model, optimizer and training state from `out`; None when there is no checkpoint."""
    weights_path = Path(out) / weights_name
    if not weights_path.is_file():
        return None
    tensors, _ = load_weights(weights_path)
    model.load_state_dict(tensors)
    if (Path(out) / OPTIMIZER_NAME).is_file():
        load_optimizer_state(optimizer, Path(out) / OPTIMIZER_NAME)
    state_path = Path(out) / STATE_NAME
    return json.loads(state_path.read_text()) if state_path.is_file() else None


def save_checkpoint(out: Path, weights_name: str, model, optimizer, state: dict, meta: dict, device) -> None:
    """Write the model (on CPU, with `meta`), the optimizer state and `state` into `out`."""
    model.meta = meta
    model.cpu().save(
        Path(out) / weights_name, {"train_state": {"step": state["step"], "elapsed_s": round(state["elapsed_s"], 1)}}
    )
    model.to(device)
    save_optimizer_state(optimizer, Path(out) / OPTIMIZER_NAME)
    write_json_atomic(Path(out) / STATE_NAME, state)
