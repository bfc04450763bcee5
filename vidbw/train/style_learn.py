"""Few-shot style learning: fit a new style's proxies (+ a small adapter and a tone curve) from
colour/B&W pairs, with the pretrained grid network and encoder frozen.

1. Pairs are read (``DIR/color`` and ``DIR/bw``, matching stems) and brought to the grid
   network's working size (long side 256, area-averaged, as the render engine does).
2. Each colour photo gets its subject cluster from the model (nearest content centroid);
   the style's K proxies start at the mean encoder embedding of its pairs in that cluster
   (the style mean where a cluster has no pair).
3. Adam fits, through the differentiable slicing twin of the kernel: the K proxies, a
   zero-initialised residual 1×1 head of the grid network (the adapter, L2-regularised), a
   per-style offset of the FiLM parameters (``film_b``), a residual grid (4, D, 16, 16) over
   (luma bin, y, x) added to the predicted grid (``grid_b``, smoothness-regularised) and a
   monotone 33-knot tone curve.  Loss: MSE + 0.5·L1 on the sliced gray.  Cosine schedule.
4. Stage 2: the pixel model (:mod:`vidbw.models.pixel_look`) learns, pixel by pixel, what the
   fitted network's render still gets wrong on the pairs; every frame's grid is later refitted
   to it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError, OptionError, OutputError
from vidbw.kernels.colour import LOWRES_MAX_SIDE
from vidbw.metrics import psnr, ssim  # noqa: F401  (re-exported: style learning reports them)

__all__ = [
    "Pair",
    "read_pairs",
    "fit_style",
    "learn_style",
    "StyleLearned",
    "style_tensors",
    "save_style",
    "MIN_PAIRS",
    "BW_CHROMA_LIMIT",
    "psnr",
    "ssim",
    "WORK_SIDE",
    "at_work_size",
    "render_style",
    "split_pairs",
    "fit_with_holdout",
    "HoldoutFit",
]

MIN_PAIRS = 4
BW_CHROMA_LIMIT = 0.03  # mean (max - min) of R'G'B' above which a "B&W" image is colour
WORK_SIDE = LOWRES_MAX_SIDE  # the grid network's input, as the render engine's low-resolution copy
LUT_KNOTS = 33
GRID_SMOOTH = 1e-3  # weight of the squared differences of the residual grid along luma, y and x
PIXEL_STEPS_PER_STEP = 26  # stage 2 (the pixel model): 300 steps -> 7800 steps of each member
PIXEL_HIDDEN = 64
# Two MLPs trained apart and averaged: on held-out pairs the pair beats one member trained as long.
PIXEL_MEMBERS = 2
# A stage-1 step (8 pictures through the network and back) costs about as much as 17 steps of a
# pixel-model member: the progress bar counts work in member steps, so its time estimate holds
# across both stages instead of trebling during stage 1.
STAGE1_STEP_COST = 17


@dataclass
class Pair:
    stem: str
    color: np.ndarray  # float32 (H, W, 3) in [0, 1]
    bw: np.ndarray  # float32 (H, W) in [0, 1]
    color_path: Path | None = None


def _to_float(img) -> np.ndarray:
    return img.rgb.astype(np.float32) / float(2**img.bits - 1)


def read_pairs(folder: Path) -> list[Pair]:
    """Pairs from ``folder/color`` and ``folder/bw`` (one-line InputError for every defect)."""
    from vidbw.io.images import list_images, read_image

    folder = Path(folder)
    cdir, bdir = folder / "color", folder / "bw"
    for d in (cdir, bdir):
        if not d.is_dir():
            raise InputError(f"pairs folder {folder} needs color/ and bw/ subfolders; missing {d.name}/")
    colors = {p.stem: p for p in list_images(cdir)}
    bws = {p.stem: p for p in list_images(bdir)}
    only_c, only_b = sorted(set(colors) - set(bws)), sorted(set(bws) - set(colors))
    if only_c or only_b:
        parts = []
        if only_c:
            parts.append("no bw/ match for " + ", ".join(only_c[:8]) + (" …" if len(only_c) > 8 else ""))
        if only_b:
            parts.append("no color/ match for " + ", ".join(only_b[:8]) + (" …" if len(only_b) > 8 else ""))
        raise InputError(f"mismatched stems in {folder}: " + "; ".join(parts))
    if len(colors) < MIN_PAIRS:
        raise InputError(f"need at least {MIN_PAIRS} colour/B&W pairs in {folder}, found {len(colors)}")
    pairs = []
    for stem in sorted(colors):
        c = _to_float(read_image(colors[stem]))
        b_rgb = _to_float(read_image(bws[stem]))
        chroma = float((b_rgb.max(axis=2) - b_rgb.min(axis=2)).mean())
        if chroma > BW_CHROMA_LIMIT:
            raise InputError(f"B&W image is in colour (mean chroma {chroma:.3f} > {BW_CHROMA_LIMIT}): {bws[stem]}")
        b = b_rgb.mean(axis=2)
        if b.shape != c.shape[:2]:
            ar_c, ar_b = c.shape[1] / c.shape[0], b.shape[1] / b.shape[0]
            if abs(ar_c / ar_b - 1) > 0.02:
                raise InputError(
                    f"colour and B&W images of '{stem}' differ in aspect ({c.shape[1]}x{c.shape[0]} "
                    f"vs {b.shape[1]}x{b.shape[0]})"
                )
            b = cv2.resize(b, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_AREA)
        pairs.append(Pair(stem, c, np.ascontiguousarray(b, np.float32), colors[stem]))
    return pairs


def at_work_size(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The pair's colour and B&W pictures at the grid network's working size (long side WORK_SIDE)."""
    from vidbw.train.data import resize_max

    c = resize_max(pair.color, WORK_SIDE)
    b = cv2.resize(pair.bw, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_AREA)
    return c, b


def _lut_from_params(base, raw):
    import torch
    import torch.nn.functional as F

    knots = base + torch.cat([torch.zeros(1), torch.cumsum(F.softplus(raw), 0)])
    return F.interpolate(knots.view(1, 1, -1), size=1024, mode="linear", align_corners=True).view(-1)


def fit_style(
    pairs: list[Pair],
    steps: int = 300,
    batch: int = 8,
    seed: int = 0,
    progress: Callable[[int, int, dict], None] | None = None,
    model=None,
    params: dict | None = None,
    fit_extra: bool = True,
    pixel_steps: int | None = None,
) -> dict:
    """Fit and return the style tensors: proxies, adapter.head_w/head_b, tone_lut (torch tensors).

    ``params`` continues a previous fit (as returned in ``result["params"]``).  ``fit_extra``
    (default) also fits the version-2 terms: a per-style offset of the FiLM parameters
    (``adapter.film_b``) and a smooth residual grid over (luma bin, y, x) (``adapter.grid_b``);
    ``False`` gives a version-1 style (proxies, 1×1 head, tone curve only).  ``pixel_steps``
    (default ``PIXEL_STEPS_PER_STEP · steps`` with ``fit_extra``, else 0) trains each of the
    PIXEL_MEMBERS MLPs of the version-3 pixel model (``pixel.*``) for that many steps after the main
    fit; 0 leaves it out.
    """
    import torch
    import torch.nn.functional as F

    from vidbw.kernels.slicing_torch import slice_apply_torch
    from vidbw.models.gridnet import GridNet
    from vidbw.models.retoucher import load_default

    model = model or load_default()
    if pixel_steps is None:
        pixel_steps = PIXEL_STEPS_PER_STEP * steps if fit_extra else 0
    members = len(params["pixel"]["w2"]) if params is not None and "pixel" in params else PIXEL_MEMBERS
    total = STAGE1_STEP_COST * steps + members * pixel_steps  # the progress bar's units: see STAGE1_STEP_COST
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        work = [at_work_size(p) for p in pairs]
        subjects = [model.subject_of(c) for c, _ in work]
        k = model.n_subjects
        if params is None:
            with torch.no_grad():
                embs = torch.cat(
                    [
                        model.encoder(torch.from_numpy(b)[None, None], torch.from_numpy(c).permute(2, 0, 1)[None])
                        for c, b in work
                    ]
                )
            mean = F.normalize(embs.mean(0), dim=0)
            proxies = []
            for j in range(k):
                sel = [i for i, s in enumerate(subjects) if s == j]
                proxies.append(F.normalize(embs[sel].mean(0), dim=0) if sel else mean)
            adapter = GridNet.new_adapter(model.cfg)
            params = {
                "proxies": torch.stack(proxies).clone(),
                "adapter": adapter,
                "lut_base": torch.zeros(1),
                "lut_raw": torch.full((LUT_KNOTS - 1,), float(np.log(np.expm1(1.0 / (LUT_KNOTS - 1))))),
            }
        ad = params["adapter"]
        if fit_extra:  # style-file version 2: a FiLM offset and a residual (position × luma) grid
            ad.setdefault("film_b", torch.zeros(2 * sum(model.gridnet._film_sizes)))
            ad.setdefault("grid_b", torch.zeros(4, model.cfg.depth, model.cfg.grid, model.cfg.grid))
        extra = [ad[k] for k in ("film_b", "grid_b") if k in ad]
        leaves = [params["proxies"], ad["head_w"], ad["head_b"], *extra, params["lut_base"], params["lut_raw"]]
        for t in leaves:
            t.requires_grad_(True)
        alr = 1e-2
        groups = [
            {"params": [params["proxies"]], "lr": 0.03},
            {"params": [ad["head_w"], ad["head_b"]], "lr": alr},
            {"params": [params["lut_base"], params["lut_raw"]], "lr": 1e-2},
        ]
        if "film_b" in ad:
            groups.append({"params": [ad["film_b"]], "lr": 1e-2})
        if "grid_b" in ad:
            groups.append({"params": [ad["grid_b"]], "lr": 1e-2})
        opt = torch.optim.Adam(groups)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps), eta_min=1e-4)
        tensors = [(torch.from_numpy(c).permute(2, 0, 1).contiguous(), torch.from_numpy(b)) for c, b in work]

        def render(rgb, subject, lut):
            """The style as fitted so far, sliced on one (3, h, w) picture: gray (h, w)."""
            code = F.normalize(params["proxies"][subject], dim=0)[None]
            return slice_apply_torch(rgb[None], model.gridnet(rgb[None], code, params["adapter"]), lut)[0]

        t0 = time.perf_counter()
        last = 0.0
        for step in range(steps):
            idx = rng.choice(len(work), size=min(batch, len(work)), replace=False)
            loss: float | torch.Tensor = 0.0  # a tensor once the first picture's terms are added
            mse_total = 0.0
            # Pictures differ in size, so each goes through the network on its own.
            lut = _lut_from_params(params["lut_base"], params["lut_raw"])
            for i in idx:
                rgb, tgt = tensors[i]
                if rng.random() < 0.5:
                    rgb, tgt = rgb.flip(-1), tgt.flip(-1)
                pred = render(rgb, subjects[i], lut)
                mse = F.mse_loss(pred, tgt)
                loss = loss + mse + 0.5 * F.l1_loss(pred, tgt)
                mse_total += float(mse.detach())
            loss = loss / len(idx) + 1e-3 * ad["head_w"].pow(2).sum()
            if "grid_b" in ad:  # smooth in space and luma, small
                gb = ad["grid_b"]
                loss = (
                    loss
                    + GRID_SMOOTH
                    * (
                        (gb[:, 1:] - gb[:, :-1]).pow(2).mean()
                        + (gb[:, :, 1:] - gb[:, :, :-1]).pow(2).mean()
                        + (gb[..., 1:] - gb[..., :-1]).pow(2).mean()
                    )
                    + 1e-4 * gb.pow(2).mean()
                )
            assert isinstance(loss, torch.Tensor)  # the adapter's penalty above makes it one
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            last = float(10 * np.log10(len(idx) / max(mse_total, 1e-10)))
            if progress:
                progress(STAGE1_STEP_COST * (step + 1), total, {"fit PSNR": last})
        for t in leaves:
            t.requires_grad_(False)
        with torch.no_grad():
            lut = _lut_from_params(params["lut_base"], params["lut_raw"]).clamp(0, 1)
            lut = torch.cummax(lut, 0).values
        pixel = {}
        if pixel_steps:
            # Stage 2: the pixel model learns what the network's render still gets wrong on these pairs.
            from vidbw.models.pixel_look import train_pixel_model

            with torch.no_grad():
                samples = []
                for (c, b), (rgb, _), subject in zip(work, tensors, subjects):
                    samples.append((c, render(rgb, subject, lut).numpy(), b))
            report = (lambda done, info: progress(STAGE1_STEP_COST * steps + done, total, info)) if progress else None
            params["pixel"] = train_pixel_model(
                samples,
                pixel_steps,
                hidden=PIXEL_HIDDEN,
                seed=seed,
                members=members,
                model=params.get("pixel"),
                progress=report,
            )
            pixel = {f"pixel.{k}": v for k, v in params["pixel"].items()}
        return {
            "proxies": params["proxies"].detach().clone(),
            "adapter.head_w": params["adapter"]["head_w"].detach().clone(),
            "adapter.head_b": params["adapter"]["head_b"].detach().clone(),
            **{f"adapter.{k}": ad[k].detach().clone() for k in ("film_b", "grid_b") if k in ad},
            "tone_lut": lut.detach().clone().float(),
            **pixel,
            "params": params,
            "seconds": time.perf_counter() - t0,
            "train_psnr": last,
            "subjects": subjects,
        }
    finally:
        torch.set_num_threads(threads)


def style_tensors(result: dict) -> dict:
    return {
        k: v
        for k, v in result.items()
        if k in ("proxies", "adapter.head_w", "adapter.head_b", "adapter.film_b", "adapter.grid_b", "tone_lut")
        or k.startswith("pixel.")
    }


def _version(result: dict) -> int:
    """3 with a pixel model, 2 with the FiLM offset / residual grid, else 1 (older readers ignore
    the terms they do not know, and render the style without them)."""
    if "pixel.w0" in result:
        return 3
    return 2 if ("adapter.film_b" in result or "adapter.grid_b" in result) else 1


def make_style(name: str, description: str, result: dict, meta: dict | None = None):
    """A LearnedStyle from an in-memory fit (no file)."""
    from vidbw.models.retoucher import MODEL_ID
    from vidbw.styles.learned import LearnedStyle

    m = {
        "name": name,
        "description": description,
        "kind": "learned",
        "base_model": MODEL_ID,
        "style_version": _version(result),
        **(meta or {}),
    }
    return LearnedStyle(name, description, None, m, style_tensors(result))


def save_style(path: Path, name: str, description: str, result: dict, meta: dict | None = None) -> Path:
    from vidbw.models.io import save_weights
    from vidbw.models.retoucher import MODEL_ID

    m = {
        "name": name,
        "description": description[:70],
        "kind": "learned",
        "base_model": MODEL_ID,
        "style_version": _version(result),
        **(meta or {}),
    }
    save_weights(Path(path), style_tensors(result), m)
    return Path(path)


def check_name(name: str) -> str:
    key = "-".join(name.strip().lower().replace("_", " ").split())
    if not key or not all(ch.isalnum() or ch == "-" for ch in key):
        raise OptionError(f"style name '{name}' must be letters, digits and hyphens")
    return key


def render_style(style, color: np.ndarray) -> np.ndarray:
    """Render ``style`` on a float (H, W, 3) photo with the real kernel; -> float gray (H, W)."""
    from vidbw.render import Look, render_image_array

    rgb16 = np.round(np.clip(color, 0, 1) * 65535).astype(np.uint16)
    return render_image_array(rgb16, 16, Look(style)).astype(np.float64) / 65535.0


def split_pairs(pairs: list[Pair], train_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    if not 0 < train_fraction < 1:
        raise OptionError("`train_fraction` must be between 0 and 1", param="train_fraction")
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_train = int(round(train_fraction * len(pairs)))
    n_train = min(max(n_train, MIN_PAIRS), len(pairs) - 1)
    if n_train < MIN_PAIRS or len(pairs) - n_train < 1:
        raise OptionError(f"need at least {MIN_PAIRS + 1} pairs to split into training and test sets")
    return [pairs[i] for i in order[:n_train]], [pairs[i] for i in order[n_train:]]


Stages = Callable[[str], AbstractContextManager]  # label -> a block yielding that stage's progress(done, total, fields)


@dataclass
class HoldoutFit:
    """A style fitted by `fit_with_holdout`: the final fit, and what the held-out pairs said of the first."""

    result: dict  # the final fit (`fit_style`'s result)
    first_seconds: float  # time of the first fit (on the pairs not held out)
    held_out: int = 0  # pairs scored; 0: none held out
    psnr: float | None = None  # mean over the held-out pairs, dB (2 decimals)
    ssim: float | None = None  # (4 decimals)


def fit_with_holdout(
    pairs: list[Pair],
    name: str,
    description: str,
    steps: int = 300,
    holdout: float = 0.2,
    seed: int = 0,
    stages: Stages | None = None,
) -> HoldoutFit:
    """Fit a style on all but a `holdout` fraction of `pairs` (with more than 4 pairs), score that fit
    on the pairs held out, then refine it on all pairs (a third of the steps, warm-started), so the
    style saved has seen every pair and its score is still an honest one."""
    stage = stages or (lambda label: nullcontext(None))
    fit_pairs, held = split_pairs(pairs, 1 - holdout, seed) if holdout > 0 and len(pairs) > 4 else (pairs, [])
    with stage(f"learning {name}") as progress:
        result = fit_style(fit_pairs, steps=steps, seed=seed, progress=progress)
    fit = HoldoutFit(result, result["seconds"])
    if not held:
        return fit
    style = make_style(name, description, result)
    scores = [(psnr(o, p.bw), ssim(o, p.bw)) for p in held for o in [render_style(style, p.color)]]
    fit.held_out = len(held)
    fit.psnr = round(float(np.mean([s[0] for s in scores])), 2)
    fit.ssim = round(float(np.mean([s[1] for s in scores])), 4)
    with stage(f"refining {name} on all pairs") as progress:
        fit.result = fit_style(
            pairs, steps=max(10, steps // 3), seed=seed + 1, progress=progress, params=result["params"]
        )
    return fit


@dataclass
class StyleLearned:
    """What `learn_style` wrote."""

    name: str
    path: Path
    description: str
    n_pairs: int
    steps: int
    fit_seconds: float
    held_out: int = 0  # pairs scored after the first fit (0: none held out)
    heldout_psnr: float | None = None
    heldout_ssim: float | None = None
    by_name: bool = True  # in the user style folder, so `style=name` finds it; else use its path

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "description": self.description,
            "n_pairs": self.n_pairs,
            "steps": self.steps,
            "fit_seconds": self.fit_seconds,
            "held_out": self.held_out,
            "heldout_psnr": self.heldout_psnr,
            "heldout_ssim": self.heldout_ssim,
            "by_name": self.by_name,
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=1)


def learn_style(
    name: str,
    pairs: str | os.PathLike,
    output: str | os.PathLike | None = None,
    description: str | None = None,
    steps: int = 300,
    holdout: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    stages=None,
) -> StyleLearned:
    """Learn style `name` from the colour/B&W pairs in folder `pairs` (``color/``, ``bw/``) and save it
    (default: the user style folder, where `get_style(name)` finds it).

    A `holdout` fraction of the pairs is kept out of the first fit to score it (PSNR/SSIM); the style
    saved is then refined on all pairs (`fit_with_holdout`). `stages(label)` returns
    the block each fitting stage runs in, yielding its progress callback (or None).
    """
    # Imported here: vidbw.eval.style builds on this module's fitting.
    from vidbw.styles.learned import STYLE_SUFFIX, user_style_dir

    key = check_name(name)
    path = Path(output) if output is not None else user_style_dir() / f"{key}{STYLE_SUFFIX}"
    if path.suffix != STYLE_SUFFIX:
        raise OptionError(f"style file must end in {STYLE_SUFFIX}: {path}", param="output")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists (use `overwrite`)", mentions=("overwrite",))
    pairs_dir = Path(pairs)
    found = read_pairs(pairs_dir)
    description = description or f"learned from {len(found)} pairs in {pairs_dir.name}"
    if len(description) > 70:
        raise OptionError("`description` is longer than 70 characters", param="description")
    fit = fit_with_holdout(found, key, description, steps, holdout, seed, stages)
    meta = {"n_pairs": len(found), "fit_seconds": round(fit.first_seconds, 1), "steps": steps}
    if fit.held_out:
        assert fit.psnr is not None and fit.ssim is not None  # scored whenever pairs were held out
        meta["heldout_psnr"] = fit.psnr
        meta["heldout_ssim"] = fit.ssim
    save_style(path, key, description, fit.result, meta)
    # Only the user style folder is searched by name; a style written elsewhere is used by its path.
    by_name = path.resolve().parent == user_style_dir().resolve()
    return StyleLearned(
        key, path, description, len(found), steps, meta["fit_seconds"], fit.held_out, fit.psnr, fit.ssim, by_name
    )
