"""Temporal flicker of a conversion: the warping error of Lai et al. (2018), "Learning Blind Video
Temporal Consistency", reported as a ratio to the same measure on the source's Rec.709 luma.

For every pair of consecutive frames (t, t+1) inside a shot:

1. optical flow is computed on the **source** luma with OpenCV DIS (medium preset): forward
   f = flow(t -> t+1) and backward b = flow(t+1 -> t);
2. a pixel x is occluded when the forward-backward check fails,
   |f(x) + b(x + f(x))|² > 0.01 (|f(x)|² + |b(x + f(x))|²) + 0.5, or x + f(x) leaves the frame;
3. the error is the mean, over non-occluded pixels, of (O_t(x) - O_{t+1}(x + f(x)))², with O_{t+1}
   warped back to t by bilinear `cv2.remap`.

Pairs that cross a cut are skipped. The frame errors are averaged. The same is measured on the
Rec.709 luma of the source, a per-pixel (so flicker-free) conversion: the ratio output/source is
≈ 1 for a conversion that adds no flicker and grows with any flicker it adds. The brightness
flicker index is the mean |Δ mean luma| between consecutive frames within shots (output and
source), which catches global pumping that a per-pixel error dilutes.

Both films are decoded with PyAV in step and measured at a reduced width (480 px by default).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from vidbw.errors import InputError

__all__ = ["FlickerReport", "PairErrors", "PairFlow", "measure_flicker", "measure_flicker_frames", "warping_errors", "FLICKER_WIDTH"]

FLICKER_WIDTH = 480


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
        gain2 = self.contrast_gain ** 2
        return _ratio(self.warp_error_output, self.warp_error_source * gain2) if gain2 > 1e-6 else self.ratio

    @property
    def brightness_ratio(self) -> float:
        return _ratio(self.brightness_output, self.brightness_source)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["ratio_contrast_matched"] = self.ratio_contrast_matched
        data["brightness_ratio"] = self.brightness_ratio
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def lines(self) -> list[str]:
        w, h = self.size
        return [
            f"warping error ratio {self.ratio:.3f}  (output {self.warp_error_output:.6f} / source Rec.709 luma "
            f"{self.warp_error_source:.6f}; {self.pairs} frame pairs, {self.skipped_at_cuts} skipped at cuts, {w}x{h})",
            f"contrast-matched ratio {self.ratio_contrast_matched:.3f}  (source luma differences scaled by the output's "
            f"contrast gain {self.contrast_gain:.3f})",
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

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray  # bool (h, w): not occluded and inside the frame

    def warp(self, frame: np.ndarray) -> np.ndarray:
        """Frame t+1 sampled at x + f(x): frame t+1 warped back to t."""
        return cv2.remap(frame, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def error(self, frame_t: np.ndarray, frame_t1: np.ndarray) -> float:
        if not self.valid.any():
            return float("nan")
        diff = frame_t - self.warp(frame_t1)
        return float(np.mean(np.square(diff[self.valid], dtype=np.float64)))


class FlowEstimator:
    """DIS optical flow (medium preset) with the forward-backward occlusion check."""

    def __init__(self):
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def pair(self, luma_t: np.ndarray, luma_t1: np.ndarray) -> PairFlow:
        a, b = _to_u8(luma_t), _to_u8(luma_t1)
        forward = self.dis.calc(a, b, None)
        backward = self.dis.calc(b, a, None)
        h, w = a.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            self._grid = (xs, ys)
        xs, ys = self._grid
        map_x = xs + forward[..., 0]
        map_y = ys + forward[..., 1]
        back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mismatch = np.square(forward + back).sum(axis=-1)
        magnitude = np.square(forward).sum(axis=-1) + np.square(back).sum(axis=-1)
        occluded = mismatch > 0.01 * magnitude + 0.5
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        return PairFlow(map_x, map_y, inside & ~occluded)


def _to_u8(luma: np.ndarray) -> np.ndarray:
    if luma.dtype == np.uint8:
        return luma
    return np.clip(np.rint(luma * 255.0), 0, 255).astype(np.uint8)


@dataclass
class PairErrors:
    """What `warping_errors` measured, per output: pair errors, brightness steps, contrast gain."""

    errors: list[list[float]]  # warping error of every measured pair, per output
    steps: list[list[float]]  # |Δ mean luma| of every measured pair, per output
    gains: list[float]  # least-squares slope of output luma on source luma over all frames, per output
    frames: int
    skipped: int


def warping_errors(source_luma: Iterable[np.ndarray], outputs: Sequence[Iterable[np.ndarray]], cuts: Iterable[int] = (),
                   max_frames: int | None = None) -> PairErrors:
    """The per-pair warping errors (and |Δ mean| brightness changes) of several outputs against one
    source, sharing the flow. Each output yields float32 luma frames in [0, 1] of the source's size."""
    cut_set = set(int(c) for c in cuts)
    flow = FlowEstimator()
    errors: list[list[float]] = [[] for _ in outputs]
    steps: list[list[float]] = [[] for _ in outputs]
    sums = np.zeros((len(outputs), 5))  # n, Σx, Σy, Σx², Σxy with x = source luma, y = output
    previous: tuple | None = None
    frames = skipped = 0
    streams = zip(source_luma, *outputs)
    if max_frames is not None:
        streams = itertools.islice(streams, max_frames)
    for t, (src, *outs) in enumerate(streams):
        frames += 1
        outs = [_match_size(o, src.shape) for o in outs]
        x = src.astype(np.float64).ravel()
        sx, sxx = x.sum(), x @ x
        for k, o in enumerate(outs):
            y = o.astype(np.float64).ravel()
            sums[k] += (x.size, sx, y.sum(), sxx, x @ y)
        if previous is not None:
            if t in cut_set:
                skipped += 1
            else:
                prev_src, prev_outs = previous
                pair = flow.pair(prev_src, src)
                for k, (a, b) in enumerate(zip(prev_outs, outs)):
                    e = pair.error(a, b)
                    if np.isfinite(e):
                        errors[k].append(e)
                    steps[k].append(abs(float(b.mean()) - float(a.mean())))
        previous = (src, outs)
    gains = []
    for n, sx, sy, sxx, sxy in sums:
        denominator = n * sxx - sx * sx
        gains.append(float((n * sxy - sx * sy) / denominator) if n and denominator > 1e-12 * n * n else 1.0)
    return PairErrors(errors, steps, gains, frames, skipped)


def _match_size(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if frame.shape[:2] == shape[:2]:
        return frame
    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def measure_flicker_frames(source_rgb_or_luma: Iterable[np.ndarray], output_luma: Iterable[np.ndarray],
                           cuts: Iterable[int] = (), max_frames: int | None = None) -> FlickerReport:
    """The flicker report for frames already decoded: the source as float R'G'B' (h, w, 3) or luma
    (h, w) in [0, 1], the output as luma (h, w) in [0, 1]. The reference is the source's Rec.709 luma."""
    from vidbw.shots.analysis import rec709_luma

    def lumas(frames):
        for f in frames:
            yield rec709_luma(f) if f.ndim == 3 else f.astype(np.float32, copy=False)

    source_a, source_b = itertools.tee(lumas(source_rgb_or_luma))
    measured = warping_errors(source_a, [output_luma, source_b], cuts, max_frames)
    (errs_out, errs_ref), (steps_out, steps_ref) = measured.errors, measured.steps
    return FlickerReport(
        pairs=len(errs_out), skipped_at_cuts=measured.skipped,
        warp_error_output=_mean(errs_out), warp_error_source=_mean(errs_ref),
        brightness_output=_mean(steps_out), brightness_source=_mean(steps_ref), frames=measured.frames,
        contrast_gain=measured.gains[0],
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def measure_flicker(source: str | os.PathLike, output: str | os.PathLike, shots=None, max_frames: int | None = None,
                    width: int = FLICKER_WIDTH, detector: str = "adaptive") -> FlickerReport:
    """Warping-error flicker of `output` (a conversion of `source`) relative to the source's luma.

    Cuts come from `shots` (a ShotList or a path to its JSON) or, when None, from detecting them
    on the source (`detector`). Both films are decoded in step at `width` px.
    """
    from vidbw.shots.analysis import LowresFilm, rec709_luma
    from vidbw.shots.detect import DEFAULT_MIN_SHOT_SECONDS, detect_cuts, min_shot_frames
    from vidbw.shots.model import ShotList

    source_film = LowresFilm(source, width, as_float=True)
    output_film = LowresFilm(output, width, as_float=True)
    notes = []
    if shots is None:
        detect_film = LowresFilm(source)
        frames = detect_film if max_frames is None else itertools.islice(detect_film, max_frames)
        cuts = detect_cuts(frames, detect_film.fps, detector, min_shot_frames(DEFAULT_MIN_SHOT_SECONDS, detect_film.fps))
        notes.append(f"cuts detected on the source ({detector}): {len(cuts)}")
    else:
        shot_list = shots if isinstance(shots, ShotList) else ShotList.load(Path(shots))
        cuts = shot_list.cuts()

    from vidbw.shots.analysis import frame_count

    lengths = frame_count(source), frame_count(output)
    if lengths[0] != lengths[1]:
        notes.append(f"the films differ in length (source {lengths[0]} frames, output {lengths[1]}); "
                     "measured the frames they share, in order")
    output_luma = (rec709_luma(f) for f in output_film)
    report = measure_flicker_frames(iter(source_film), output_luma, cuts, max_frames)
    report.size = source_film.size
    report.notes = notes
    if report.frames < 2:
        raise InputError(f"need at least two frames in both films to measure flicker ({source}, {output})")
    return report
