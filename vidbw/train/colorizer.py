"""Training the colorizer (:mod:`vidbw.models.colorizer`): colour grids from luma, and correspondence
features, on colour photographs and video frames.

**Data.** Photo files (any image suffix vidbw reads; folders are searched recursively) and video
files.  Photos are kept at ≤ 320 px; videos are sampled with decord (random access; PyAV when
decord is missing) at random positions: single frames for colour, and frame pairs a few frames
apart with their DIS optical flow (forward–backward checked) for correspondence.  Near-gray
images (chroma RMS < 0.01) are skipped: they teach nothing but gray.

**Grid head.** Each step draws ``batch`` crops (random area 30–100 %, aspect jitter, flips,
long side ``size``), converts them to BT.709 Y'CbCr and degrades the luma the way old film is
degraded (gamma, contrast, brightness, blur, grain).  The network sees the degraded luma; the
predicted grid is sliced against that same luma with :func:`vidbw.kernels.chroma.slice_chroma_torch`
(as the renderer slices against the film's luma) and compared with the true Cb, Cr:

* a robust loss: smooth-L1 (Huber, β = 0.02) on Cb, Cr;
* an anti-sepia hinge: per image, ``relu(sat_target · rms(true chroma) − rms(predicted chroma))``
  (``sat_target`` = 0.5).  A pure regression loss under uncertainty shrinks colours toward the
  washed-out average; the hinge acts only while a picture's predicted colour is weaker than half
  its true strength, so the network commits to its best hue instead of fading it, while the
  Huber term keeps hues and amounts honest.  Because the network cannot know which pictures
  are the colourful ones, an asymmetric hinge makes it overshoot its target on average (with a
  target of 0.65 the training crops came out at 0.93 of the truth and held-out clips at up to
  1.3× the truth's colourfulness), hence a target of one half.  The hinge is on RMS, not on the
  spatial spread of chroma: a spread hinge makes the network paint saturated blotches.

**Embedding head.** Each step draws ``pairs`` pairs of views with a known correspondence: two
random similarity warps (scale, rotation, shift) of one photo or frame, or of two frames a few
frames apart composed with their DIS flow; each view's luma is jittered independently.  InfoNCE
over positions: for query cells of view A, the logits are the cosine similarities (temperature
``tau``) to every cell of view B, the positive is the cell where the query's scene point lands.

Deterministic for a ``seed``: data sampling is seeded by ``seed``, each step's batch and
augmentation by ``(seed, step)``, and ``--resume`` reloads weights, Adam moments and the step, so
an interrupted run continues the same optimisation.  Checkpoints: ``OUT/colorizer.safetensors``,
``OUT/optimizer.safetensors``, ``OUT/state.json`` (step, elapsed time, loss history, command).
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidbw.errors import InputError
from vidbw.kernels.chroma import slice_chroma_torch
from vidbw.kernels.flow import DISFlow
from vidbw.kernels.ycbcr import CB_SCALE, CR_SCALE, KB, KG, KR, rgb_to_ycbcr709
from vidbw.models.colorizer import WEIGHTS_NAME, Colorizer, ColorizerConfig
from vidbw.train.checkpoint import resume_from, save_checkpoint
from vidbw.train.data import VIDEO_SUFFIXES, resize_max

__all__ = ["ColorizerTrainConfig", "ColorData", "collect_files", "load_color_data", "train_colorizer"]

PHOTO_SIDE = 320
FRAME_SIDE = 256
GRAY_RMS = 0.01


@dataclass
class ColorizerTrainConfig:
    steps: int = 4000
    batch: int = 12  # colour crops per step
    pairs: int = 6  # correspondence view pairs per step
    size: int = 128  # long side of the colour crops (the loss is computed at this resolution)
    view: tuple = (96, 128)  # correspondence views (h, w)
    lr: float = 2e-3
    warmup: int = 100
    sat_weight: float = 1.0
    sat_target: float = 0.5  # the hinge asks for at least this fraction of the true chroma strength
    colour_weight: float = 20.0
    nce_weight: float = 0.5
    tau: float = 0.07
    queries: int = 128
    frames_per_video: int = 48
    pairs_per_video: int = 12
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "cpu"
    model: dict = field(default_factory=dict)  # ColorizerConfig overrides


# --------------------------------------------------------------------------- data


@dataclass
class ColorData:
    photos: list  # float32 (h, w, 3) R'G'B'
    frames: list  # float32 (h, w, 3) R'G'B' (video frames)
    pairs: list  # (luma_a, luma_b, flow a->b (h, w, 2), valid (h, w) bool)
    files: list  # str paths used
    skipped_gray: list

    def summary(self) -> dict:
        return {
            "photos": len(self.photos),
            "frames": len(self.frames),
            "frame_pairs": len(self.pairs),
            "files": self.files,
            "skipped_gray": self.skipped_gray,
        }


def collect_files(paths, exclude=()) -> tuple[list[Path], list[Path]]:
    """(image files, video files) under ``paths`` (folders searched recursively), minus ``exclude``
    (fnmatch patterns matched against the file name and the full path)."""
    from vidbw.io.probe import IMAGE_SUFFIXES

    def excluded(p: Path) -> bool:
        return any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(str(p), pat) for pat in exclude)

    images, videos = [], []
    for root in map(Path, paths):
        if root.is_dir():
            candidates = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif root.is_file():
            candidates = [root]
        else:
            raise InputError(f"no such training data: {root}")
        for p in candidates:
            suffix = p.suffix.lower()
            if excluded(p):
                continue
            if suffix in VIDEO_SUFFIXES:
                videos.append(p)
            elif suffix in IMAGE_SUFFIXES:
                images.append(p)
            elif root.is_file():
                raise InputError(f"not an image or video file: {root}")
    return images, videos


def _chroma_rms(rgb: np.ndarray) -> float:
    _, cb, cr = rgb_to_ycbcr709(rgb)
    return float(np.sqrt(np.mean(cb * cb + cr * cr)))


def _read_photo(path: Path) -> np.ndarray:
    from vidbw.io.images import read_image

    img = read_image(path)
    return resize_max(img.rgb.astype(np.float32) / float(2**img.bits - 1), PHOTO_SIDE)


def _decode_frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """Frames (float32 RGB, ≤ FRAME_SIDE) at the given indices."""
    want = sorted(set(indices))
    try:
        import decord

        vr = decord.VideoReader(str(path))
        frames = vr.get_batch(want).asnumpy()
        return {i: resize_max(f.astype(np.float32) / 255.0, FRAME_SIDE) for i, f in zip(want, frames)}
    except ImportError:
        pass
    import av

    out = {}
    wanted = set(want)
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i in wanted:
                out[i] = resize_max(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0, FRAME_SIDE)
            if i >= want[-1]:
                break
    return out


def _frame_count(path: Path) -> int:
    try:
        import decord

        return len(decord.VideoReader(str(path)))
    except ImportError:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return stream.frames or sum(1 for _ in container.decode(stream))


def _luma_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb_to_ycbcr709(rgb)[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)


def load_color_data(
    paths,
    exclude=(),
    frames_per_video: int = 48,
    pairs_per_video: int = 12,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> ColorData:
    images, videos = collect_files(paths, exclude)
    if not images and not videos:
        raise InputError("no training images or videos found in " + ", ".join(map(str, paths)))
    rng = np.random.default_rng(seed)
    flow_of = DISFlow()
    data = ColorData([], [], [], [], [])
    for p in images:
        rgb = _read_photo(p)
        if _chroma_rms(rgb) < GRAY_RMS:
            data.skipped_gray.append(str(p))
            continue
        data.photos.append(rgb)
        data.files.append(str(p))
    for p in videos:
        n = _frame_count(p)
        if n < 2:
            continue
        singles = sorted(rng.choice(n, size=min(frames_per_video, n), replace=False).tolist())
        gaps = rng.integers(3, 11, size=pairs_per_video)
        starts = [int(rng.integers(0, max(1, n - int(g)))) for g in gaps]
        pair_idx = [(s, min(s + int(g), n - 1)) for s, g in zip(starts, gaps)]
        frames = _decode_frames(p, singles + [i for pr in pair_idx for i in pr])
        kept = [frames[i] for i in singles if _chroma_rms(frames[i]) >= GRAY_RMS]
        if not kept:
            data.skipped_gray.append(str(p))
            continue
        data.frames.extend(kept)
        for a, b in pair_idx:
            if a == b:
                continue
            la, lb = _luma_u8(frames[a]), _luma_u8(frames[b])
            flow = flow_of(la, lb)
            valid = flow.consistent()
            if valid.mean() > 0.3:
                data.pairs.append((la.astype(np.float32) / 255.0, lb.astype(np.float32) / 255.0, flow.forward, valid))
        data.files.append(str(p))
        if log:
            log(f"{p.name}: {len(kept)} frames, {len(pair_idx)} pairs")
    if not data.photos and not data.frames:
        raise InputError("all training images are gray (B&W); the colorizer needs colour pictures")
    return data


# --------------------------------------------------------------------------- augmentation


def _crop_resize(rgb: np.ndarray, rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """Random crop (30–100 % of the area, aspect near hw's), random flip, resized to hw."""
    h, w = rgb.shape[:2]
    th, tw = hw
    aspect = tw / th * math.exp(rng.uniform(-0.15, 0.15))
    area = rng.uniform(0.3, 1.0) * h * w
    cw, ch = math.sqrt(area * aspect), math.sqrt(area / aspect)
    shrink = min(1.0, w / cw, h / ch)
    cw, ch = max(8, int(cw * shrink)), max(8, int(ch * shrink))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if cw >= tw else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (tw, th), interpolation=interp)


def jitter_luma(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Old-film degradations of a luma image: gamma, contrast, brightness, blur, grain."""
    out = np.clip(level, 0.0, 1.0) ** np.float32(math.exp(rng.normal(0, 0.2)))
    mean = float(out.mean())
    out = (out - mean) * np.float32(rng.uniform(0.75, 1.25)) + np.float32(mean + rng.normal(0, 0.04))
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.2)))
    if rng.random() < 0.4:
        noise = rng.normal(0, rng.uniform(0.005, 0.035), out.shape).astype(np.float32)
        if rng.random() < 0.5:  # clumped grain
            noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * np.float32(1.8)
        out = out + noise
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _similarity(scale: float, angle: float, src_centre, dst_centre) -> np.ndarray:
    """2×3 matrix: x -> scale·R(angle)·(x − src_centre) + dst_centre (OpenCV pixel-centre coordinates)."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    a = np.array([[c, -s], [s, c]], np.float64)
    t = np.asarray(dst_centre, np.float64) - a @ np.asarray(src_centre, np.float64)
    return np.hstack([a, t[:, None]])


def _warp(level: np.ndarray, m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.8:  # anti-alias before a downscaling warp
        level = cv2.GaussianBlur(level, (0, 0), 0.45 * (1.0 / scale - 1.0) + 1e-3)
    return cv2.warpAffine(level, m, (hw[1], hw[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_view_pair(
    level_a: np.ndarray,
    level_b: np.ndarray,
    flow: np.ndarray | None,
    valid: np.ndarray | None,
    rng: np.random.Generator,
    hw: tuple[int, int],
    stride: int = 4,
    queries: int = 128,
):
    """Two warped views and the known correspondence of view A's feature cells in view B.

    Returns (view_a, view_b, query cell indices in A, target cell indices in B) — flat indices
    into the ``ceil(h/stride) × ceil(w/stride)`` feature grids; at most ``queries`` pairs.
    """
    h, w = level_a.shape
    vh, vw = hw
    frac = rng.uniform(0.45, 0.9)  # the view window covers this fraction of the source (tighter side)
    s0 = max(vh / h, vw / w) / frac
    win_h, win_w = vh / s0, vw / s0
    centre = np.array([rng.uniform(win_w / 2, w - win_w / 2) - 0.5, rng.uniform(win_h / 2, h - win_h / 2) - 0.5])
    view_centre = ((vw - 1) / 2, (vh - 1) / 2)
    mats = []
    for _ in range(2):
        scale = s0 * math.exp(rng.uniform(-0.2, 0.2))
        angle = math.radians(rng.uniform(-8, 8))
        shift = rng.normal(0, 0.08, 2) * (win_w, win_h)
        mats.append(_similarity(scale, angle, centre + shift, view_centre))
    ma, mb = mats
    view_a = jitter_luma(_warp(level_a, ma, hw), rng)
    view_b = jitter_luma(_warp(level_b, mb, hw), rng)
    gh, gw = -(-vh // stride), -(-vw // stride)
    yy, xx = np.mgrid[:gh, :gw]
    pts = np.stack([xx.ravel() * stride + (stride - 1) / 2, yy.ravel() * stride + (stride - 1) / 2], 1)
    inv_a = cv2.invertAffineTransform(ma)
    src = pts @ inv_a[:, :2].T + inv_a[:, 2]
    ok = (src[:, 0] >= 0) & (src[:, 0] <= w - 1) & (src[:, 1] >= 0) & (src[:, 1] <= h - 1)
    if flow is not None:
        assert valid is not None  # a flow comes with its validity mask
        xi = np.clip(np.round(src[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(src[:, 1]).astype(int), 0, h - 1)
        ok &= valid[yi, xi]
        src = src + flow[yi, xi]
    dst = src @ mb[:, :2].T + mb[:, 2]
    cx = np.floor((dst[:, 0] + 0.5) / stride).astype(int)
    cy = np.floor((dst[:, 1] + 0.5) / stride).astype(int)
    ok &= (cx >= 0) & (cx < gw) & (cy >= 0) & (cy < gh)
    q = np.flatnonzero(ok)
    if len(q) > queries:
        q = np.sort(rng.choice(q, size=queries, replace=False))
    return view_a, view_b, q, cy[q] * gw + cx[q]


# --------------------------------------------------------------------------- batches


def colour_batch(data: ColorData, rng: np.random.Generator, batch: int, hw: tuple[int, int]):
    """(luma (B, 1, h, w) degraded, chroma (B, 2, h, w) true) as float32 arrays."""
    lumas, chromas = [], []
    for _ in range(batch):
        pool = data.photos if (not data.frames or (data.photos and rng.random() < 0.5)) else data.frames
        rgb = _crop_resize(pool[int(rng.integers(len(pool)))], rng, hw)
        y, cb, cr = rgb_to_ycbcr709(rgb)
        lumas.append(jitter_luma(y, rng))
        chromas.append(np.stack([cb, cr]))
    return np.stack(lumas)[:, None], np.stack(chromas)


def pair_batch(data: ColorData, rng: np.random.Generator, n: int, hw: tuple[int, int], queries: int):
    views_a: list[np.ndarray] = []
    views_b: list[np.ndarray] = []
    qs: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    stills = data.photos + data.frames
    while len(views_a) < n:
        if data.pairs and rng.random() < 0.5:
            la, lb, flow, valid = data.pairs[int(rng.integers(len(data.pairs)))]
        else:
            la = rgb_to_ycbcr709(stills[int(rng.integers(len(stills)))])[0]
            lb, flow, valid = la, None, None
        if min(la.shape) < 16:
            continue
        va, vb, q, t = make_view_pair(la, lb, flow, valid, rng, hw, queries=queries)
        if len(q) < 8:
            continue
        views_a.append(va)
        views_b.append(vb)
        qs.append(q)
        ts.append(t)
    return np.stack(views_a)[:, None], np.stack(views_b)[:, None], qs, ts


# --------------------------------------------------------------------------- losses


def rgb_mse_from_chroma_error(d: torch.Tensor) -> torch.Tensor:
    """d (N, 2, h, w) = Cb, Cr errors (luma exact) -> per-image MSE in R'G'B' (unclipped), (N,)."""
    dr = CR_SCALE * d[:, 1]
    db = CB_SCALE * d[:, 0]
    dg = -(KR * dr + KB * db) / KG
    return ((dr * dr + dg * dg + db * db) / 3).mean(dim=(1, 2))


def colour_losses(pred: torch.Tensor, true: torch.Tensor, sat_target: float) -> tuple[torch.Tensor, torch.Tensor]:
    rec = F.smooth_l1_loss(pred, true, beta=0.02)
    return rec, F.relu(sat_target * chroma_strength(true) - chroma_strength(pred)).mean()


def chroma_strength(c: torch.Tensor) -> torch.Tensor:
    """Per image (N,): the RMS chroma sqrt(mean(Cb² + Cr²)) of (N, 2, h, w)."""
    return c.pow(2).mean(dim=(1, 2, 3)).add(1e-8).sqrt()


def info_nce(fa: torch.Tensor, fb: torch.Tensor, qs, ts, tau: float) -> tuple[torch.Tensor, float]:
    """Mean InfoNCE over the pairs' query cells, and the top-1 accuracy."""
    losses, hits, total = [], 0, 0
    for a, b, q, t in zip(fa, fb, qs, ts):
        qv = a.flatten(1)[:, torch.as_tensor(q)].T  # (Q, F)
        logits = qv @ b.flatten(1) / tau  # (Q, HW)
        target = torch.as_tensor(t, device=logits.device)
        losses.append(F.cross_entropy(logits, target))
        hits += int((logits.argmax(1) == target).sum())
        total += len(q)
    return torch.stack(losses).mean(), hits / max(total, 1)


# --------------------------------------------------------------------------- schedule and loop


def _lr(cfg: ColorizerTrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


# --------------------------------------------------------------------------- loop

ASPECTS = [(96, 128), (128, 96), (72, 128), (128, 128), (80, 128)]


def train_colorizer(
    data: list,
    out: Path,
    cfg: ColorizerTrainConfig,
    resume: bool = False,
    exclude=(),
    progress: Callable[[int, int, dict], None] | None = None,
    command: str = "",
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train (or, with ``resume``, continue) the colorizer into ``out``; returns the training state."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # tiny layers: one thread is fastest on a shared CPU (see retoucher)
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    color_data = load_color_data(data, exclude, cfg.frames_per_video, cfg.pairs_per_video, cfg.seed, log=log)
    load_s = time.perf_counter() - t0

    torch.manual_seed(cfg.seed)
    model = Colorizer(ColorizerConfig(**cfg.model) if cfg.model else ColorizerConfig())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state: dict[str, Any] = {"step": 0, "elapsed_s": 0.0, "load_s": round(load_s, 1), "history": []}
    if resume:
        state = resume_from(out, WEIGHTS_NAME, model, opt) or state
    model.to(device).train()
    cfg_meta = {k: v for k, v in asdict(cfg).items() if k != "device"}
    meta = {
        "train": {
            "data": [str(d) for d in data],
            "exclude": list(exclude),
            **color_data.summary(),
            "config": cfg_meta,
            "command": command,
        }
    }

    def checkpoint():
        save_checkpoint(out, WEIGHTS_NAME, model, opt, state, meta, device)

    keys = ("loss", "l1", "sat_ratio", "db_vs_gray", "nce", "acc")
    run = dict.fromkeys(keys, 0.0) | {"n": 0}
    t_last = time.perf_counter()
    while state["step"] < cfg.steps:
        step = state["step"]
        rng = np.random.default_rng([cfg.seed, step])
        hw = ASPECTS[int(rng.integers(len(ASPECTS)))]
        hw = (hw[0] * cfg.size // 128, hw[1] * cfg.size // 128)
        lum, chroma = colour_batch(color_data, rng, cfg.batch, hw)
        va, vb, qs, ts = pair_batch(color_data, rng, cfg.pairs, tuple(cfg.view), cfg.queries)
        lum_t = torch.from_numpy(lum).to(device)
        true = torch.from_numpy(chroma).to(device)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)

        pred = slice_chroma_torch(lum_t, model(lum_t))
        rec, sat = colour_losses(pred, true, cfg.sat_target)
        fa = model.embed(torch.from_numpy(va).to(device))
        fb = model.embed(torch.from_numpy(vb).to(device))
        nce, acc = info_nce(fa, fb, qs, ts, cfg.tau)
        loss = cfg.colour_weight * (rec + cfg.sat_weight * sat) + cfg.nce_weight * nce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

        with torch.no_grad():
            mse = rgb_mse_from_chroma_error(pred - true).clamp(min=1e-10)
            mse_gray = rgb_mse_from_chroma_error(true).clamp(min=1e-10)
            db = float((10 * torch.log10(mse_gray / mse)).mean())
            ratio = float((chroma_strength(pred) / chroma_strength(true).clamp(min=1e-4)).mean())
        state["step"] = step + 1
        now = time.perf_counter()
        state["elapsed_s"] += now - t_last
        t_last = now
        for k, v in zip(keys, (float(loss.detach()), float(rec.detach()), ratio, db, float(nce.detach()), acc)):
            run[k] += v
        run["n"] += 1
        if progress:
            progress(
                state["step"],
                cfg.steps,
                {
                    "dB>gray": run["db_vs_gray"] / run["n"],
                    "sat": run["sat_ratio"] / run["n"],
                    "nce": run["nce"] / run["n"],
                },
            )
        if state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.steps:
            state["history"].append(
                {
                    "step": state["step"],
                    "elapsed_s": round(state["elapsed_s"], 1),
                    **{k: round(run[k] / max(run["n"], 1), 4) for k in keys},
                }
            )
            run = dict.fromkeys(keys, 0.0) | {"n": 0}
            checkpoint()
    return state
