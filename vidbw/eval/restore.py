"""Scores for restoration: how much brightness flicker a clip has, its warping error, and how close
a restored clip is to a clean original.

The brightness flicker index is `vidbw.eval.brightness`'s.

**Against a clean original.** PSNR (dB) and SSIM of every restored frame against the clean one
(`vidbw.metrics`), and their means.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vidbw.errors import InputError
from vidbw.eval.brightness import brightness_flicker_index
from vidbw.eval.flicker import FLICKER_WIDTH, source_cuts, warping_errors
from vidbw.metrics import finite_or_none, psnr, ssim

__all__ = [
    "CleanScore",
    "RestoreReport",
    "measure_restoration",
    "score_against_clean",
]


@dataclass
class CleanScore:
    """A restored clip against its clean original, frame by frame (pictures in [0, 1])."""

    psnr: list[float]  # dB per frame (capped at 120 for identical frames)
    ssim: list[float]

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr)) if self.psnr else float("nan")

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim)) if self.ssim else float("nan")


def score_against_clean(
    restored: Iterable[np.ndarray], clean: Sequence[np.ndarray] | Iterable[np.ndarray]
) -> CleanScore:
    """PSNR and SSIM of each restored gray frame against the clean frame at the same index; frames
    are compared in step, up to the shorter clip."""
    score = CleanScore([], [])
    for out, truth in zip(restored, clean):
        score.psnr.append(psnr(out, truth))
        score.ssim.append(ssim(out, truth))
    return score


@dataclass
class RestoreReport:
    """`vidbw eval restore`: a restored film against its input and, when there is one, its clean original."""

    frames: int
    flicker_source: float  # brightness flicker index, 8-bit codes
    flicker_output: float
    warp_error_source: float  # mean warping error over frame pairs within shots (luma in [0, 1])
    warp_error_output: float
    width: int  # the size the films were compared at
    flicker_clean: float | None = None
    psnr_source: float | None = None  # against the clean original, dB
    psnr_output: float | None = None
    ssim_source: float | None = None
    ssim_output: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flicker_reduction(self) -> float:
        """The share of the input's brightness flicker that the output no longer has."""
        return 1.0 - self.flicker_output / self.flicker_source if self.flicker_source > 0 else 0.0

    @property
    def warp_ratio(self) -> float:
        return self.warp_error_output / self.warp_error_source if self.warp_error_source > 0 else float("nan")

    def to_json(self) -> str:
        data = {**asdict(self), "flicker_reduction": self.flicker_reduction, "warp_ratio": self.warp_ratio}
        return json.dumps(finite_or_none(data), indent=2) + "\n"

    def lines(self) -> list[str]:
        lines = [
            f"brightness flicker index {self.flicker_output:.3f} (input {self.flicker_source:.3f}"
            + (f", clean {self.flicker_clean:.3f}" if self.flicker_clean is not None else "")
            + f"): {100 * self.flicker_reduction:.0f} % removed",
            f"warping error ratio {self.warp_ratio:.3f}  (output {self.warp_error_output:.6f} / input "
            f"{self.warp_error_source:.6f}, {self.frames} frames at {self.width} px)",
        ]
        if self.psnr_output is not None:
            lines.append(
                f"against the clean original: PSNR {self.psnr_output:.2f} dB (input {self.psnr_source:.2f}), "
                f"SSIM {self.ssim_output:.4f} (input {self.ssim_source:.4f})"
            )
        return lines


def measure_restoration(
    source: str | os.PathLike,
    output: str | os.PathLike,
    clean: str | os.PathLike | None = None,
    shots=None,
    max_frames: int | None = None,
    width: int = FLICKER_WIDTH,
    detector: str = "adaptive",
) -> RestoreReport:
    """Score `output` (a restoration of `source`): brightness flicker index and warping error of
    both (within shots: `shots`, else cuts detected on the source), and PSNR/SSIM against `clean`.
    The films are decoded in step at `width` px."""
    from vidbw.shots.analysis import LowresFilm, rec709_luma

    def lumas(path) -> list[np.ndarray]:
        film = LowresFilm(Path(path), width, as_float=True)
        frames = (rec709_luma(frame) for frame in film)
        return list(itertools.islice(frames, max_frames) if max_frames is not None else frames)

    cuts, notes = source_cuts(source, shots, max_frames, detector)
    source_lumas, output_lumas = lumas(source), lumas(output)
    count = min(len(source_lumas), len(output_lumas))
    if count < 2:
        raise InputError(f"need at least two frames in both films to measure a restoration ({source}, {output})")
    if len(source_lumas) != len(output_lumas):
        notes.append(f"the films differ in length ({len(source_lumas)} and {len(output_lumas)} frames)")
    measured = warping_errors(source_lumas[:count], [output_lumas[:count], source_lumas[:count]], cuts)
    report = RestoreReport(
        frames=count,
        flicker_source=brightness_flicker_index(source_lumas[:count], cuts),
        flicker_output=brightness_flicker_index(output_lumas[:count], cuts),
        warp_error_output=float(np.mean(measured.errors[0])) if measured.errors[0] else 0.0,
        warp_error_source=float(np.mean(measured.errors[1])) if measured.errors[1] else 0.0,
        width=len(source_lumas[0][0]),
        notes=notes,
    )
    if clean is not None:
        clean_lumas = lumas(clean)[:count]
        report.flicker_clean = brightness_flicker_index(clean_lumas, cuts)
        before, after = score_against_clean(source_lumas, clean_lumas), score_against_clean(output_lumas, clean_lumas)
        report.psnr_source, report.psnr_output = before.mean_psnr, after.mean_psnr
        report.ssim_source, report.ssim_output = before.mean_ssim, after.mean_ssim
    return report
