"""Temporal flicker of a conversion: the warping error of Lai et al. (2018), "Learning Blind Video
Temporal Consistency", read against the same look held still, and the mapping flicker of the look.

**Warping error.** For every pair of consecutive frames (t, t+1) inside a shot:

1. optical flow is computed on the **source** luma with OpenCV DIS (medium preset): forward
   f = flow(t -> t+1) and backward b = flow(t+1 -> t);
2. a pixel x is occluded when the forward-backward check fails,
   |f(x) + b(x + f(x))|² > 0.01 (|f(x)|² + |b(x + f(x))|²) + 0.5, or x + f(x) leaves the frame;
3. the error is the mean, over non-occluded pixels (and channels), of (O_t(x) - O_{t+1}(x + f(x)))²,
   with O_{t+1} warped back to t by bilinear `cv2.remap`.

Pairs that cross a cut are skipped; the pair errors are averaged. The output's error is read as a
ratio to the same measure on two references that cannot flicker:

* **the same look held still** (`ratio_held_still`, the headline): per shot, the output's best
  global colour transform of the source, applied to every source frame of the shot. It is the
  least-squares affine map from the source's (R', G', B', 1) to each output channel over all pixels of
  the shot (a channel mix for a B&W output, a 3×4 matrix for a colour one), followed per channel by
  one monotone tone curve fitted over the whole shot from the mixed source to the output (32 bins,
  least squares, pool-adjacent-violators). It has the look's global mix and contrast and is one
  fixed function of the source pixel for the whole shot, so it scores the source's own noise and
  flow residue as the look would, and no flicker. ≈ 1 for every classic style;
* **the source's Rec.709 luma** (`ratio_rec709`): ≈ 1 for `neutral`, but any look with more
  mid-tone contrast or another channel mix reads above 1 without flickering (a secondary figure).

**Mapping flicker** isolates the look from the footage. Frames are scaled to at most MAPPING_WIDTH
px wide and cut into BLOCK×BLOCK blocks. In every block the look's local transfer function is fitted
twice: at frame t from (S_t(x), O_t(x)) and at the same content in frame t+1 from
(S_{t+1}(x + f(x)), O_{t+1}(x + f(x))), x over the block's non-occluded pixels (the block carried by
the source's DIS flow at that size). The fit is affine, O ≈ S·w + c (w: 3 weights per output
channel), ridge-regularised towards w = 0 by RIDGE (in squared code levels) times the pixel count,
so a flat block, where the weights are not determined, takes its mean. Both fits are evaluated on
frame t's source pixels; the mapping flicker is the RMS of their difference in 8-bit codes, over
the pixels of every block with at least half its pixels visible, of every pair within shots. It is
reported with its **floor**, the same measure with the source's Rec.709 luma as the output (a
fixed linear function: what the estimator reads on this footage with no change of mapping at all),
the ratio to that floor, and the same measure on the held-still reference (a fixed function with
the look's curvature: above the floor when the look's tone curve is steep or bent).

**Brightness flicker index** (`vidbw.eval.brightness`): the RMS, in 8-bit
codes, of each frame's mean luma about the 9-frame running median of its shot; for output and source.

Both films are decoded with PyAV at a reduced width (480 px by default), three times: the shots'
colour transforms, their tone curves, then the flow and every error.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.kernels.flow import DISFlow, Flow
from vidbw.metrics import finite_or_none

__all__ = [
    "BLOCK",
    "FLICKER_WIDTH",
    "MAPPING_WIDTH",
    "RIDGE",
    "TONE_BINS",
    "ColourFlicker",
    "FlickerReport",
    "HeldStill",
    "MappingFlicker",
    "PairErrors",
    "PairFlow",
    "ToneCurve",
    "ToneCurveFit",
    "fit_held_still",
    "fit_shot_mixes",
    "fit_tone_curve",
    "measure_colour_flicker",
    "measure_flicker",
    "measure_flicker_frames",
    "measure_flicker_frames_many",
    "measure_flicker_many",
    "warping_errors",
]

FLICKER_WIDTH = 480
# Luma bins of the held-still reference's curves: as fine as the learned styles' own tone curve
# (33 knots) and far finer than their grids' 8 luma bins, and coarser (8 codes of 8-bit) than the
# code-level staircase of an 8-bit output, which is quantisation, not tonal response.
TONE_BINS = 32
MAPPING_WIDTH = 320  # frames are measured for mapping flicker at most this wide
BLOCK = 16  # px: the blocks whose local transfer function is fitted
RIDGE = (2.0 / 255.0) ** 2  # a block whose source varies less than ~2 codes has its weights pulled towards 0


@dataclass
class FlickerReport:
    """`vidbw eval flicker`: the numbers of one output (see the module doc). Errors are mean squared
    differences of values in [0, 1]; mapping flicker and brightness indices are in 8-bit codes."""

    pairs: int  # frame pairs measured
    skipped_at_cuts: int  # pairs that cross a cut (not measured)
    frames: int
    warp_error_output: float
    warp_error_held_still: float  # the same look held still: per shot one colour transform and tone curve
    warp_error_rec709: float  # the source's Rec.709 luma
    mapping_flicker: float  # RMS change of the look's local transfer function along the flow, codes
    mapping_floor: float  # the same with the source's Rec.709 luma as the output
    mapping_held_still: float  # the same on the held-still reference
    brightness_flicker_output: float  # brightness flicker index, codes
    brightness_flicker_source: float
    colour: bool = False  # the output was measured in R'G'B' (a colorization), else as luma
    transforms: list[list[list[float]]] = field(default_factory=list)  # per shot, per output channel: wR, wG, wB, c
    size: tuple[int, int] = (0, 0)
    mapping_size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio_held_still(self) -> float:
        """Warping error of the output over that of the same look held still (1.0: no flicker)."""
        return _ratio(self.warp_error_output, self.warp_error_held_still)

    @property
    def ratio_rec709(self) -> float:
        """Warping error of the output over that of the source's Rec.709 luma."""
        return _ratio(self.warp_error_output, self.warp_error_rec709)

    @property
    def mapping_ratio(self) -> float:
        """Mapping flicker over its Rec.709 floor."""
        return _ratio(self.mapping_flicker, self.mapping_floor)

    @property
    def mapping_ratio_held_still(self) -> float:
        """Mapping flicker over that of the look held still (the estimator's floor for the look's curve)."""
        return _ratio(self.mapping_flicker, self.mapping_held_still)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratio_held_still"] = self.ratio_held_still
        data["ratio_rec709"] = self.ratio_rec709
        data["mapping_ratio"] = self.mapping_ratio
        data["mapping_ratio_held_still"] = self.mapping_ratio_held_still
        return finite_or_none(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def lines(self) -> list[str]:
        w, h = self.size
        mw, mh = self.mapping_size
        what = "R'G'B'" if self.colour else "luma"
        transform = "3x4 colour transform and per-channel tone curves" if self.colour else "channel mix and tone curve"
        return [
            f"held-still ratio {self.ratio_held_still:.3f}  (warping error of the output {what} "
            f"{self.warp_error_output:.6f} / the look held still, one {transform} per shot, "
            f"{self.warp_error_held_still:.6f}; {self.pairs} frame pairs, {self.skipped_at_cuts} skipped at cuts, "
            f"{w}x{h})",
            f"mapping flicker {self.mapping_flicker:.3f} codes  (floor {self.mapping_floor:.3f} on the source's "
            f"Rec.709 luma: ratio {self.mapping_ratio:.3f}; the look held still {self.mapping_held_still:.3f}: ratio "
            f"{self.mapping_ratio_held_still:.3f}; "
            f"{BLOCK}x{BLOCK} blocks at {mw}x{mh})",
            f"Rec.709 ratio {self.ratio_rec709:.3f}  (output / the source's Rec.709 luma {self.warp_error_rec709:.6f})",
            f"brightness flicker index {self.brightness_flicker_output:.3f} codes  "
            f"(source {self.brightness_flicker_source:.3f})",
        ]


ColourFlicker = FlickerReport  # the report of a colour output (`colour` True) is the same report


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == 0 else float("inf")


@dataclass
class PairFlow:
    """Where each pixel of frame t lands in frame t+1, and which pixels can be trusted."""

    flow: Flow
    valid: np.ndarray  # bool (h, w): not occluded and inside the frame

    def warp(self, frame: np.ndarray) -> np.ndarray:
        """Frame t+1 sampled at x + f(x): frame t+1 warped back to t (channels kept)."""
        warped = self.flow.warp(frame)
        return warped.reshape(frame.shape) if warped.ndim < frame.ndim else warped

    def error(self, frame_t: np.ndarray, frame_t1: np.ndarray) -> float:
        if not self.valid.any():
            return float("nan")
        diff = frame_t - self.warp(frame_t1)
        return float(np.mean(np.square(diff[self.valid], dtype=np.float64)))


class FlowEstimator:
    """The flow of a pair of luma frames (float in [0, 1] or uint8) for the warping error."""

    def __init__(self):
        self._flow = DISFlow()

    def pair(self, luma_t: np.ndarray, luma_t1: np.ndarray) -> PairFlow:
        flow = self._flow(_to_u8(luma_t), _to_u8(luma_t1))
        return PairFlow(flow, flow.consistent())


def _to_u8(luma: np.ndarray) -> np.ndarray:
    if luma.dtype == np.uint8:
        return luma
    return np.clip(np.rint(luma * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- tone curves


@dataclass(frozen=True)
class ToneCurve:
    """A monotone (non-decreasing) piecewise-linear curve through knots (x, y), extended linearly
    beyond the end knots with the end segments' slopes and clipped to [0, 1]."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x, y = self.x, self.y
        if len(x) == 1:
            return np.full(values.shape, y[0], np.float32)
        out = np.interp(values, x, y)
        below, above = values < x[0], values > x[-1]
        out[below] = y[0] + (y[1] - y[0]) / (x[1] - x[0]) * (values[below] - x[0])
        out[above] = y[-1] + (y[-1] - y[-2]) / (x[-1] - x[-2]) * (values[above] - x[-1])
        return np.clip(out, 0.0, 1.0).astype(np.float32)


class ToneCurveFit:
    """Accumulates (source, output) pixels, frame by frame; `curve()` is their least-squares monotone
    curve output ≈ T(source).

    Pixels are binned by source value (`bins` equal bins over [0, 1]; values outside go to the end
    bins); each bin is represented by its mean point (mean source, mean output), so a curve that the
    data follow exactly (a straight line, say) is recovered exactly, not shifted to the bins' centres;
    pool-adjacent-violators makes the bin means non-decreasing (weighted by pixel count, pooled points
    at their pooled means), and the curve is piecewise linear through them."""

    def __init__(self, bins: int = TONE_BINS):
        self.bins = bins
        self.count = np.zeros(bins)
        self.sum_x = np.zeros(bins)
        self.sum_y = np.zeros(bins)

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        x = source.ravel()
        index = np.clip((x * self.bins).astype(np.intp), 0, self.bins - 1)
        self.count += np.bincount(index, minlength=self.bins)
        self.sum_x += np.bincount(index, weights=x, minlength=self.bins)
        self.sum_y += np.bincount(index, weights=output.ravel(), minlength=self.bins)

    def curve(self) -> ToneCurve:
        used = self.count > 0
        if not used.any():
            return ToneCurve(np.zeros(1), np.zeros(1))
        xs, ys, ws = [], [], []  # pooled blocks as sums, so pooling keeps exact means
        for c, sx, sy in zip(self.count[used], self.sum_x[used], self.sum_y[used]):
            xs.append(sx)
            ys.append(sy)
            ws.append(c)
            while len(ws) > 1 and ys[-2] * ws[-1] > ys[-1] * ws[-2]:
                sx2, sy2, c2 = xs.pop(), ys.pop(), ws.pop()
                xs[-1] += sx2
                ys[-1] += sy2
                ws[-1] += c2
        w = np.asarray(ws)
        x_knots, y_knots = np.asarray(xs) / w, np.asarray(ys) / w
        # pooling can leave two blocks at (almost) one mean source value; keep the x strictly increasing
        keep = np.concatenate([[True], np.diff(x_knots) > 1e-9])
        return ToneCurve(x_knots[keep], y_knots[keep])


def fit_tone_curve(sources: Sequence[np.ndarray], outputs: Sequence[np.ndarray], bins: int = TONE_BINS) -> ToneCurve:
    """The least-squares monotone curve output ≈ T(source) over all pixels of the given frames
    (`ToneCurveFit`)."""
    fit = ToneCurveFit(bins)
    for src, out in zip(sources, outputs):
        fit.add(src, out)
    return fit.curve()


# --------------------------------------------------------------------------- the look held still


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    """Float32 (h, w, 3) R'G'B' from R'G'B' or luma (a gray source: R' = G' = B')."""
    frame = frame.astype(np.float32, copy=False)
    return frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)


def _as_channels(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Float32 (h, w, C) of the source's size from luma (h, w) or R'G'B' (h, w, 3)."""
    frame = _match_size(frame.astype(np.float32, copy=False), shape)
    return frame if frame.ndim == 3 else frame[..., None]


def fit_shot_mixes(
    source_rgb: Iterable[np.ndarray],
    outputs: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> list[dict[int, np.ndarray]]:
    """Per output, the least-squares affine map from the source's (R', G', B', 1) to each output
    channel over every pixel of every shot: {shot's first frame: (4, C) array}, C = 1 for a luma
    output, 3 for R'G'B'. Shots start at 0 and at each cut. A gray source (R' = G' = B') has many
    maps; the smallest is taken."""
    cut_set = set(int(c) for c in cuts)
    normal: dict[int, np.ndarray] = {}  # shot start -> AᵀA (4, 4), shared by the outputs
    moments: dict[int, list[np.ndarray]] = {}  # shot start -> Aᵀy (4, C) per output
    start = 0
    streams: Iterator[tuple] = zip(source_rgb, *outputs)
    if max_frames is not None:
        streams = itertools.islice(streams, max_frames)
    for t, (src, *outs) in enumerate(streams):
        rgb = _as_rgb(src)
        if t in cut_set:
            start = t
        a = np.empty((rgb.shape[0] * rgb.shape[1], 4))
        a[:, :3] = rgb.reshape(-1, 3)
        a[:, 3] = 1.0
        normal[start] = normal.get(start, 0) + a.T @ a
        ys = [_as_channels(o, rgb.shape).reshape(a.shape[0], -1).astype(np.float64) for o in outs]
        sums = moments.setdefault(start, [np.zeros((4, y.shape[1])) for y in ys])
        for k, y in enumerate(ys):
            sums[k] += a.T @ y
    return [
        {start: np.linalg.lstsq(ata, moments[start][k], rcond=None)[0] for start, ata in normal.items()}
        for k in range(len(outputs))
    ]


@dataclass
class HeldStill:
    """The same look held still, for one output: per shot an affine colour transform (4, C) and
    one tone curve per output channel, applied to every source frame of the shot."""

    transforms: dict[int, np.ndarray]  # shot start -> (4, C)
    curves: dict[int, list[ToneCurve]]  # shot start -> C curves

    def _shot(self, t: int) -> int:
        starts = sorted(self.transforms)
        return starts[bisect.bisect_right(starts, t) - 1]

    def mixed(self, t: int, rgb: np.ndarray) -> np.ndarray:
        """The source frame through its shot's affine transform: (h, w, C) float32."""
        m = self.transforms[self._shot(t)].astype(np.float32)
        return rgb @ m[:3] + m[3]

    def __call__(self, t: int, rgb: np.ndarray) -> np.ndarray:
        mixed = self.mixed(t, rgb)
        curves = self.curves[self._shot(t)]
        return np.stack([curve(mixed[..., c]) for c, curve in enumerate(curves)], axis=-1)


def fit_held_still(
    open_source: Callable[[], Iterator[np.ndarray]],
    open_outputs: Sequence[Callable[[], Iterator[np.ndarray]]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> list[HeldStill]:
    """The held-still reference of every output: the shots' transforms (one pass over the films),
    then their tone curves (a second pass)."""
    cuts = sorted(set(int(c) for c in cuts))
    transforms = fit_shot_mixes(open_source(), [o() for o in open_outputs], cuts, max_frames)
    starts = sorted(transforms[0]) if transforms else []
    fits: list[dict[int, list[ToneCurveFit]]] = [{} for _ in open_outputs]
    partial = [HeldStill(m, {}) for m in transforms]
    streams: Iterator[tuple] = zip(open_source(), *(o() for o in open_outputs))
    for t, (src, *outs) in enumerate(itertools.islice(streams, max_frames)):
        rgb = _as_rgb(src)
        start = starts[bisect.bisect_right(starts, t) - 1]
        for k, out in enumerate(outs):
            mixed = partial[k].mixed(t, rgb)
            y = _as_channels(out, rgb.shape)
            shot_fits = fits[k].setdefault(start, [ToneCurveFit() for _ in range(y.shape[2])])
            for c, fit in enumerate(shot_fits):
                fit.add(mixed[..., c], y[..., c])
    return [
        HeldStill(m, {start: [fit.curve() for fit in fits[k][start]] for start in fits[k]})
        for k, m in enumerate(transforms)
    ]


# --------------------------------------------------------------------------- mapping flicker


def _blocks(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(h, w, C) -> (rows·cols, BLOCK², C): the image's whole blocks, cropped at the right and bottom."""
    c = image.shape[2]
    cropped = image[: rows * BLOCK, : cols * BLOCK]
    return cropped.reshape(rows, BLOCK, cols, BLOCK, c).transpose(0, 2, 1, 3, 4).reshape(rows * cols, BLOCK * BLOCK, c)


def _block_fits(src: np.ndarray, out: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block, the ridge-regularised affine fit out ≈ src·w + c over the pixels of weight 1:
    src (n, P, 3), out (n, P, C), weight (n, P) -> w (n, 3, C), c (n, C)."""
    count = np.maximum(weight.sum(axis=1), 1.0)
    wsrc = src * weight[..., None]
    mean_s = wsrc.sum(axis=1) / count[:, None]
    mean_o = (out * weight[..., None]).sum(axis=1) / count[:, None]
    sc = src - mean_s[:, None]
    oc = out - mean_o[:, None]
    sxx = np.einsum("npi,npj,np->nij", sc, sc, weight)
    sxo = np.einsum("npi,npc,np->nic", sc, oc, weight)
    sxx += (RIDGE * count)[:, None, None] * np.eye(3)
    weights = np.linalg.solve(sxx, sxo)
    offset = mean_o - np.einsum("ni,nic->nc", mean_s, weights)
    return weights, offset


class MappingFlicker:
    """Accumulates the mapping flicker of several outputs (and references) over frame pairs."""

    def __init__(self, count: int):
        self.sums = np.zeros(count)
        self.pixels = np.zeros(count)

    def add(self, pair: PairFlow, src_t: np.ndarray, src_t1: np.ndarray, outs_t, outs_t1) -> None:
        """One pair at the mapping size: the source R'G'B' frames and each output's (h, w, C) frames."""
        h, w = src_t.shape[:2]
        rows, cols = h // BLOCK, w // BLOCK
        if rows == 0 or cols == 0:
            return
        weight = _blocks(pair.valid[..., None].astype(np.float64), rows, cols)[..., 0]
        keep = weight.sum(axis=1) >= BLOCK * BLOCK / 2
        if not keep.any():
            return
        weight = weight[keep]
        s_t = _blocks(src_t.astype(np.float64), rows, cols)[keep]
        s_t1 = _blocks(pair.warp(src_t1).astype(np.float64), rows, cols)[keep]
        design = np.concatenate([s_t, np.ones(s_t.shape[:2] + (1,))], axis=2)  # (n, P, 4)
        for k, (o_t, o_t1) in enumerate(zip(outs_t, outs_t1)):
            w_t, c_t = _block_fits(s_t, _blocks(o_t.astype(np.float64), rows, cols)[keep], weight)
            w_t1, c_t1 = _block_fits(s_t1, _blocks(pair.warp(o_t1).astype(np.float64), rows, cols)[keep], weight)
            delta = np.concatenate([w_t - w_t1, (c_t - c_t1)[:, None]], axis=1)  # (n, 4, C)
            diff = np.einsum("npi,nic->npc", design, delta)
            self.sums[k] += float((np.square(diff).sum(axis=2) * weight).sum()) / diff.shape[2]
            self.pixels[k] += float(weight.sum())

    def rms_codes(self) -> list[float]:
        return [255.0 * float(np.sqrt(s / n)) if n else 0.0 for s, n in zip(self.sums, self.pixels)]


def mapping_size(width: int, height: int) -> tuple[int, int]:
    """The size frames are measured at for mapping flicker: at most MAPPING_WIDTH wide."""
    if width <= MAPPING_WIDTH:
        return width, height
    return MAPPING_WIDTH, max(1, round(height * MAPPING_WIDTH / width))


# --------------------------------------------------------------------------- warping errors


@dataclass
class PairErrors:
    """What `warping_errors` measured: the warping error of every measured pair, per output."""

    errors: list[list[float]]
    frames: int
    skipped: int


def warping_errors(
    source_luma: Iterable[np.ndarray],
    outputs: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> PairErrors:
    """The per-pair warping errors of several outputs against one source, sharing the flow. Each
    output yields float32 frames in [0, 1] of the source's size (luma, or channels last)."""
    cut_set = set(int(c) for c in cuts)
    flow = FlowEstimator()
    errors: list[list[float]] = [[] for _ in outputs]
    previous: tuple | None = None
    frames = skipped = 0
    streams: Iterator[tuple] = zip(source_luma, *outputs)
    for t, (src, *rest) in enumerate(itertools.islice(streams, max_frames)):
        frames += 1
        outs = [_match_size(o, src.shape) for o in rest]
        if previous is not None:
            if t in cut_set:
                skipped += 1
            else:
                _add_pair_errors(flow.pair(previous[0], src), previous[1], outs, errors)
        previous = (src, outs)
    return PairErrors(errors, frames, skipped)


def _add_pair_errors(pair: PairFlow, before: Sequence[np.ndarray], after: Sequence[np.ndarray], errors) -> None:
    """Append each output's warping error over one frame pair (skipped where no pixel is trusted)."""
    for k, (a, b) in enumerate(zip(before, after)):
        e = pair.error(a, b)
        if np.isfinite(e):
            errors[k].append(e)


def _match_size(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if frame.shape[:2] == shape[:2]:
        return frame
    resized = cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return resized.reshape(resized.shape[:2] + frame.shape[2:])


def _reports(
    open_source: Callable[[], Iterator[np.ndarray]],
    open_outputs: Sequence[Callable[[], Iterator[np.ndarray]]],
    cuts: Iterable[int],
    max_frames: int | None,
) -> list[FlickerReport]:
    """Every number of every output, from films that can be opened (iterated) three times: the
    held-still references (two passes), then the flow, the errors and the mapping flicker."""
    from vidbw.eval.brightness import brightness_flicker_index
    from vidbw.shots.analysis import rec709_luma

    cuts = sorted(set(int(c) for c in cuts))
    cut_set = set(cuts)
    held = fit_held_still(open_source, open_outputs, cuts, max_frames)
    n = len(open_outputs)
    flow, small_flow = FlowEstimator(), FlowEstimator()
    mapping = MappingFlicker(2 * n + 1)  # outputs, their held-still references, the Rec.709 floor
    errors: list[list[float]] = [[] for _ in range(2 * n + 1)]  # the same order
    means: list[list[float]] = [[] for _ in range(n + 1)]  # mean luma per frame: outputs, source
    previous: tuple | None = None
    frames = skipped = 0
    colour = False
    size = small_size = (0, 0)
    streams: Iterator[tuple] = zip(open_source(), *(o() for o in open_outputs))
    for t, (src, *outs) in enumerate(itertools.islice(streams, max_frames)):
        frames += 1
        rgb = _as_rgb(src)
        luma = rec709_luma(rgb)
        size = (rgb.shape[1], rgb.shape[0])
        small_size = mapping_size(*size)
        outs = [_as_channels(o, rgb.shape) for o in outs]
        colour = colour or any(o.shape[2] == 3 for o in outs)
        for k, o in enumerate(outs):
            means[k].append(float((rec709_luma(o) if o.shape[2] == 3 else o[..., 0]).mean(dtype=np.float64)))
        means[n].append(float(luma.mean(dtype=np.float64)))
        # the references as 8-bit outputs (what an output is measured as), so both carry its rounding
        films = [*outs, *(_codes(h(t, rgb)) for h in held), _codes(luma[..., None])]
        small_shape = (small_size[1], small_size[0])
        small_rgb = _match_size(rgb, small_shape)
        small = (small_rgb, [_match_size(f, small_shape) for f in films], rec709_luma(small_rgb))
        current = (luma, films, small)
        if previous is not None:
            if t in cut_set:
                skipped += 1
            else:
                _add_pair_errors(flow.pair(previous[0], luma), previous[1], films, errors)
                small_pair = small_flow.pair(previous[2][2], small[2])
                mapping.add(small_pair, previous[2][0], small[0], previous[2][1], small[1])
        previous = current
    mapping_codes = mapping.rms_codes()
    source_index = brightness_flicker_index((np.full((1, 1), m) for m in means[n]), cuts)
    return [
        FlickerReport(
            pairs=len(errors[k]),
            skipped_at_cuts=skipped,
            frames=frames,
            warp_error_output=_mean(errors[k]),
            warp_error_held_still=_mean(errors[n + k]),
            warp_error_rec709=_mean(errors[2 * n]),
            mapping_flicker=mapping_codes[k],
            mapping_floor=mapping_codes[2 * n],
            mapping_held_still=mapping_codes[n + k],
            brightness_flicker_output=brightness_flicker_index((np.full((1, 1), m) for m in means[k]), cuts),
            brightness_flicker_source=source_index,
            colour=colour,
            transforms=[held[k].transforms[s].T.tolist() for s in sorted(held[k].transforms)],
            size=size,
            mapping_size=small_size,
        )
        for k in range(n)
    ]


def _codes(frame: np.ndarray) -> np.ndarray:
    """Rounded to 8-bit codes, still as float32 in [0, 1]."""
    return (np.rint(frame * np.float32(255.0)) / np.float32(255.0)).astype(np.float32)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


# --------------------------------------------------------------------------- frames and films


def measure_flicker_frames(
    source_rgb_or_luma: Iterable[np.ndarray],
    output: Iterable[np.ndarray],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> FlickerReport:
    """The flicker report for frames already decoded: the source as float R'G'B' (h, w, 3) or luma
    (h, w) in [0, 1], the output as luma (h, w) or R'G'B' (h, w, 3) in [0, 1]."""
    return measure_flicker_frames_many(source_rgb_or_luma, [output], cuts, max_frames)[0]


def measure_flicker_frames_many(
    source_rgb_or_luma: Iterable[np.ndarray],
    outputs: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> list[FlickerReport]:
    """One report per output, for several conversions of one source sharing the flow (computed once).
    The frames are held in memory; `measure_flicker_many` streams films from disk instead."""
    source = list(itertools.islice(source_rgb_or_luma, max_frames))
    films = [list(itertools.islice(o, max_frames)) for o in outputs]
    open_outputs = [lambda o=o: iter(o) for o in films]  # named: mypy cannot infer these lambdas in the call
    return _reports(lambda: iter(source), open_outputs, cuts, max_frames)


def measure_flicker(
    source: str | os.PathLike,
    output: str | os.PathLike,
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
    colour: bool = False,
) -> FlickerReport:
    """The flicker report of `output` (a conversion of `source`): measured on its luma, or with
    `colour` on its R'G'B' (a colorization).

    Cuts come from `shots` (a ShotList or a path to its JSON or OTIO file) or, when None, from
    detecting them on the source (`detector`). Both films are decoded in step at `width` px.
    """
    return measure_flicker_many(source, [output], shots, max_frames, width, detector, colour)[0]


def measure_colour_flicker(
    source: str | os.PathLike,
    output: str | os.PathLike,
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
) -> FlickerReport:
    """`measure_flicker` of a colorization in R'G'B': the held-still reference is the output's
    per-shot 3x4 colour transform of the source followed by a tone curve per channel."""
    return measure_flicker(source, output, shots, max_frames, width, detector, colour=True)


def source_cuts(source, shots, max_frames: int | None, detector: str) -> tuple[list[int], list[str]]:
    """The cuts pairs must not cross: from the shot list when given, else detected on the source."""
    from vidbw.shots.analysis import LowresFilm
    from vidbw.shots.detect import detect_cuts, min_shot_frames, min_shot_seconds_for
    from vidbw.shots.formats import read_shots
    from vidbw.shots.model import ShotList

    if shots is not None:
        shot_list = shots if isinstance(shots, ShotList) else read_shots(Path(shots), source)
        return shot_list.cuts(), []
    detect_film = LowresFilm(source)
    frames = detect_film if max_frames is None else itertools.islice(detect_film, max_frames)
    cuts = detect_cuts(
        frames, detect_film.fps, detector, min_shot_frames(min_shot_seconds_for(detector), detect_film.fps)
    )
    return cuts, [f"cuts detected on the source ({detector}): {len(cuts)}"]


def measure_flicker_many(
    source: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
    colour: bool = False,
) -> list[FlickerReport]:
    """`measure_flicker` for several conversions of one source: all films decoded in step (three
    passes), the flow computed once; one report per output, in order."""
    from vidbw.shots.analysis import LowresFilm, frame_count, rec709_luma

    source_film = LowresFilm(Path(source), width, as_float=True)
    output_films = [LowresFilm(Path(output), width, as_float=True) for output in outputs]
    cuts, notes = source_cuts(source, shots, max_frames, detector)

    source_length = frame_count(source)
    notes_per_output = []
    for output in outputs:
        length = frame_count(output)
        notes_per_output.append(
            []
            if length == source_length
            else [
                f"the films differ in length (source {source_length} frames, output {length}); "
                "measured the frames they share, in order"
            ]
        )
    if colour:
        open_outputs = [lambda film=film: iter(film) for film in output_films]
    else:
        open_outputs = [lambda film=film: (rec709_luma(f) for f in film) for film in output_films]
    reports = _reports(lambda: iter(source_film), open_outputs, cuts, max_frames)
    for report, output, extra in zip(reports, outputs, notes_per_output):
        report.notes = notes + extra
        if report.frames < 2:
            raise InputError(f"need at least two frames in both films to measure flicker ({source}, {output})")
    return reports
