"""The retoucher's networks at render time, in numpy: a learned style renders without torch.

Importing torch and loading the networks through it holds the GIL for about a second while a
film's first frames wait for their first grid (docs/RETOUCHER.md). The grid network is small (~25 M
multiply-adds per frame at its 128-px input), so numpy's BLAS runs it about as fast as torch does
(`benchmarks/bench_gridnet.py`).

The torch modules (`vidbw.models.gridnet`, `vidbw.models.retoucher`) stay what training and the
CUDA path use, and the reference: tests hold this forward pass equal to theirs on the shipped
weights. Arrays are NHWC here (channels last), so each convolution is one matrix product over
patches that numpy gathers without a transpose.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidbw.models.content import CONTENT_DIM
from vidbw.resources import models_dir

__all__ = [
    "GridNetConfig",
    "PRIOR",
    "GridNetArrays",
    "RetoucherArrays",
    "default_model_path",
    "gridnet_config",
    "hold_blas_to_one_thread",
    "load_retoucher_arrays",
    "nearest_subject",
    "scratch_buffer",
    "unit",
]

PRIOR = (0.2126, 0.7152, 0.0722, 0.0)  # Rec.709 luma: the grid a zero residual stands for
WEIGHTS_NAME = "retoucher.safetensors"


def default_model_path() -> Path:
    """The shipped retoucher's weights (`models/retoucher/`)."""
    return models_dir() / "retoucher" / WEIGHTS_NAME


@dataclass(frozen=True)
class GridNetConfig:
    style_dim: int = 32
    depth: int = 8  # luma bins D
    grid: int = 16  # Gh = Gw
    in_size: int = 128
    widths: tuple = (16, 32, 48)
    film_hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def hold_blas_to_one_thread() -> None:
    """Hold numpy's BLAS to one thread from now on, in this process (once; later calls do nothing).

    Called when the networks load, so that every product they make, their set-up's included, runs
    on one thread. A second BLAS thread spins between the networks' small products on the cores the
    encoder needs, and the whole conversion slows (docs/RETOUCHER.md). Set here rather than through
    OPENBLAS_NUM_THREADS, which numpy reads only when it loads: too late in a script that imported
    numpy first, and in every Ray worker (Ray imports numpy before any task). Not limited call by
    call and restored: the count is process-wide, and a warm-up thread restoring it while the render
    thread was inside a product would change that product's last bits."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def gridnet_config(meta: dict) -> GridNetConfig:
    """The configuration a weights file's metadata records (its ``gridnet`` entry)."""
    fields = dict(meta["gridnet"])
    fields["widths"] = tuple(fields["widths"])
    return GridNetConfig(**fields)


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length (torch's F.normalize: a zero vector stays zero)."""
    vector = np.asarray(vector, np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def nearest_subject(features: np.ndarray, mean: np.ndarray, std: np.ndarray, centroids: np.ndarray) -> int:
    """The subject cluster whose centroid is nearest the mean of standardised content features."""
    f = (np.asarray(features, np.float32).reshape(-1, CONTENT_DIM).mean(0) - mean) / std
    return int(np.argmin(((centroids - f[None]) ** 2).sum(1)))


@functools.lru_cache(maxsize=32)
def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    # torch's adaptive average pooling: output i averages inputs [floor(i·n/m), ceil((i+1)·n/m)).
    matrix = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        matrix[i, start:end] = 1.0 / (end - start)
    matrix.setflags(write=False)
    return matrix


def adaptive_avg_pool(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) -> (N, h, w, C) as torch's adaptive_avg_pool2d (windows are separable boxes)."""
    n, height, width, channels = x.shape
    if (height, width) == size:
        return x
    rows, cols = _pool_matrix(height, size[0]), _pool_matrix(width, size[1])
    # Two large products rather than many (W x C) ones: each image row's channels pooled as rows.
    x = x.transpose(0, 1, 3, 2).reshape(-1, width) @ cols.T  # (N·H·C, w)
    x = rows @ x.reshape(n, height, -1)  # (N, h, C·w)
    return np.ascontiguousarray(x.reshape(n, size[0], channels, size[1]).transpose(0, 1, 3, 2))


def conv3x3(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, scratch: dict | None = None
) -> np.ndarray:
    """(N, H, W, C) -> (N, H', W', O): a 3×3 convolution with zero padding 1, as nn.Conv2d(C, O, 3,
    stride, 1); ``weight`` (O, C, 3, 3) as torch stores it, ``bias`` (O,) or per pixel (H', W', O).

    ``scratch`` (a dict the caller keeps) holds the padded input and the patches between calls:
    fresh megabyte arrays come from mmap, and their page faults cost more than the gathering."""
    n, height, width, channels = x.shape
    out_h, out_w = (height - 1) // stride + 1, (width - 1) // stride + 1
    scratch = {} if scratch is None else scratch
    padded = scratch_buffer(scratch, "padded", (n, height + 2, width + 2, channels))
    padded[:, 1:-1, 1:-1] = x  # the border stays zero: every call writes only the inside
    patches = scratch_buffer(scratch, "patches", (n, out_h, out_w, 3, 3, channels))
    for dy in range(3):
        for dx in range(3):
            patches[:, :, :, dy, dx] = padded[
                :, dy : dy + stride * (out_h - 1) + 1 : stride, dx : dx + stride * (out_w - 1) + 1 : stride
            ]
    kernel = weight.transpose(2, 3, 1, 0).reshape(9 * channels, -1)  # (dy, dx, C) rows, as the patches
    out = (patches.reshape(-1, 9 * channels) @ kernel).reshape(n, out_h, out_w, -1)
    out += bias  # (O,), or a map (H', W', O)
    return out


def scratch_buffer(scratch: dict, name: str, shape: tuple) -> np.ndarray:
    """A float32 array kept in ``scratch`` under (name, shape): zeros when first made, then as the
    last user left it."""
    key = (name, shape)
    if key not in scratch:
        scratch[key] = np.zeros(shape, np.float32)
    return scratch[key]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


class GridNetArrays:
    """`vidbw.models.gridnet.GridNet`'s forward pass (inference only) on its weights as arrays."""

    def __init__(self, weights: dict, cfg: GridNetConfig):
        self.cfg = cfg
        self.w = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}
        self._scratch: dict = {}  # per layer, see conv3x3; used by one call at a time
        self._lock = threading.Lock()
        self._film_sizes = [*cfg.widths, cfg.widths[-1]]
        # The first layer sees R, G, B and two coordinate channels (x, y). Convolution is linear, so the
        # coordinates' part, the same for every frame, is computed once: it is c1's bias map.
        g = cfg.in_size
        lin = np.linspace(-1.0, 1.0, g, dtype=np.float32)
        coords = np.stack(np.broadcast_arrays(lin[None, :], lin[:, None]), -1)[None]  # (1, g, g, 2): x, y
        first = self.w["c1.weight"]
        self._c1_rgb = np.ascontiguousarray(first[:, :3])
        self._c1_bias = conv3x3(coords, np.ascontiguousarray(first[:, 3:]), self.w["c1.bias"], 2)[0]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _conv(self, x: np.ndarray, name: str, stride: int) -> np.ndarray:
        return conv3x3(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"], stride, self._scratch.setdefault(name, {}))

    def __call__(self, rgb: np.ndarray, code: np.ndarray, adapter: dict | None = None) -> np.ndarray:
        """rgb float32 (N, h, w, 3) in [0, 1], one style code (style_dim,) for all -> grids (N, 4, D, G, G)."""
        with self._lock:  # styles share a retoucher, and a warm-up may overlap the render thread
            return self._forward(rgb, code, adapter)

    def _forward(self, rgb: np.ndarray, code: np.ndarray, adapter: dict | None) -> np.ndarray:
        cfg = self.cfg
        n, s = rgb.shape[0], cfg.in_size
        x = adaptive_avg_pool(np.asarray(rgb, np.float32), (s, s))
        film = self._linear(_relu(self._linear(np.asarray(code, np.float32)[None], "film.0")), "film.2")[0]
        if adapter is not None and adapter.get("film_b") is not None:
            film = film + adapter["film_b"]
        params = np.split(film, np.cumsum([2 * c for c in self._film_sizes])[:-1])

        def mod(t, p):  # FiLM, in place
            gamma, beta = np.split(p, 2)
            t *= 1 + gamma
            t += beta
            return _relu(t)

        x = mod(conv3x3(x, self._c1_rgb, self._c1_bias, 2, self._scratch.setdefault("c1", {})), params[0])
        x = mod(self._conv(x, "c2", 2), params[1])
        x = mod(self._conv(x, "c3", 2), params[2])
        x = adaptive_avg_pool(x, (cfg.grid, cfg.grid))
        local = self._conv(mod(self._conv(x, "l1", 1), params[3]), "l2", 1)
        around = _relu(self._conv(_relu(self._conv(x, "g1", 2)), "g2", 2))
        around = self._linear(around.mean(axis=(1, 2)), "gfc")
        features = _relu(local + around[:, None, None, :])  # (N, G, G, C)
        out = features @ self.w["head.weight"][:, :, 0, 0].T + self.w["head.bias"]
        if adapter is not None:
            out = out + features @ np.asarray(adapter["head_w"], np.float32).T + adapter["head_b"]
        d, g = cfg.depth, cfg.grid
        grids = out.transpose(0, 3, 1, 2).reshape(n, 4, d, g, g) + np.asarray(PRIOR, np.float32)[:, None, None, None]
        if adapter is not None and adapter.get("grid_b") is not None:
            grids = grids + adapter["grid_b"]  # per-style residual grid (4, D, G, G): position × luma
        return np.ascontiguousarray(grids, np.float32)


class RetoucherArrays:
    """What rendering needs of a retoucher weights file: the grid network and the subject clusters."""

    def __init__(self, tensors: dict, meta: dict):
        self.gridnet = GridNetArrays(
            {k[len("gridnet.") :]: v for k, v in tensors.items() if k.startswith("gridnet.")}, gridnet_config(meta)
        )
        self.content_mean = np.asarray(tensors["content_mean"], np.float32)
        self.content_std = np.asarray(tensors["content_std"], np.float32)
        self.centroids = np.asarray(tensors["centroids"], np.float32)

    def subject_of_features(self, features: np.ndarray) -> int:
        return nearest_subject(features, self.content_mean, self.content_std, self.centroids)


@functools.lru_cache(maxsize=4)
def load_retoucher_arrays(path: str) -> RetoucherArrays:
    """The retoucher at ``path`` for rendering, loaded once per process (one-line errors as `load_weights`)."""
    from vidbw.errors import InputError
    from vidbw.models.io import load_arrays

    tensors, meta = load_arrays(Path(path))
    hold_blas_to_one_thread()  # before the first product: building the network already makes some
    try:
        return RetoucherArrays(tensors, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"weights file {path} does not hold a vidbw retoucher: {exc.__class__.__name__}") from None
