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
from vidbw.resources import models_dir
from vidbw.styles.base import TONE_LUT_SIZE, Style

__all__ = [
    "LearnedStyle",
    "load_style_file",
    "learned_styles_provider",
    "user_style_dir",
    "shipped_style_dir",
    "STYLE_SUFFIX",
]

STYLE_SUFFIX = ".safetensors"


def user_style_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidbw" / "styles"


def shipped_style_dir() -> Path:
    return models_dir() / "styles"


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

    def __init__(
        self,
        name: str,
        description: str,
        path: Path | None = None,
        meta: dict | None = None,
        tensors: dict | None = None,
    ):
        self.name = name
        self.description = description
        self.path = Path(path) if path else None
        self.meta = dict(meta or {})
        self._tensors = tensors  # as given by a fit (torch tensors); None: read from `path` when needed
        self._arrays: dict | None = None
        self._lock = threading.Lock()  # the lazy loads below: each happens once, by one thread
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
        """The style's terms as float32 numpy arrays (read from its file, or as trained in memory)."""
        if self._arrays is None:
            with self._lock:
                if self._arrays is None:
                    from vidbw.models.io import float32_arrays, load_arrays

                    if self._tensors is not None:
                        tensors = self._tensors
                    else:
                        assert self.path is not None  # a style holds either its trained tensors or its file
                        tensors = load_arrays(self.path)[0]
                    if "proxies" not in tensors:
                        raise InputError(f"style file {self.path} holds no proxies")
                    self._arrays = float32_arrays(tensors)
        return self._arrays

    @property
    def model(self):
        """The base networks for rendering (numpy, `vidbw.models.inference`); loaded once per process."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from vidbw.models.inference import default_model_path, load_retoucher_arrays

                    base = self.meta.get("base_model_path")
                    path = Path(base) if base and Path(base).is_file() else default_model_path()
                    self._model = load_retoucher_arrays(str(path))
        return self._model

    def warm_up(self) -> None:
        """Load the networks and the style's terms now, for a background thread, and run one tiny
        prediction (numba's kernels load from their cache at the first call).

        At the first shot they would stall the render thread while the cores idle; loaded beside the
        first frames' decoding they are ready when the first grid is wanted. A failure here is left
        for the render thread's own load to report.
        """
        with self._warm_up_lock:  # a second warm-up waits for the first, then has nothing to do
            if self._warmed:
                return
            try:
                self._loaded()
                _ = self.model  # the property loads the networks
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
        lut = np.linspace(0.0, 1.0, TONE_LUT_SIZE, dtype=np.float32) if t is None else t.copy()
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
        from vidbw.models.inference import unit

        grids = self.model.gridnet(batch, unit(self._loaded()["proxies"][proxy]), self.adapter())
        pixel_model = self.pixel_model()
        if pixel_model is not None:
            from vidbw.models.pixel_look import refit_grids

            grids = refit_grids(pixel_model, self.tone_lut, batch, grids)
        return grids


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


def load_style_file(path: str | Path) -> LearnedStyle:
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
