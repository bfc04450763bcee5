"""A learned style's pixel model, and the grid fitted to it on every frame.

Why it exists: few-shot learning keeps the grid network frozen, and a grid predicted from the
network's cell-level features cannot say, luma bin by luma bin, what a new region-dependent look
does. On held-out noir the network route reaches 27.6 dB, while the best grid for each photo
(`benchmarks/style_ceiling.py`) reaches 40 dB: the grid form is not the limit, predicting it is.

So a style may carry a *pixel model*: a small MLP, trained on the user's pairs, that predicts each
pixel's B&W value at analysis resolution (≤ 256 px) from its colour and its surroundings at several
scales, as a correction of the network's own render. At render time it is distilled into an
ordinary bilateral grid per frame: a correction of the network's grid, fitted by weighted least
squares over the slicing kernel's own trilinear weights, that fades to nothing where a
(cell, luma bin) holds few pixels. The full-resolution picture is still the kernel slicing a
grid (HDRNet's split: the low-resolution side may be as clever as it likes, the full-resolution
side stays edge-aware and cheap), and the shot machinery and temporal smoother see grids as
before.

Features are measured in pixels of a 256-px long side and scaled with the frame, so one model
serves any analysis size.

Rendering runs in numpy (`predict`, `refit_grids`: no torch at render time, see
`vidbw.models.inference`); training runs in torch (`train_pixel_model`), whose `_forward` is the
reference the numpy `_forward_arrays` is tested against.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vidbw.kernels.colour import REC709_LUMA, area_resize, small_size
from vidbw.kernels.slicing import slice_rgb
from vidbw.kernels.splat import splat_normal_equations
from vidbw.models.inference import scratch_buffer
from vidbw.models.io import float32_arrays

if TYPE_CHECKING:
    import torch

__all__ = [
    "N_FEATURES",
    "pixel_features",
    "predict",
    "train_pixel_model",
    "fit_grid",
    "before_tone",
    "inverse_tone",
    "new_pixel_model",
    "members_of",
    "ensemble",
    "refit_grids",
    "with_mirror_images",
    "PIXEL_TERMS",
]

CONTEXT_SIGMAS = (2.0, 6.0, 16.0)  # surroundings of a pixel: luma, local contrast and colour at these scales
DETAIL_SIGMAS = (4.0, 12.0, 32.0)  # the network render's own detail at these scales (local-contrast looks)
REFERENCE_SIDE = 256.0
N_FEATURES = 7 + 4 * len(CONTEXT_SIGMAS) + len(DETAIL_SIGMAS) + 3
PIXEL_TERMS = ("w0", "b0", "w1", "b1", "w2", "b2")
CHROMA_GAIN = 3.0  # chroma is small next to luma; scaled so every feature spans about [-1, 1]
RIDGE = 1e-3  # pull of each (cell, bin) toward the prior grid, in pixel-weight units
# Frames are refitted at this long side: 4x cheaper than the 256-px analysis copy. Measured on
# held-out noir with an earlier whole-grid refit: 31.32 dB at 128 px, 31.35 at 176, 31.42 at 256.
REFIT_SIDE = 128
TRAIN_BATCH = 8192
INVERSE_TONE_SIZE = 4096


def pixel_features(rgb: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Per-pixel inputs of the pixel model: float32 (h·w, N_FEATURES).

    ``rgb`` float32 (h, w, 3) R'G'B' in [0, 1]; ``base`` float32 (h, w): the network's render of it.
    """
    rgb = np.ascontiguousarray(rgb, np.float32)
    base = np.ascontiguousarray(base, np.float32)
    h, w = base.shape
    scale = max(h, w) / REFERENCE_SIDE
    luma = rgb @ np.asarray(REC709_LUMA, np.float32)
    chroma = np.ascontiguousarray((rgb - luma[..., None]) * CHROMA_GAIN)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    saturation = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    features = [red, green, blue, luma, saturation, chroma[..., 0], chroma[..., 2]]
    for sigma in CONTEXT_SIGMAS:
        around = cv2.GaussianBlur(luma, (0, 0), sigma * scale)
        colour_around = cv2.GaussianBlur(chroma, (0, 0), sigma * scale)
        features += [around, luma - around, colour_around[..., 0], colour_around[..., 2]]
    for sigma in DETAIL_SIGMAS:
        features.append(base - cv2.GaussianBlur(base, (0, 0), sigma * scale))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    features += [ys * (2.0 / h) - 1.0, xs * (2.0 / w) - 1.0, base]
    return np.stack(features, -1).reshape(-1, N_FEATURES)


def new_pixel_model(hidden: int, seed: int) -> dict:
    """An MLP (N_FEATURES → hidden → hidden → 1) whose output layer is zero: it starts as 'no change'."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def layer(n_out, n_in):
        return torch.randn(n_out, n_in, generator=gen) * (2.0 / n_in) ** 0.5, torch.zeros(n_out)

    w0, b0 = layer(hidden, N_FEATURES)
    w1, b1 = layer(hidden, hidden)
    return {"w0": w0, "b0": b0, "w1": w1, "b1": b1, "w2": torch.zeros(1, hidden), "b2": torch.zeros(1)}


# A pixel model may be an ensemble of E such MLPs, trained apart and averaged (a few dozen photos
# leave one MLP's fit noisy; the mean generalises better). Every term stacks the members along
# its first axis: w0 (E·H, F), b0 (E·H), w1 (E·H, H), b1 (E·H), w2 (E, H), b2 (E,), so a single
# MLP (E = 1) is stored exactly as style files of version 3 always stored it.


def members_of(model: dict) -> list[dict]:
    """The ensemble's MLPs, each a single-member model of torch tensors (training continues from
    them), whether ``model`` holds tensors or a style's arrays."""
    import torch

    count = model["w2"].shape[0]
    return [{k: torch.as_tensor(v).chunk(count)[i].clone() for k, v in model.items()} for i in range(count)]


def ensemble(members: list[dict]) -> dict:
    """One stored model from single-member models (the inverse of `members_of`)."""
    import torch

    return {k: torch.cat([m[k] for m in members]) for k in PIXEL_TERMS}


def _forward(model: dict, features: torch.Tensor) -> torch.Tensor:
    """The ensemble's mean correction per pixel, in torch: what training differentiates."""
    import torch.nn.functional as F

    count, hidden = model["w2"].shape
    first = F.linear(features, model["w0"], model["b0"]).relu_()  # every member's first layer in one product
    total = None
    for member in range(count):  # plain products per member: faster on a CPU than one batched product
        rows = slice(member * hidden, (member + 1) * hidden)
        x = F.linear(first[:, rows], model["w1"][rows], model["b1"][rows]).relu_()
        out = F.linear(x, model["w2"][member : member + 1], model["b2"][member : member + 1])
        total = out if total is None else total + out
    assert total is not None  # an ensemble has at least one member
    return total[:, 0] / count


FORWARD_ROWS = 4096  # pixels per pass: keeps the hidden activations in a core's L2 cache
_scratch = threading.local()  # each thread's activation buffers, reused from frame to frame


def _forward_arrays(model: dict, features: np.ndarray) -> np.ndarray:
    """`_forward` at render time, in numpy, a block of rows at a time (rows are independent).

    The activations are written into buffers kept between calls: fresh megabyte arrays come from
    mmap, and their page faults made this a third slower than torch; with them it is faster."""
    count, hidden = model["w2"].shape
    scratch = _scratch.__dict__  # this thread's
    first_all = scratch_buffer(scratch, "first", (FORWARD_ROWS, count * hidden))
    hidden_all = scratch_buffer(scratch, "hidden", (FORWARD_ROWS, hidden))
    first_weights = np.ascontiguousarray(model["w0"].T)
    total = np.zeros(len(features), np.float32)
    for start in range(0, len(features), FORWARD_ROWS):
        block = features[start : start + FORWARD_ROWS]
        first, x = first_all[: len(block)], hidden_all[: len(block)]
        np.matmul(block, first_weights, out=first)
        first += model["b0"]
        np.maximum(first, 0.0, out=first)
        for member in range(count):
            rows = slice(member * hidden, (member + 1) * hidden)
            np.matmul(first[:, rows], model["w1"][rows].T, out=x)
            x += model["b1"][rows]
            np.maximum(x, 0.0, out=x)
            total[start : start + len(block)] += x @ model["w2"][member]
    return (total + model["b2"].sum()) / np.float32(count)


def predict(model: dict, rgb: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The look's B&W value for every pixel, float32 (h, w) in [0, 1]."""
    correction = _forward_arrays(float32_arrays(model), pixel_features(rgb, base))
    return np.clip(base + correction.reshape(base.shape), 0.0, 1.0)


def with_mirror_images(samples: Sequence[tuple[np.ndarray, ...]]) -> list[tuple[np.ndarray, ...]]:
    """Each (colour, render, target) sample as it is and mirrored left-right: a look does not care
    which way a photo faces, and with two dozen pairs the model otherwise learns the photos
    rather than the look."""
    return [
        tuple(np.ascontiguousarray(a[:, ::-1] if mirror else a) for a in sample)
        for sample in samples
        for mirror in (False, True)
    ]


def train_pixel_model(
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    steps: int,
    hidden: int = 64,
    seed: int = 0,
    model: dict | None = None,
    members: int = 1,
    progress: Callable[[int, dict], None] | None = None,
) -> dict:
    """Fit the pixel model to (colour, network render, target B&W) triples at analysis size.

    Each of ``members`` MLPs gets ``steps`` steps of Adam on its own random batches of pixels from
    all pairs, cosine schedule, from its own initialisation; ``model`` continues a fit (and then
    has as many members as it had). ``progress(done, info)`` counts steps over all members.
    """
    import torch

    mirrored = with_mirror_images(samples)
    features = torch.from_numpy(np.concatenate([pixel_features(rgb, base) for rgb, base, _ in mirrored]))
    wanted = torch.from_numpy(np.concatenate([(target - base).reshape(-1) for _, base, target in mirrored]))
    starts = (
        members_of(model) if model is not None else [new_pixel_model(hidden, seed + 1000 * i) for i in range(members)]
    )
    fitted = []
    for i, start in enumerate(starts):
        report = (lambda done, info, before=i * steps: progress(before + done, info)) if progress else None
        fitted.append(_train_member(features, wanted, start, steps, seed + i, report))
    return ensemble(fitted)


def _train_member(
    features: torch.Tensor,
    wanted: torch.Tensor,
    start: dict,
    steps: int,
    seed: int,
    progress: Callable[[int, dict], None] | None,
) -> dict:
    import torch
    import torch.nn.functional as F

    model = {k: v.clone() for k, v in start.items()}
    for t in model.values():
        t.requires_grad_(True)
    optimizer = torch.optim.Adam(list(model.values()), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps), eta_min=1e-5)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        pick = torch.randint(0, len(features), (min(TRAIN_BATCH, len(features)),), generator=gen)
        loss = F.mse_loss(_forward(model, features[pick]), wanted[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress:
            progress(step + 1, {"pixel PSNR": float(-10 * np.log10(max(loss.item(), 1e-10)))})
    return {k: v.detach().clone() for k, v in model.items()}


def inverse_tone(tone_lut: np.ndarray, size: int = INVERSE_TONE_SIZE) -> np.ndarray:
    """A monotone tone curve's inverse as a table over [0, 1]: where each output value comes from.

    Flat stretches of the curve (clipped blacks) map to where they start."""
    levels, first = np.unique(tone_lut, return_index=True)
    inputs = np.linspace(0.0, 1.0, len(tone_lut))[first]
    return np.interp(np.linspace(0.0, 1.0, size), levels, inputs).astype(np.float32)


def before_tone(inverse: np.ndarray, values: np.ndarray) -> np.ndarray:
    """What the grid must output, before the tone curve, for these values after it (``inverse``
    from `inverse_tone`): a linear lookup in the regular table."""
    position = np.clip(values, 0.0, 1.0) * np.float32(len(inverse) - 1)
    low = np.minimum(position.astype(np.intp), len(inverse) - 2)
    fraction = position - low
    return inverse[low] * (1 - fraction) + inverse[low + 1] * fraction


def fit_grid(rgb: np.ndarray, target: np.ndarray, prior: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """The grid (4, D, G, G) whose slice of ``rgb`` best matches ``target`` (before the tone curve).

    Each (luma bin, y cell, x cell) solves a 4×4 least-squares problem for (wR, wG, wB, c) over
    the pixels that touch it, weighted by the slicing kernel's trilinear weights, with a ridge
    of weight ``ridge`` toward ``prior``: bins with few pixels keep it.
    """
    _, depth, grid_h, grid_w = prior.shape
    normal, moment = splat_normal_equations(
        np.ascontiguousarray(rgb, np.float32), np.ascontiguousarray(target, np.float32), depth, grid_h, grid_w
    )
    prior_cells = np.asarray(prior, np.float64).transpose(1, 2, 3, 0)
    solution = np.linalg.solve(normal + ridge * np.eye(4), (moment + ridge * prior_cells)[..., None])[..., 0]
    return np.ascontiguousarray(solution.astype(np.float32).transpose(3, 0, 1, 2))


def refit_grids(model: dict, tone_lut: np.ndarray, frames: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """The network's grids (N, 4, D, G, G) for low-res ``frames`` (N, h, w, 3), each corrected
    toward what the pixel model says that frame's pixels should be.

    The correction is a grid fitted to the difference (before the tone curve) between the pixel
    model's values and the network's render, added to the network's grid: where the model agrees
    with the render, or a bin holds no pixels, the network's grid stands unchanged.
    """
    height, width = frames.shape[1:3]
    size = small_size(width, height, REFIT_SIDE)
    if size != (width, height):
        frames = np.stack([area_resize(frame, size) for frame in frames])
    frames = np.ascontiguousarray(frames, np.float32)
    inverse = inverse_tone(tone_lut)
    nothing = np.zeros_like(grids[0])
    corrected = np.array(grids, np.float32)
    for frame, grid in zip(frames, corrected):
        render = slice_rgb(frame, grid, tone_lut)
        wanted = before_tone(inverse, predict(model, frame, render)) - before_tone(inverse, render)
        grid += fit_grid(frame, wanted, nothing)
    return corrected
