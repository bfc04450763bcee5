"""Learned styles: proxies (+ an optional adapter and tone curve) that condition the grid network.

A style file is a safetensors file (see :mod:`vidbw.models.io`) holding

* ``proxies``  float32 (K, style_dim): one style code per subject cluster of the base model;
* ``adapter.head_w`` / ``adapter.head_b`` (optional): a residual 1×1 head of the grid network;
* ``tone_lut`` float32 (1024,) (optional; identity if absent): the tone curve after slicing;
* ``adapter.film_b`` / ``adapter.grid_b`` (optional, version 2): a FiLM offset and a residual grid;
* ``pixel.w0`` … ``pixel.b2`` (optional, version 3): the pixel model that every frame's grid is
  refitted to (:mod:`vidbw.models.pixel_look`);

and JSON metadata ``{"name", "description", "base_model", "kind": "learned", ...}``.

Shipped styles live in ``models/styles/``; user styles in ``$XDG_DATA_HOME/vidbw/styles``
(default ``~/.local/share/vidbw/styles``); ``get_style`` also accepts a path to a file.
Listing styles reads only the metadata (no torch import); the networks load on first use.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path

import numpy as np

from vidbw.errors import InputError
from vidbw.models.content import content_evidence
from vidbw.styles.base import TONE_LUT_SIZE, Style

__all__ = ["LearnedStyle", "load_style_file", "learned_styles_provider", "user_style_dir", "shipped_style_dir",
           "STYLE_SUFFIX"]

STYLE_SUFFIX = ".safetensors"


def user_style_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidbw" / "styles"


def shipped_style_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "models" / "styles"


class LearnedStyle(Style):
    """A style predicted per frame by the grid network, conditioned on one of the style's proxies.

    API for the render engine:

    * ``choose_proxy(evidence) -> int``: the proxy (subject cluster) for a shot, from the content
      evidence of some of its low-res frames (float32 (k, CONTENT_DIM), see
      `vidbw.models.content.content_evidence`); their mean decides, so it is deterministic and
      order-free. Evidence rather than frames, so the analysis pass can keep it for every frame.
    * ``grids_for(lowres_batch, proxy=None) -> (N, 4, D, 16, 16) float32``: grids for a batch;
      ``proxy=None`` chooses one proxy for the whole batch with ``choose_proxy``.  Pass the
      shot's proxy explicitly so the style never switches inside a shot.
    * ``tone_lut``: float32 (1024,), the curve applied after slicing.
    """

    kind = "learned"

    def __init__(self, name: str, description: str, path: Path | None = None, meta: dict | None = None,
                 tensors: dict | None = None):
        self.name = name
        self.description = description
        self.path = Path(path) if path else None
        self.meta = dict(meta or {})
        self._tensors = tensors
        self._lock = threading.Lock()  # the lazy loads below: each happens once, by one thread
        self._inference_lock = threading.Lock()
        self._warm_up_lock = threading.Lock()
        self._model = None
        self._warmed = False

    def __repr__(self) -> str:
        return f"LearnedStyle({self.name!r}, path={str(self.path) if self.path else None!r})"

    @property
    def is_constant(self) -> bool:
        return False

    # ------------------------------------------------------------------ lazy loading
    def _loaded(self) -> dict:
        if self._tensors is None:
            with self._lock:
                if self._tensors is None:
                    from vidbw.models.io import load_weights

                    tensors, _ = load_weights(self.path)
                    if "proxies" not in tensors:
                        raise InputError(f"style file {self.path} holds no proxies")
                    self._tensors = tensors
        return self._tensors

    @property
    def model(self):
        """The base networks (torch is imported here, at first use); loaded once, by one thread."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from vidbw.models.retoucher import load_default

                    base = self.meta.get("base_model_path")
                    self._model = load_default(Path(base) if base and Path(base).is_file() else None)
        return self._model

    def warm_up(self) -> None:
        """Import torch and load the networks and the style's tensors now, for a background thread.

        At the first shot they would stall the render thread for about a second while the cores
        idle (docs/RETOUCHER.md); loaded beside the first frames' decoding they are ready when the
        first grid is wanted. A failure here is left for the render thread's own load to report.
        """
        with self._warm_up_lock:  # a second warm-up waits for the first, then has nothing to do
            if self._warmed:
                return
            try:
                self._loaded()
                self.model
                # torch's first call sets itself up (~0.3 s); later calls of any batch or size take ~10 ms.
                # Not through grids_for: what wraps that (counting predictions, say) sees only real frames.
                self._predict(np.full((1, 72, 128, 3), 0.5, np.float32), proxy=0)
                self._warmed = True
            except Exception:  # noqa: BLE001 (reported, once, where the render thread loads it)
                pass

    @property
    def n_proxies(self) -> int:
        return int(self._loaded()["proxies"].shape[0])

    @functools.cached_property
    def tone_lut(self) -> np.ndarray:  # type: ignore[override]
        t = self._loaded().get("tone_lut")
        lut = np.linspace(0.0, 1.0, TONE_LUT_SIZE, dtype=np.float32) if t is None else t.numpy().astype(np.float32)
        lut = np.maximum.accumulate(np.clip(lut, 0.0, 1.0))
        lut.setflags(write=False)
        return lut

    def adapter(self):
        t = self._loaded()
        if "adapter.head_w" in t:
            a = {"head_w": t["adapter.head_w"], "head_b": t["adapter.head_b"]}
            for k in ("film_b", "grid_b"):  # optional (style-file version 2)
                if f"adapter.{k}" in t:
                    a[k] = t[f"adapter.{k}"]
            return a
        return None

    def pixel_model(self) -> dict | None:
        """The style's pixel model (style-file version 3, see `vidbw.models.pixel_look`), or None."""
        from vidbw.models.pixel_look import PIXEL_TERMS

        t = self._loaded()
        return {k: t[f"pixel.{k}"] for k in PIXEL_TERMS} if "pixel.w0" in t else None

    # ------------------------------------------------------------------ engine API
    def choose_proxy(self, evidence: np.ndarray) -> int:
        subject = self.model.subject_of_features(evidence)
        return int(subject % self.n_proxies)

    def grids_for(self, lowres_rgb_batch: np.ndarray, proxy: int | None = None) -> np.ndarray:
        batch = np.asarray(lowres_rgb_batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"lowres batch must be (N, h, w, 3), got {batch.shape}")
        if proxy is None:
            proxy = self.choose_proxy(content_evidence(batch))
        if not 0 <= proxy < self.n_proxies:
            raise ValueError(f"style {self.name!r} has proxies 0..{self.n_proxies - 1}, got {proxy}")
        return self._predict(batch, proxy)

    def _predict(self, batch: np.ndarray, proxy: int) -> np.ndarray:
        """The networks' grids for a checked float32 (N, h, w, 3) batch and a valid proxy."""
        import torch
        import torch.nn.functional as F

        code = F.normalize(self._loaded()["proxies"][proxy].float(), dim=0)
        # One call at a time (the warm-up's and the render thread's): each sets and restores torch's
        # thread count, and a call that overlapped another could run with the other's.
        with self._inference_lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # tiny layers: one thread is fastest on a shared CPU (see benchmarks/bench_gridnet.py)
            try:
                with torch.inference_mode():
                    rgb = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
                    grids = self.model.gridnet(rgb, code[None].expand(len(batch), -1), self.adapter())
                    pixel_model = self.pixel_model()
                    if pixel_model is not None:
                        from vidbw.models.pixel_look import refit_grids

                        grids = refit_grids(pixel_model, self.tone_lut, batch, grids)
            finally:
                torch.set_num_threads(threads)
        return np.ascontiguousarray(grids.numpy(), dtype=np.float32)


@functools.lru_cache(maxsize=64)
def _style_from_file(path: str, mtime: float) -> LearnedStyle:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("vidbw", "{}"))
    except Exception as exc:
        raise InputError(f"not a readable vidbw style file: {path} ({exc.__class__.__name__})") from None
    if meta.get("kind") != "learned" or not meta.get("name"):
        raise InputError(f"not a vidbw style file (no learned-style metadata): {path}")
    return LearnedStyle(meta["name"], meta.get("description", "learned style")[:70], Path(path), meta)


def load_style_file(path: Path) -> LearnedStyle:
    """The learned style stored at ``path``; one-line ``InputError`` if it is missing or not a style."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"style file not found: {path}")
    return _style_from_file(str(path.resolve()), path.stat().st_mtime)


def _scan(folder: Path) -> list[LearnedStyle]:
    if not folder.is_dir():
        return []
    out = []
    for f in sorted(folder.glob("*" + STYLE_SUFFIX)):
        try:
            out.append(load_style_file(f))
        except InputError:
            continue  # a stray or broken file must not hide the other styles
    return out


def learned_styles_provider() -> list[LearnedStyle]:
    """Shipped learned styles (``models/styles``), then the user's (``~/.local/share/vidbw/styles``)."""
    return _scan(shipped_style_dir()) + _scan(user_style_dir())


def looks_like_style_path(name: str) -> bool:
    return isinstance(name, (str, os.PathLike)) and (str(name).endswith(STYLE_SUFFIX) or os.sep in str(name))
