"""How one frame becomes black and white: the Look, the grid for each frame, and slice + apply.

The grid of a frame comes from its shot: a classic style has one constant grid; a learned style
predicts grids from low-resolution copies (in batches; under temporal smoothing only for key
frames, more of them where the grid changes fast, the frames between interpolated), and those
grids are smoothed over time within the shot (never across a cut) before the full-resolution
kernel slices them.
`GridScheduler` does that bookkeeping; `FrameRenderer` does the per-pixel work (numba on CPU,
torch on CUDA). Neither knows about files, threads or the CLI.
"""

from __future__ import annotations

import bisect
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

import cv2
import numpy as np

from vidbw.errors import OptionError
from vidbw.kernels.chroma import slice_chroma
from vidbw.kernels.colour import (
    LOWRES_MAX_SIDE,
    REC709_LUMA,
    keep_luma,
    keep_picture,
    lowres_level,
    luma_output_coding,
    planes_to_small_rgb,
    rgb_matrix,
    small_size,
    store_luma_codes,
)
from vidbw.kernels.slicing import slice_apply, slice_rgb
from vidbw.models.content import content_evidence
from vidbw.styles import FilmGrain, Style, Toning, get_style, get_toning
from vidbw.temporal import check_temporal

PREDICT_BATCH = 8  # frames per grid-network call: amortises its overhead, bounds the look-ahead
# A learned B&W look predicts the grid of key frames only, the frames between get grids interpolated
# linearly. The temporal smoother lets nothing through that changes faster than KEY_STRIDE (light:
# sigma 2 frames), so predicting every frame is wasted work. Most shots change more slowly still:
# keys are first predicted every COARSE_STRIDE frames of a shot (a block's last frames wait for the
# next block's first key rather than being keys themselves), and only a gap whose two grids render
# the frame more than KEY_TOLERANCE apart (mean, levels in [0, 1]) gets its KEY_STRIDE keys too.
# See docs/SHOTS.md for how close that renders to predicting every frame. Wider coarse gaps are
# not judged safely by their ends: the grid can wobble between ends that agree.
# Colorization keeps every frame: its reference grids follow moving subjects frame by frame.
KEY_STRIDE = {"off": 1, "light": 2, "strong": 4}
COARSE_STRIDE = 4
KEY_TOLERANCE = 1.0 / 255


@dataclass(frozen=True)
class Look:
    """Everything that decides the picture: the style, and optional grain and toning."""

    style: Style
    grain: FilmGrain | None = None
    toning: Toning | None = None

    @classmethod
    def named(
        cls,
        style: str | Style = "neutral",
        grain: float = 0.0,
        grain_size: float = 1.0,
        grain_seed: int = 0,
        toning: str | None = None,
    ) -> Look:
        style_obj = get_style(style) if isinstance(style, str) else style
        grain_obj = FilmGrain(amount=grain, size=grain_size, seed=grain_seed) if grain > 0 else None
        toning_obj = get_toning(toning) if toning and toning != "none" else None
        return cls(style_obj, grain_obj, toning_obj)

    def with_style(self, style: Style) -> Look:
        return Look(style, self.grain, self.toning)


def put_grain_back(luma_out: np.ndarray, grain: np.ndarray, coding: tuple[float, float]) -> None:
    """Add the grain restoration took out (`grain`, signed luma levels) to the rendered luma codes."""
    _, scale = coding
    value = luma_out.astype(np.float32) + grain * np.float32(scale)
    store_luma_codes(value, luma_out)


def keeps_picture(look_or_style) -> bool:
    """Whether a look (or style) writes the input picture as it is (`KeepPicture`)."""
    return getattr(getattr(look_or_style, "style", look_or_style), "keeps_picture", False)


def colorizes(look_or_style) -> bool:
    """Whether a look (or style) colorizes: it keeps the luma and predicts chroma (`vidbw.colorize`)."""
    return getattr(getattr(look_or_style, "style", look_or_style), "colorizes", False)


def lowres_input(style, planes, to_rgb: np.ndarray) -> np.ndarray:
    """What a style's grid network sees: the small R'G'B' copy, or the small luma for a colorizer."""
    if colorizes(style):
        return lowres_level(planes, to_rgb, LOWRES_MAX_SIDE)
    return lowres_rgb(planes, to_rgb)


def lowres_rgb(planes, to_rgb: np.ndarray, max_side: int = LOWRES_MAX_SIDE) -> np.ndarray:
    """A small float32 (h, w, 3) R'G'B' copy of the frame for the grid network (area-averaged)."""
    height, width = planes[0].shape
    return planes_to_small_rgb(planes, to_rgb, small_size(width, height, max_side))


# --------------------------------------------------------------------------- which grid for which frame


@dataclass(frozen=True)
class ShotRender:
    """A run of frames [start, end) rendered with one look (and, for learned styles, one proxy)."""

    start: int
    end: int | None  # None: to the end of the film (its length is not always known up front)
    look: Look
    proxy: int | str | None = None  # the subject proxy a learned style uses for the whole shot


class _ProxyStyle(Protocol):
    """A style that chooses a proxy (it has ``choose_proxy``, e.g. a learned style): its grids take one."""

    def grids_for(self, lowres_rgb_batch: np.ndarray, proxy: int | str | None = None) -> np.ndarray: ...


class _FrameStyle(Protocol):
    """A colorizer (`vidbw.colorize`): its grids take the frames' numbers in the film."""

    def grids_for(self, levels: np.ndarray, frames: Sequence[int] | None = None) -> np.ndarray: ...


class RenderPlan:
    """The looks of a film, shot by shot, and how strongly grids are smoothed over time."""

    def __init__(self, shots: list[ShotRender], temporal: str = "light"):
        if not shots or shots[0].start != 0:
            raise OptionError("a render plan must start at frame 0")
        for before, after in zip(shots, shots[1:]):
            if before.end != after.start:
                raise OptionError(f"render plan shots must be contiguous (frame {before.end} vs {after.start})")
        check_temporal(temporal)
        self.shots = shots
        self.temporal = temporal
        self._starts = [s.start for s in shots]

    @classmethod
    def single(cls, look: Look, temporal: str = "light") -> RenderPlan:
        return cls([ShotRender(0, None, look)], temporal)

    @property
    def neutral_chroma(self) -> bool:
        """Whether every shot writes plain B&W: chroma planes left neutral (no toning, no colour)."""
        return all(
            shot.look.toning is None and not colorizes(shot.look) and not keeps_picture(shot.look)
            for shot in self.shots
        )

    def shot_index(self, frame_index: int) -> int:
        return bisect.bisect_right(self._starts, frame_index) - 1

    # A plan may also grow while the film renders, as its shots are found (`vidbw.shots.streaming`):
    # the last shot stays open (end None) until the next cut, and gets its proxy once it is chosen.
    # A frame reaches the GridScheduler only after its shot and proxy are in the plan.

    def cut_open_shot(self, start: int) -> None:
        """End the open last shot at `start`, and open the next one there (same look, no proxy yet)."""
        last = self.shots[-1]
        if last.end is not None or start <= last.start:
            raise ValueError(f"cannot cut the plan at frame {start} (last shot starts at {last.start}, end {last.end})")
        self.shots[-1] = replace(last, end=start)
        self.shots.append(ShotRender(start, None, last.look))
        self._starts.append(start)

    def set_open_proxy(self, proxy) -> None:
        self.shots[-1] = replace(self.shots[-1], proxy=proxy)


class GridScheduler:
    """Gives each decoded frame its grid, in decode order, with bounded look-ahead.

    Constant styles pass straight through. Learned styles are predicted a block of PREDICT_BATCH
    frames at a time and smoothed within their shot. Under temporal smoothing a block's frames after
    its last key wait for the next block's first key, so a frame waits at most two blocks plus the
    smoothing radius.
    """

    def __init__(self, plan: RenderPlan, smoother=None):
        self.plan = plan
        self.smoother = smoother  # push(index, shot, grid) -> [(index, grid)], flush() -> [...]
        self._waiting: dict[int, tuple] = {}  # frame index -> (frame, shot index)
        self._block: list = []  # frames of the block being filled, no grid predicted yet
        self._open: _KeyedBlock | None = None  # a predicted block whose last frames wait for the next key
        self._ready: deque = deque()  # (index, grid) in order, from the smoother

    def push(self, frame) -> list[tuple]:
        """Take one frame; return the (frame, look, grid) triples that are now ready, in order."""
        shot_index = self.plan.shot_index(frame.index)
        look = self.plan.shots[shot_index].look
        if look.style.is_constant:
            ready = self.drain()
            ready.append((frame, look, look.style.constant_grid()))
            return ready
        last = self._block[-1][1] if self._block else self._open.shot_index if self._open else None
        if last is not None and last != shot_index:
            self._end_shot()  # blocks and interpolations never span a cut: each shot has its own look
        self._waiting[frame.index] = (frame, shot_index)
        self._block.append((frame, shot_index))
        # Blocks are whole PREDICT_BATCH frames counted from frame 0 (cut short at cuts), whichever
        # frame decoding started from: a segment of a chunked job predicts like one pass.
        if len(self._block) >= PREDICT_BATCH or (frame.index + 1) % PREDICT_BATCH == 0:
            self._predict_block()
        return self._collect()

    def drain(self) -> list[tuple]:
        """Everything still waiting: at the end of the film, or before a constant-style shot."""
        self._end_shot()
        if self.smoother is not None:
            self._ready.extend(self.smoother.flush())
        return self._collect()

    def _predict_block(self) -> None:
        frames, self._block = self._block, []
        shot = self.plan.shots[frames[0][1]]
        stride = 1 if colorizes(shot.look.style) else KEY_STRIDE[self.plan.temporal]
        block = _KeyedBlock(frames, shot, stride)
        block.predict(range(0, len(frames), max(stride, COARSE_STRIDE) if stride > 1 else 1))
        if self._open is not None:
            self._finish(self._open, next_key=block.first_key())
        self._open = None
        if block.ends_with_key():
            self._finish(block)
        else:
            self._open = block

    def _end_shot(self) -> None:
        if self._block:
            self._predict_block()
        if self._open is not None:
            self._open.predict([len(self._open.frames) - 1])  # the shot's last frame: nothing after it to wait for
            self._finish(self._open)
            self._open = None

    def _finish(self, block: _KeyedBlock, next_key=None) -> None:
        for index, grid in block.grids(next_key):
            if self.smoother is None:
                self._ready.append((index, grid))
            else:
                self._ready.extend(self.smoother.push(index, block.shot_index, grid))

    def _collect(self) -> list[tuple]:
        out = []
        while self._ready:
            index, grid = self._ready.popleft()
            frame, shot_index = self._waiting.pop(index)
            out.append((frame, self.plan.shots[shot_index].look, grid))
        return out


class _KeyedBlock:
    """One block of a shot's frames and the grids predicted for its key frames so far."""

    def __init__(self, frames: list, shot: ShotRender, stride: int):
        self.frames = frames
        self.shot_index = frames[0][1]
        self.shot = shot
        self.stride = stride  # the finest key spacing: a wider gap is refined where its grids disagree
        self.keys: dict[int, np.ndarray] = {}  # position in the block -> predicted grid
        self.lowres: dict[int, np.ndarray] = {}

    def predict(self, positions) -> None:
        """Predict the grids of these positions, in one call of the grid network."""
        positions = [p for p in positions if p not in self.keys]
        if not positions:
            return
        style = self.shot.look.style
        for p in positions:
            frame = self.frames[p][0]
            self.lowres[p] = lowres_input(style, frame.planes, frame.to_rgb)
        batch = _stack_lowres([self.lowres[p] for p in positions])
        if self.shot.proxy is not None:  # the shot's proxy is fixed, so the look never switches inside a shot
            grids = cast(_ProxyStyle, style).grids_for(batch, proxy=self.shot.proxy)
        elif colorizes(style):  # its key frames sit at frames of the shot: the frame's number says how near
            grids = cast(_FrameStyle, style).grids_for(batch, frames=[self.frames[p][0].index for p in positions])
        else:
            grids = style.grids_for(batch)
        self.keys.update(zip(positions, grids))

    def first_key(self) -> np.ndarray:
        return self.keys[0]

    def ends_with_key(self) -> bool:
        return len(self.frames) - 1 in self.keys

    def grids(self, next_key: np.ndarray | None = None) -> list[tuple[int, np.ndarray]]:
        """(frame index, grid) for every frame of the block: the keys' own grids, linear between them.

        `next_key` is the first key of the shot's next block, the right end of this block's last gap.
        Gaps wider than the stride whose two grids disagree are refined first, in one call: a block's
        refinements depend on nothing outside it and its next key, so a chunked job predicts them alike.
        """
        keys = dict(self.keys)
        end = len(self.frames)
        if next_key is not None:
            keys[end] = next_key
        ordered = sorted(keys)
        style = self.shot.look.style
        fill = [
            p
            for before, after in zip(ordered, ordered[1:])
            if after - before > self.stride and grids_disagree(style, self.lowres[before], keys[before], keys[after])
            for p in range(before + self.stride, after, self.stride)
        ]
        if fill:
            self.predict(fill)
            keys.update((p, self.keys[p]) for p in fill)
            ordered = sorted(keys)
        grids = between_keys(ordered, [keys[k] for k in ordered])[:end]
        return [(frame.index, grid) for (frame, _), grid in zip(self.frames, grids)]


def grids_disagree(style: Style, lowres: np.ndarray, first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two key grids render a frame (its small copy, every other pixel) more than
    KEY_TOLERANCE apart on average: then the frames between them are predicted, not interpolated."""
    rgb = lowres[::2, ::2]
    renders = [slice_rgb(rgb, grid, style.tone_lut) for grid in (first, second)]
    return float(np.abs(renders[0] - renders[1]).mean()) > KEY_TOLERANCE


def between_keys(keys: list[int], key_grids: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A grid for every position 0..keys[-1]: the key's own, or linear between the keys around it."""
    grids = []
    for before, after, first, last in zip(keys, keys[1:], key_grids, key_grids[1:]):
        grids += [first + (last - first) * np.float32((p - before) / (after - before)) for p in range(before, after)]
    grids.append(key_grids[-1])
    return grids


def _stack_lowres(images: list[np.ndarray]) -> np.ndarray:
    # Frames of one film share a size, so this is a plain stack; guard against odd decoders anyway.
    shape = images[0].shape
    if any(im.shape != shape for im in images):
        images = [cv2.resize(im, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) for im in images]
    return np.stack(images).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- slice + apply


class FrameRenderer:
    """Slices a grid against one frame's planes and writes output luma codes (and toned chroma) in place.

    This is the numba CPU path; `TorchFrameRenderer` does the same maths on a torch device.
    """

    def render(
        self,
        planes,
        to_rgb,
        frame_index: int,
        look: Look,
        grid: np.ndarray,
        luma_out: np.ndarray,
        coding: tuple[float, float],
    ) -> None:
        if keeps_picture(look):
            return  # luma and chroma together, in `finish_chroma`, where the output's matrix is known
        if colorizes(look):
            keep_luma(planes, to_rgb, luma_out, coding)  # colorization never changes the luma
            return
        offset, scale = coding
        grain_args = look.grain.kernel_args(frame_index) if look.grain is not None else {}
        slice_apply(planes, to_rgb, grid, look.style.tone_lut, luma_out, offset, scale, **grain_args)

    @staticmethod
    def finish_chroma(
        look: Look,
        grid: np.ndarray,
        luma: np.ndarray,
        chroma: tuple,
        bit_depth: int,
        full_range: bool,
        matrix: str,
        planes=None,
        to_rgb: np.ndarray | None = None,
    ) -> None:
        """Fill the chroma planes: sliced from a colour grid, or from the toning; else they stay neutral.
        For `KeepPicture`, the input picture (`planes`) fills luma and chroma."""
        if keeps_picture(look):
            assert planes is not None and to_rgb is not None  # the pipeline always passes the frame's own
            keep_picture(planes, to_rgb, luma, chroma, bit_depth, full_range, matrix)
        elif colorizes(look):
            slice_chroma(luma, grid, chroma[0], chroma[1], bit_depth, full_range)
        elif look.toning is not None:
            look.toning.apply(luma, chroma[0], chroma[1], bit_depth, full_range, matrix)


class TorchFrameRenderer(FrameRenderer):
    """The same render on a torch device (CUDA): planes are uploaded and converted there."""

    def __init__(self, device: str):
        import torch

        from vidbw.kernels.slicing_torch import planes_to_rgb_torch, slice_apply_torch

        self.torch = torch
        self.device = torch.device(device)
        self._to_rgb = planes_to_rgb_torch
        self._slice = slice_apply_torch

    def render(self, planes, to_rgb, frame_index, look, grid, luma_out, coding) -> None:
        if colorizes(look) or keeps_picture(look):  # copies and a small chroma slice: the CPU does them at decode speed
            return super().render(planes, to_rgb, frame_index, look, grid, luma_out, coding)
        torch = self.torch
        tensors = [torch.from_numpy(np.ascontiguousarray(p).astype(np.float32)).to(self.device) for p in planes]
        rgb = self._to_rgb(tensors, to_rgb)[None]
        grid_t = torch.tensor(grid, dtype=torch.float32, device=self.device)[None]  # a copy: grids may be read-only
        lut = torch.from_numpy(np.array(look.style.tone_lut)).to(self.device)
        value = self._slice(rgb, grid_t, lut)[0]
        if look.grain is not None:
            tile, (ox, oy) = look.grain.for_frame(frame_index)
            th, tw = tile.shape
            rows = (torch.arange(value.shape[0], device=self.device) + oy) % th
            cols = (torch.arange(value.shape[1], device=self.device) + ox) % tw
            noise = torch.as_tensor(np.array(tile), device=self.device)[rows][:, cols]  # tiles are read-only
            value = (value + look.grain.amount * 4 * value * (1 - value) * noise).clamp(0, 1)
        offset, scale = coding
        codes = torch.round(offset + scale * value)
        if luma_out.dtype != np.float32:
            info = np.iinfo(luma_out.dtype)
            codes = codes.clamp(info.min, info.max)
        luma_out[...] = codes.cpu().numpy().astype(luma_out.dtype)


def _nvidia_driver_may_exist() -> bool:
    """False only where CUDA surely is not: Linux without the NVIDIA driver loaded. Asking torch
    instead means importing it (about 1 s of start-up) for every classic-style conversion."""
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return True
    return os.path.exists("/proc/driver/nvidia/version")


def make_renderer(device: str = "auto") -> FrameRenderer:
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise OptionError(f"unknown device '{device}' (use auto, cpu or cuda)")
    if device == "cpu" or (device == "auto" and not _nvidia_driver_may_exist()):
        return FrameRenderer()
    import torch

    if device == "auto":
        return TorchFrameRenderer("cuda") if torch.cuda.is_available() else FrameRenderer()
    if not torch.cuda.is_available():
        raise OptionError(
            "`device` cuda asked for, but this torch has no CUDA device (install a CUDA build of torch)", param="device"
        )
    return TorchFrameRenderer(device)


# --------------------------------------------------------------------------- still images


def image_grid(look: Look, planes, to_rgb) -> tuple[np.ndarray, int | None]:
    """The grid for one still picture, and the proxy a learned style chose for it (None if classic)."""
    if look.style.is_constant:
        return look.style.constant_grid(), None
    lowres = lowres_rgb(planes, to_rgb)[None]
    choose = getattr(look.style, "choose_proxy", None)
    if choose is None:
        return look.style.grids_for(lowres)[0], None
    proxy = choose(content_evidence(lowres))
    return cast(_ProxyStyle, look.style).grids_for(lowres, proxy=proxy)[0], proxy


def render_image_array(
    rgb: np.ndarray, bits: int, look: Look, renderer: FrameRenderer | None = None, explain: list[str] | None = None
) -> np.ndarray:
    """An (H, W, 3) uint8/uint16 RGB image → gray (H, W) of the same dtype, or toned RGB.

    The proxy a learned style chooses is appended to `explain` when given.
    """
    renderer = renderer or FrameRenderer()
    planes = (rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2])
    to_rgb = rgb_matrix(bits)
    grid, proxy = image_grid(look, planes, to_rgb)
    if explain is not None and proxy is not None:
        explain.append(f"proxy {proxy}")
    gray = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    renderer.render(planes, to_rgb, 0, look, grid, gray, luma_output_coding(True, bits))
    return gray if look.toning is None else toned_image(gray, bits, look.toning)


def toned_image(gray: np.ndarray, bits: int, toning: Toning) -> np.ndarray:
    """A gray image printed with a toning: (H, W, 3) RGB of the same dtype, luma unchanged."""
    top = float(2**bits - 1)
    rgb = toning.toned_rgb(gray / top, REC709_LUMA)
    return np.round(rgb * top).astype(gray.dtype)
