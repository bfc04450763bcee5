"""Temporal flicker of a conversion: the warping error of Lai et al. (2018), "Learning Blind Video
Temporal Consistency", reported as a ratio to the same measure on the source's Rec.709 luma.

For every pair of consecutive frames (t, t+1) inside a shot:

1. optical flow is computed on the **source** luma with OpenCV DIS (medium preset): forward
   f = flow(t -> t+1) and backward b = flow(t+1 -> t);
2. a pixel x is occluded when the forward-backward check fails,
   |f(x) + b(x + f(x))|² > 0.01 (|f(x)|² + |b(x + f(x))|²) + 0.5, or x + f(x) leaves the frame;
3. the error is the mean, over non-occluded pixels, of (O_t(x) - O_{t+1}(x + f(x)))², with O_{t+1}
   warped back to t by bilinear `cv2.remap`.

Pairs that cross a cut are skipped. The frame errors are averaged. The same is measured on
references, flicker-free by construction, to read the output's error against:

* the Rec.709 luma of the source (a per-pixel conversion): the issue's **ratio**. It is ≈ 1 for a
  conversion that adds no flicker, but a look with a steeper tone response than luma raises it
  too, because it scales up every frame-to-frame difference of the source (noise, grain, and what
  the flow cannot explain), steady or not;
* the source luma through a **monotone tone curve fitted to the output** (least squares, 32
  luma bins made monotone by pool-adjacent-violators, piecewise linear between the bins' mean
  points). One curve is fitted to both frames of each pair, so the reference has the output's
  tonal response at that moment and, by construction, no change of mapping between the two frames
  it is compared over: the **tone-matched ratio** is ≈ 1 for any fixed tone curve of the source
  luma and grows with flicker (a frame-to-frame change cannot be absorbed by one curve). It does
  not know the look's channel mix: a steady red filter reads 1.1-1.2 on real footage, because the
  red channel carries other noise than luma;
* a classic style fitted to the output: the source through the shot's least-squares channel mix
  (wR·R' + wG·G' + wB·B' + c over all pixels of the shot; a first pass over the films), then a
  monotone tone curve fitted per pair as above. The **mix-matched ratio** is ≈ 1 for every steady
  classic style (any mix, any curve) and grows with flicker; what a learned, region-aware look
  adds beyond a global mix and curve (spatially varying gains) also shows in it. The mix is fitted
  per shot, not per pair: over two frames R', G' and B' are too nearly collinear for a stable fit;
* the older **contrast-matched ratio** scales the source-luma error by the square of one global
  least-squares slope of output on source luma (a straight line instead of the curve).

The brightness flicker index is the mean |Δ mean luma| between consecutive frames within shots
(output and source), which catches global pumping that a per-pixel error dilutes.

Both films are decoded with PyAV in step and measured at a reduced width (480 px by default).
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
    "FlickerReport",
    "PairErrors",
    "PairFlow",
    "ToneCurve",
    "fit_tone_curve",
    "measure_flicker",
    "measure_flicker_many",
    "measure_flicker_frames",
    "measure_flicker_frames_many",
    "fit_shot_mixes",
    "warping_errors",
    "FLICKER_WIDTH",
    "TONE_BINS",
]

FLICKER_WIDTH = 480
# Luma bins of the tone-matched reference's curve: as fine as the learned styles' own tone curve
# (33 knots) and far finer than their grids' 8 luma bins, and coarser (8 codes of 8-bit) than the
# code-level staircase of an 8-bit output, which is quantisation, not tonal response.
TONE_BINS = 32


@dataclass
class FlickerReport:
    pairs: int  # frame pairs measured
    skipped_at_cuts: int  # pairs that cross a cut (not measured)
    warp_error_output: float
    warp_error_source: float
    brightness_output: float  # mean |Δ mean luma| per frame, within shots
    brightness_source: float
    frames: int = 0
    contrast_gain: float = 1.0  # least-squares slope of output luma on source luma, over all frames
    warp_error_tone_matched: float = 0.0  # the source luma through a tone curve fitted to each output pair
    warp_error_mix_matched: float = float(
        "nan"
    )  # the source through the shot's mix, then a curve per pair (nan: no RGB)
    mixes: list[list[float]] = field(default_factory=list)  # per shot: the least-squares (wR, wG, wB, c) of the output
    size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Warping error of the output over that of the source luma (1.0: no added flicker)."""
        return _ratio(self.warp_error_output, self.warp_error_source)

    @property
    def ratio_contrast_matched(self) -> float:
        """The ratio with the source luma's differences scaled by the output's overall contrast gain
        (one number for the whole film, so per-frame flicker is not absorbed): ≈ 1 for any steady
        conversion, also one with more contrast than Rec.709 luma."""
        gain2 = self.contrast_gain**2
        return _ratio(self.warp_error_output, self.warp_error_source * gain2) if gain2 > 1e-6 else self.ratio

    @property
    def ratio_tone_matched(self) -> float:
        """Warping error of the output over that of the source luma passed through a monotone tone
        curve fitted to the output (one curve per frame pair): ≈ 1 for any steady tone curve of the
        luma; added flicker raises it; a look whose channel mix or regional gains amplify the
        source's noise more than its tonal response alone also reads above 1."""
        return _ratio(self.warp_error_output, self.warp_error_tone_matched)

    @property
    def ratio_mix_matched(self) -> float:
        """Warping error of the output over that of a classic style fitted to it: the source through
        the shot's least-squares channel mix, then a monotone tone curve fitted per frame pair. ≈ 1
        for any steady channel mix + tone curve (every classic style); nan when it was not measured."""
        if not np.isfinite(self.warp_error_mix_matched):
            return float("nan")
        return _ratio(self.warp_error_output, self.warp_error_mix_matched)

    @property
    def brightness_ratio(self) -> float:
        return _ratio(self.brightness_output, self.brightness_source)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["ratio_tone_matched"] = self.ratio_tone_matched
        data["ratio_mix_matched"] = self.ratio_mix_matched
        data["ratio_contrast_matched"] = self.ratio_contrast_matched
        data["brightness_ratio"] = self.brightness_ratio
        return finite_or_none(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def lines(self) -> list[str]:
        w, h = self.size
        return [
            f"warping error ratio {self.ratio:.3f}  (output {self.warp_error_output:.6f} / source Rec.709 luma "
            f"{self.warp_error_source:.6f}; {self.pairs} frame pairs, {self.skipped_at_cuts} skipped at cuts, "
            f"{w}x{h})",
            f"tone-matched ratio {self.ratio_tone_matched:.3f}  (output / source luma through a monotone tone "
            f"curve fitted to the output, one per frame pair: {self.warp_error_tone_matched:.6f})",
            *(
                [
                    f"mix-matched ratio {self.ratio_mix_matched:.3f}  (output / source through the shot's "
                    f"least-squares channel mix and a tone curve per frame pair, a classic style fitted to the "
                    f"output: {self.warp_error_mix_matched:.6f})"
                ]
                if np.isfinite(self.ratio_mix_matched)
                else []
            ),
            f"contrast-matched ratio {self.ratio_contrast_matched:.3f}  (source luma differences scaled by the "
            f"output's contrast gain {self.contrast_gain:.3f})",
            f"brightness flicker ratio {self.brightness_ratio:.3f}  (mean |Δ mean luma| per frame: output "
            f"{self.brightness_output:.5f} / source {self.brightness_source:.5f})",
        ]


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
        """Frame t+1 sampled at x + f(x): frame t+1 warped back to t."""
        return self.flow.warp(frame)

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


def fit_tone_curve(sources: Sequence[np.ndarray], outputs: Sequence[np.ndarray], bins: int = TONE_BINS) -> ToneCurve:
    """The least-squares monotone curve output ≈ T(source) over all pixels of the given frames.

    Pixels are binned by source value (`bins` equal bins over [0, 1]); each bin is represented by
    its mean point (mean source, mean output), so a curve that the data follow exactly (a straight
    line, say) is recovered exactly, not shifted to the bins' centres; pool-adjacent-violators
    makes the bin means non-decreasing (weighted by pixel count, pooled points at their pooled
    means), and the curve is piecewise linear through them.
    """
    count = np.zeros(bins)
    sum_x = np.zeros(bins)
    sum_y = np.zeros(bins)
    for src, out in zip(sources, outputs):
        x = src.ravel()
        index = np.clip((x * bins).astype(np.intp), 0, bins - 1)
        count += np.bincount(index, minlength=bins)
        sum_x += np.bincount(index, weights=x, minlength=bins)
        sum_y += np.bincount(index, weights=out.ravel(), minlength=bins)
    used = count > 0
    if not used.any():
        return ToneCurve(np.zeros(1), np.zeros(1))
    xs, ys, ws = [], [], []  # pooled blocks as sums, so pooling keeps exact means
    for c, sx, sy in zip(count[used], sum_x[used], sum_y[used]):
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


@dataclass
class PairErrors:
    """What `warping_errors` measured, per output: pair errors, brightness steps, contrast gain."""

    errors: list[list[float]]  # warping error of every measured pair, per output
    steps: list[list[float]]  # |Δ mean luma| of every measured pair, per output
    gains: list[float]  # least-squares slope of output luma on source luma over all frames, per output
    frames: int
    skipped: int
    tone_matched: list[list[float]] = field(default_factory=list)  # the tone-matched reference's errors, per output
    mix_matched: list[list[float]] = field(default_factory=list)  # the mix-matched reference's (empty: not measured)


def warping_errors(
    source_luma: Iterable[np.ndarray],
    outputs: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
    mixed_sources: Sequence[Iterable[np.ndarray]] | None = None,
) -> PairErrors:
    """The per-pair warping errors (and |Δ mean| brightness changes) of several outputs against one
    source, sharing the flow. Each output yields float32 luma frames in [0, 1] of the source's size.

    For each output and pair, the error of its tone-matched reference is measured too: the source
    luma of both frames through one monotone curve fitted to the output's two frames. With
    `mixed_sources` (for the first outputs, the source frames through that output's channel mix), the
    same is done with the mixed source in place of the luma: the mix-matched reference."""
    cut_set = set(int(c) for c in cuts)
    flow = FlowEstimator()
    errors: list[list[float]] = [[] for _ in outputs]
    tone_matched: list[list[float]] = [[] for _ in outputs]
    mix_matched: list[list[float]] = [[] for _ in outputs]
    n_outputs = len(outputs)
    guides = list(mixed_sources) if mixed_sources is not None else []
    steps: list[list[float]] = [[] for _ in outputs]
    sums = np.zeros((len(outputs), 5))  # n, Σx, Σy, Σx², Σxy with x = source luma, y = output
    previous: tuple | None = None
    frames = skipped = 0
    streams: Iterator[tuple] = zip(source_luma, *outputs, *guides)
    if max_frames is not None:
        streams = itertools.islice(streams, max_frames)
    for t, (src, *rest) in enumerate(streams):
        frames += 1
        outs = [_match_size(o, src.shape) for o in rest[:n_outputs]]
        mixed = rest[n_outputs:]
        x = src.astype(np.float64).ravel()
        sx, sxx = x.sum(), x @ x
        for k, o in enumerate(outs):
            y = o.astype(np.float64).ravel()
            sums[k] += (x.size, sx, y.sum(), sxx, x @ y)
        if previous is not None:
            if t in cut_set:
                skipped += 1
            else:
                prev_src, prev_outs, prev_mixed = previous
                pair = flow.pair(prev_src, src)
                for k, (a, b) in enumerate(zip(prev_outs, outs)):
                    e = pair.error(a, b)
                    if np.isfinite(e):
                        errors[k].append(e)
                        curve = fit_tone_curve((prev_src, src), (a, b))
                        tone_matched[k].append(pair.error(curve(prev_src), curve(src)))
                        if k < len(mixed):  # outputs without a mixed source (the luma reference) have none
                            curve = fit_tone_curve((prev_mixed[k], mixed[k]), (a, b))
                            mix_matched[k].append(pair.error(curve(prev_mixed[k]), curve(mixed[k])))
                    steps[k].append(abs(float(b.mean()) - float(a.mean())))
        previous = (src, outs, mixed)
    gains = []
    for n, sx, sy, sxx, sxy in sums:
        denominator = n * sxx - sx * sx
        gains.append(float((n * sxy - sx * sy) / denominator) if n and denominator > 1e-12 * n * n else 1.0)
    return PairErrors(errors, steps, gains, frames, skipped, tone_matched, mix_matched[: len(guides)])


def _match_size(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if frame.shape[:2] == shape[:2]:
        return frame
    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def fit_shot_mixes(
    source_rgb: Iterable[np.ndarray],
    outputs: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> list[dict[int, np.ndarray]]:
    """Per output, the least-squares channel mix output ≈ wR·R' + wG·G' + wB·B' + c of every shot
    (the whole shot's pixels), keyed by the shot's first frame. Shots start at 0 and at each cut."""
    cut_set = set(int(c) for c in cuts)
    n_outputs = len(outputs)
    normal: dict[int, np.ndarray] = {}  # shot start -> AᵀA (4, 4), shared by the outputs
    moments: dict[int, np.ndarray] = {}  # shot start -> Aᵀy (n_outputs, 4)
    start = 0
    streams: Iterator[tuple] = zip(source_rgb, *outputs)
    if max_frames is not None:
        streams = itertools.islice(streams, max_frames)
    for t, (rgb, *outs) in enumerate(streams):
        if t in cut_set:
            start = t
        a = np.empty((rgb.shape[0] * rgb.shape[1], 4))
        a[:, :3] = rgb.reshape(-1, 3)
        a[:, 3] = 1.0
        normal[start] = normal.get(start, 0) + a.T @ a
        ys = np.stack([_match_size(o, rgb.shape).astype(np.float64).ravel() for o in outs])
        moments[start] = moments.get(start, 0) + ys @ a
    mixes: list[dict[int, np.ndarray]] = [{} for _ in range(n_outputs)]
    for start, ata in normal.items():
        for k in range(n_outputs):  # lstsq: a grey source (R' = G' = B') has many mixes; take the smallest
            mixes[k][start] = np.linalg.lstsq(ata, moments[start][k], rcond=None)[0]
    return mixes


def _mixed_source(source_rgb: Iterable[np.ndarray], mixes: dict[int, np.ndarray]) -> Iterator[np.ndarray]:
    """The source frames through their shot's mix (float32 (h, w))."""
    starts = sorted(mixes)
    for t, rgb in enumerate(source_rgb):
        mix = mixes[starts[bisect.bisect_right(starts, t) - 1]]
        yield (rgb @ mix[:3].astype(np.float32) + np.float32(mix[3])).astype(np.float32, copy=False)


def measure_flicker_frames(
    source_rgb_or_luma: Iterable[np.ndarray],
    output_luma: Iterable[np.ndarray],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> FlickerReport:
    """The flicker report for frames already decoded: the source as float R'G'B' (h, w, 3) or luma
    (h, w) in [0, 1], the output as luma (h, w) in [0, 1]. The reference is the source's Rec.709 luma."""
    return measure_flicker_frames_many(source_rgb_or_luma, [output_luma], cuts, max_frames)[0]


def measure_flicker_frames_many(
    source_rgb_or_luma: Iterable[np.ndarray],
    outputs_luma: Sequence[Iterable[np.ndarray]],
    cuts: Iterable[int] = (),
    max_frames: int | None = None,
) -> list[FlickerReport]:
    """One report per output, for several conversions of one source sharing the flow (computed once).

    The frames are held in memory (the mix-matched reference needs two passes: the shots' mixes
    first); `measure_flicker_many` streams films from disk instead."""
    source = list(itertools.islice(source_rgb_or_luma, max_frames))
    outputs = [list(itertools.islice(o, max_frames)) for o in outputs_luma]
    open_outputs = [lambda o=o: iter(o) for o in outputs]  # named: mypy cannot infer these lambdas in the call
    return _reports(lambda: iter(source), open_outputs, cuts, max_frames)


def _reports(
    open_source: Callable[[], Iterator[np.ndarray]],
    open_outputs: Sequence[Callable[[], Iterator[np.ndarray]]],
    cuts: Iterable[int],
    max_frames: int | None,
    rgb: bool | None = None,
) -> list[FlickerReport]:
    """Both passes over films that can be opened (iterated) twice: the shots' mixes (when the source
    is R'G'B'), then the flow and every error."""
    from vidbw.shots.analysis import rec709_luma

    cuts = list(cuts)
    if rgb is None:
        first = next(open_source(), None)
        rgb = first is not None and first.ndim == 3
    mixes = fit_shot_mixes(open_source(), [o() for o in open_outputs], cuts, max_frames) if rgb else None

    def lumas(frames):
        for f in frames:
            yield rec709_luma(f) if f.ndim == 3 else f.astype(np.float32, copy=False)

    # one decode of the source for the second pass, shared (in step) by the luma and the mixed sources
    copies = itertools.tee(open_source(), 1 + (len(mixes) if mixes is not None else 0))
    source_a, source_b = itertools.tee(lumas(copies[0]))
    mixed = None if mixes is None else [_mixed_source(c, m) for c, m in zip(copies[1:], mixes)]
    measured = warping_errors(source_a, [*(o() for o in open_outputs), source_b], cuts, max_frames, mixed_sources=mixed)
    errs_ref, steps_ref = measured.errors[-1], measured.steps[-1]
    return [
        FlickerReport(
            pairs=len(measured.errors[k]),
            skipped_at_cuts=measured.skipped,
            warp_error_output=_mean(measured.errors[k]),
            warp_error_source=_mean(errs_ref),
            brightness_output=_mean(measured.steps[k]),
            brightness_source=_mean(steps_ref),
            frames=measured.frames,
            contrast_gain=measured.gains[k],
            warp_error_tone_matched=_mean(measured.tone_matched[k]),
            warp_error_mix_matched=_mean(measured.mix_matched[k]) if mixes is not None else float("nan"),
            mixes=[] if mixes is None else [[float(v) for v in mixes[k][start]] for start in sorted(mixes[k])],
        )
        for k in range(len(open_outputs))
    ]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def measure_flicker(
    source: str | os.PathLike,
    output: str | os.PathLike,
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
) -> FlickerReport:
    """Warping-error flicker of `output` (a conversion of `source`) relative to the source's luma.

    Cuts come from `shots` (a ShotList or a path to its JSON) or, when None, from detecting them
    on the source (`detector`). Both films are decoded in step at `width` px.
    """
    return measure_flicker_many(source, [output], shots, max_frames, width, detector)[0]


def source_cuts(source, shots, max_frames: int | None, detector: str) -> tuple[list[int], list[str]]:
    """The cuts pairs must not cross: from the shot list when given, else detected on the source."""
    from vidbw.shots.analysis import LowresFilm
    from vidbw.shots.detect import detect_cuts, min_shot_frames, min_shot_seconds_for
    from vidbw.shots.model import ShotList

    if shots is not None:
        shot_list = shots if isinstance(shots, ShotList) else ShotList.load(Path(shots))
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
) -> list[FlickerReport]:
    """`measure_flicker` for several conversions of one source: all films decoded in step, the flow
    computed once; one report per output, in order."""
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
    # two passes, each decoding every film once: the shots' channel mixes, then the flow and the errors
    open_outputs = [lambda film=film: (rec709_luma(f) for f in film) for film in output_films]
    reports = _reports(lambda: iter(source_film), open_outputs, cuts, max_frames, rgb=True)
    for report, output, extra in zip(reports, outputs, notes_per_output):
        report.size = source_film.size
        report.notes = notes + extra
        if report.frames < 2:
            raise InputError(f"need at least two frames in both films to measure flicker ({source}, {output})")
    return reports


# --------------------------------------------------------------------------- colour outputs


@dataclass
class ColourFlicker:
    """Warping error of a colour output (a colorization) in R'G'B', against its source's luma."""

    warp_error_output: float  # mean over pairs of the mean squared R'G'B' difference (all 3 channels)
    warp_error_source: float  # the same on the source's Rec.709 luma (a gray, flicker-free film)
    pairs: int
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return _ratio(self.warp_error_output, self.warp_error_source)

    def to_json(self) -> str:
        return json.dumps(finite_or_none({**asdict(self), "ratio": self.ratio}), indent=2) + "\n"

    def lines(self) -> list[str]:
        return [
            f"colour warping error ratio {self.ratio:.3f}  (output R'G'B' {self.warp_error_output:.6f} / source "
            f"Rec.709 luma {self.warp_error_source:.6f}, {self.pairs} frame pairs within shots)"
        ]


def measure_colour_flicker(
    source: str | os.PathLike,
    output: str | os.PathLike,
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
) -> ColourFlicker:
    """The warping error of a colorization in colour: flow and occlusions from the source luma as in
    `measure_flicker`, the error over all three R'G'B' channels of the output, read against the
    source's own luma (R' = G' = B'). Colours that stay on their objects add little; colour that
    flickers or swims adds its full frame-to-frame change."""
    from vidbw.shots.analysis import LowresFilm, rec709_luma

    cuts, notes = source_cuts(source, shots, max_frames, detector)
    cut_set = set(int(c) for c in cuts)
    flow = FlowEstimator()
    output_errors, source_errors = [], []
    previous = None
    pairs = zip(LowresFilm(Path(source), width, as_float=True), LowresFilm(Path(output), width, as_float=True))
    for t, (source_rgb, output_rgb) in enumerate(itertools.islice(pairs, max_frames)):
        luma = rec709_luma(source_rgb)
        output_rgb = _match_size(output_rgb, luma.shape)
        if previous is not None and t not in cut_set:
            pair = flow.pair(previous[0], luma)
            error = pair.error(previous[1], output_rgb)
            if np.isfinite(error):
                output_errors.append(error)
                source_errors.append(pair.error(previous[0], luma))
        previous = (luma, output_rgb)
    if not output_errors:
        raise InputError(
            f"need at least two frames within a shot in both films to measure flicker ({source}, {output})"
        )
    return ColourFlicker(float(np.mean(output_errors)), float(np.mean(source_errors)), len(output_errors), notes)
