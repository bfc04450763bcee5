"""How well a colorization brings back the colour of a film: `vidbw eval colorize TRUTH OUTPUT`.

TRUTH is the original colour clip (a video, an image, or a folder of images); OUTPUT is vidbw's
colorization of the same clip made gray. Every metric is also given for the **gray baseline**,
TRUTH's own luma with neutral chroma (R' = G' = B' = Y'), made here, so no extra file is needed:
a colorization is worth having where it beats the gray baseline.

Decoding: videos go through the render pass's own decoder (:func:`vidbw.io.decode.read_media`, so
frames are numbered as vidbw numbers them) and are converted to R'G'B' at full resolution with
each file's own matrix and range (:func:`vidbw.kernels.colour.planes_to_small_rgb`: chroma is
area-interpolated up to the luma's size, values are clipped to [0, 1]). Images are read with
:func:`vidbw.io.images.read_image` (8 or 16 bits, EXIF orientation applied, alpha ignored).
Folders are matched image by image on the file name without its extension, and taken in name
order as a frame sequence (which only the CDC cares about).

The metrics, per clip (all but CDC on the measured frames, see ``every`` below):

* **PSNR** (dB) of R'G'B' in [0, 1] with peak 1 (the same number as 8-bit values with peak 255,
  without their rounding): one mean squared error over all measured frames, pixels and the three
  channels, then ``10·log10(1 / MSE)`` — a film-level PSNR, not a mean of per-frame PSNRs; ``inf``
  when the pictures are identical (``null`` in JSON).
* **SSIM**: Gaussian-window SSIM (:func:`vidbw.metrics.ssim`, σ = 1.5, data range 1) computed
  on each of R', G', B' separately, averaged over the three channels, then over the frames.
* **Colourfulness** M of Hasler & Süsstrunk (2003), "Measuring colourfulness in natural images",
  on 0..255 values: ``rg = R − G``, ``yb = (R + G)/2 − B``,
  ``M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²)`` (population σ, signed μ, over the frame).
  The **ratio** is mean M(output) / mean M(truth) over the measured frames: 1 restores the
  original's colourfulness, 0 is gray (the gray baseline is 0 by construction), > 1 over-saturates.
* **CDC**, colour distribution consistency, of Liu et al. (2021), "Temporally Consistent Video
  Colorization with Deep Feature Propagation and Self-regularization Learning", as their released
  evaluation code computes it: for each of R', G', B' a 256-bin histogram of the 8-bit values
  normalised to sum 1; the Jensen–Shannon divergence (natural log, so at most ln 2) between the
  histograms of frame t and frame t + d, averaged over all pairs of the clip for each dilation
  d ∈ {1, 2, 4}; the three dilations weighted 1/3 each, then averaged over the channels. Lower is
  steadier; TRUTH's own CDC is the reference (real motion changes histograms too). A dilation with
  no pair (clips under five frames) is left out of the average; a single image has no CDC.
* **Luma kept**: colorization must leave the luma alone, so the max and mean |Y'(OUTPUT) −
  Y'(TRUTH)| is reported in TRUTH's luma codes: the luma level colorization keeps
  (:func:`vidbw.kernels.colour.luma_weights`), i.e. for YUV video the decoded Y' planes, OUTPUT's
  rescaled to TRUTH's bit depth and range if they differ; for images and RGB-coded video the
  Rec.709 Y' of R'G'B' at the picture's bit depth. The gray baseline is this level, clipped to
  [0, 1]. Lossy re-encoding changes luma a little, so this is reported, never failed on. It is
  measured on every frame, also with ``every`` > 1 (it is cheap).

``every = N`` measures PSNR, SSIM and colourfulness on frames 0, N, 2N, ... only (every frame is
still decoded: long-GOP video cannot skip decoding). CDC needs frames that follow each other, so
with N > 1 it uses the pairs (t, t + d), d ∈ {1, 2, 4}, that start at those frames t: the same
estimator as the paper's, on a subsample of its pairs (histograms of frames t + 1, t + 2, t + 4
are taken as well). With N = 1 every pair is used, exactly as in the paper.

``frames = range(A, B)`` measures frames A to B - 1 only (every Nth from A), to score a stretch of a
shot, e.g. before and after a key frame; CDC then takes the pairs that lie in it.

Frames are streamed: memory does not grow with the film's length. Clips of different frame
counts or picture sizes, or of different kinds (a video against a folder), are an InputError.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError, OptionError
from vidbw.metrics import finite_or_none, psnr_from_mse, ssim

__all__ = [
    "ColorizeReport",
    "Scores",
    "CDCAccumulator",
    "CDC_DILATIONS",
    "channel_histograms",
    "colourfulness",
    "js_divergence",
    "measure_colorize",
]

CDC_DILATIONS = (1, 2, 4)
ALL_FRAMES = range(sys.maxsize)  # no stretch chosen: the whole clip
HIST_BINS = 256


# --------------------------------------------------------------------------- the metrics


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's M of float R'G'B' (h, w, 3) in [0, 1], on the 0..255 scale."""
    r = rgb[..., 0].astype(np.float64)
    g = rgb[..., 1].astype(np.float64)
    b = rgb[..., 2].astype(np.float64)
    rg = (r - g) * 255.0
    yb = (0.5 * (r + g) - b) * 255.0
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """(C, 256) histograms of the 8-bit values of each channel of a float (h, w, C) picture in [0, 1],
    each summing to 1."""
    codes = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    counts = [cv2.calcHist([codes], [c], None, [HIST_BINS], [0, HIST_BINS]).ravel() for c in range(codes.shape[-1])]
    hists = np.stack(counts).astype(np.float64)
    return hists / hists.sum(axis=1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (natural log) between normalised histograms along the last axis."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=-1)
    return 0.5 * kl_p + 0.5 * kl_q


class CDCAccumulator:
    """Streaming CDC: feed the histograms of frames in order; keeps only the last few.

    Pairs (t, t + d) are taken for d in `dilations` and every start frame t that is a multiple
    of `every` (all frames when every = 1, the paper's definition); with `frames`, pairs within
    those frames, starting from their first."""

    def __init__(self, every: int = 1, dilations: tuple[int, ...] = CDC_DILATIONS, frames: range = ALL_FRAMES):
        self.every = every
        self.frames = frames
        self.dilations = tuple(dilations)
        self._hists: dict[int, np.ndarray] = {}
        self._sums = np.zeros((len(self.dilations), 3))
        self._counts = np.zeros(len(self.dilations), np.int64)

    def is_start(self, t: int) -> bool:
        return t in self.frames and (t - self.frames.start) % self.every == 0

    def needs(self, t: int) -> bool:
        """Whether frame t takes part in a pair (so its histograms are worth computing)."""
        return self.is_start(t) or (t in self.frames and any(self.is_start(t - d) for d in self.dilations))

    def add(self, t: int, hists: np.ndarray) -> None:
        for k, d in enumerate(self.dilations):
            start = self._hists.get(t - d)
            if start is not None and self.is_start(t - d) and t in self.frames:
                self._sums[k] += js_divergence(start, hists)
                self._counts[k] += 1
        self._hists[t] = hists
        for old in [i for i in self._hists if i < t - max(self.dilations)]:
            del self._hists[old]

    @property
    def pairs(self) -> int:
        return int(self._counts.sum())

    @property
    def value(self) -> float | None:
        """Mean over channels of the dilations' mean pair JS (equal weights); None without pairs."""
        used = self._counts > 0
        if not used.any():
            return None
        per_dilation = self._sums[used] / self._counts[used, None]  # (dilations used, 3 channels)
        return float(per_dilation.mean())


# --------------------------------------------------------------------------- the report


@dataclass
class Scores:
    psnr: float  # dB, R'G'B' in [0, 1], one MSE over all measured frames; inf when identical
    ssim: float  # mean over frames of the mean over R', G', B'
    colourfulness: float  # mean Hasler–Süsstrunk M over the measured frames (0..255 scale)
    colourfulness_ratio: float | None  # colourfulness / TRUTH's; None when TRUTH has none
    cdc: float | None  # None without frame pairs


@dataclass
class ColorizeReport:
    kind: str  # "video", "image" or "folder"
    frames: int  # frames (or images) in each clip
    measured: int  # frames that PSNR, SSIM and colourfulness were measured on
    every: int
    size: tuple[int, int]  # (width, height) of the first frame
    output: Scores
    gray: Scores  # TRUTH's luma with neutral chroma
    truth_colourfulness: float
    truth_cdc: float | None
    cdc_pairs: int  # frame pairs (all dilations) behind each CDC
    luma_max_abs: float  # |Y'(OUTPUT) - Y'(TRUTH)| over every frame, in TRUTH's luma codes
    luma_mean_abs: float
    luma_coding: str  # what the codes are, e.g. "8-bit limited range"
    notes: list[str] = field(default_factory=list)
    span: tuple[int, int] | None = None  # (first, last) frame of the stretch measured; None: the whole clip

    def to_dict(self) -> dict:
        return finite_or_none(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def lines(self) -> list[str]:
        w, h = self.size
        sampled = "every frame measured" if self.every == 1 else f"1 frame in {self.every} measured ({self.measured})"
        if self.span is not None:
            sampled = f"frames {self.span[0]}-{self.span[1]}, {sampled}"
        unit = "image" if self.kind != "video" else "frame"
        head = (
            f"colorization: {self.frames} {unit}{'s' if self.frames != 1 else ''} ({w}x{h}), {sampled}; "
            f"R'G'B' in [0, 1], PSNR peak 1"
        )
        rows = [head, f"{'':16}{'PSNR dB':>9}{'SSIM':>8}{'colourful':>11}{'ratio':>7}{'CDC':>10}"]
        for label, s in (("output", self.output), ("gray baseline", self.gray)):
            rows.append(
                f"{label:16}{_num(s.psnr, 2):>9}{_num(s.ssim, 4):>8}{_num(s.colourfulness, 2):>11}"
                f"{_num(s.colourfulness_ratio, 3):>7}{_num(s.cdc, 5):>10}"
            )
        rows.append(
            f"{'truth':16}{'-':>9}{'-':>8}{_num(self.truth_colourfulness, 2):>11}"
            f"{_num(1.0 if self.truth_colourfulness > 0 else None, 3):>7}{_num(self.truth_cdc, 5):>10}"
        )
        rows.append(
            f"luma kept: max |dY'| {self.luma_max_abs:.4g} codes, mean {self.luma_mean_abs:.4g} "
            f"({self.luma_coding} codes of TRUTH, over {self.frames} {unit}{'s' if self.frames != 1 else ''})"
        )
        return rows


def _num(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------- pictures


class _Picture:
    """One frame of a clip: its R'G'B' in [0, 1] (converted on first use) and its luma codes."""

    def __init__(
        self,
        label: str,
        size: tuple[int, int],
        to_rgb: Callable[[], np.ndarray],
        luma: Callable[[], np.ndarray] | None,
        luma_offset: float,
        luma_scale: float,
        coding: str,
    ):
        self.label = label
        self.size = size  # (w, h)
        self._to_rgb = to_rgb
        self._luma = luma  # None: Rec.709 Y' of the R'G'B', times luma_scale (RGB-coded pictures)
        self.luma_offset = luma_offset  # luma in [0, 1] = (code - offset) / scale
        self.luma_scale = luma_scale
        self.coding = coding
        self._rgb: np.ndarray | None = None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self._to_rgb()
        return self._rgb

    def luma_codes(self) -> np.ndarray:
        if self._luma is None:
            from vidbw.shots.analysis import rec709_luma

            return rec709_luma(self.rgb()) * np.float32(self.luma_scale)
        return self._luma()

    def luma01(self) -> np.ndarray:
        y = (self.luma_codes().astype(np.float32) - np.float32(self.luma_offset)) * np.float32(1.0 / self.luma_scale)
        return np.clip(y, 0.0, 1.0, out=y)


def _video_pictures(path: Path, info) -> Iterator[_Picture]:
    from vidbw.io.decode import DecodedFrame, DecodeStats, read_media
    from vidbw.io.probe import open_input
    from vidbw.kernels.colour import luma_weights, planes_to_small_rgb

    container = open_input(path)
    try:
        for item in read_media(container, info, [], DecodeStats()):
            assert isinstance(item, DecodedFrame)  # no streams copied: only frames come
            h, w = item.planes[0].shape
            fmt = item.source.format if item.source is not None else None
            bits = fmt.components[0].bits if fmt is not None else info.bit_depth

            def rgb(it=item, size=(w, h)):
                return planes_to_small_rgb(it.planes, it.to_rgb, size)

            label = f"frame {item.index}"
            # The luma level a colorization keeps (kernels.colour.luma_weights): L = w · (p0, p1, p2, 1).
            weights = luma_weights(item.to_rgb).astype(np.float64)
            if weights[1] == 0.0 and weights[2] == 0.0:  # Y'CbCr: the Y' plane itself
                coding = f"{bits}-bit {'full' if info.full_range else 'limited'} range"

                def y_plane(plane=item.planes[0]):
                    return plane  # named: mypy cannot infer it in the call

                picture = _Picture(label, (w, h), rgb, y_plane, -weights[3] / weights[0], 1.0 / weights[0], coding)
            else:  # R'G'B' planes: Rec.709 Y' of the picture
                peak = float(2**bits - 1)
                picture = _Picture(label, (w, h), rgb, None, 0.0, peak, f"{bits}-bit Rec.709 Y' of RGB")
            yield picture
    finally:
        container.close()


def _image_picture(path: Path, label: str) -> _Picture:
    from vidbw.io.images import read_image

    loaded = read_image(path)
    peak = float(2**loaded.bits - 1)
    h, w = loaded.rgb.shape[:2]
    pixels = loaded.rgb
    return _Picture(
        label,
        (w, h),
        lambda: pixels.astype(np.float32) * np.float32(1.0 / peak),
        None,
        0.0,
        peak,
        f"{loaded.bits}-bit Rec.709 Y' of RGB",
    )


def _folder_pairs(truth: Path, output: Path) -> tuple[list[Path], list[Path]]:
    from vidbw.io.images import list_images

    def by_stem(folder: Path) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for p in list_images(folder):
            if p.stem in found:
                raise InputError(f"two images named '{p.stem}' in {folder} ({found[p.stem].name}, {p.name})")
            found[p.stem] = p
        if not found:
            raise InputError(f"no images in folder: {folder}")
        return found

    t, o = by_stem(truth), by_stem(output)
    missing, extra = sorted(set(t) - set(o)), sorted(set(o) - set(t))
    if missing or extra:
        what = (
            f"{len(missing)} in TRUTH without an OUTPUT image (e.g. {t[missing[0]].name})"
            if missing
            else f"{len(extra)} in OUTPUT without a TRUTH image (e.g. {o[extra[0]].name})"
        )
        raise InputError(f"the folders do not hold the same image names: {what} ({truth}, {output})")
    stems = sorted(t)
    return [t[s] for s in stems], [o[s] for s in stems]


def _kind(path: Path) -> str:
    from vidbw.io.probe import is_image_path

    if path.is_dir():
        return "folder"
    if not path.exists():
        raise InputError(f"input not found: {path}")
    return "image" if is_image_path(path) else "video"


def _open_clips(truth: Path, output: Path) -> tuple[str, int, Iterable[_Picture], Iterable[_Picture], list[str]]:
    """The kind, the frame count, both clips' pictures (lazy) and notes; InputError when they cannot match."""
    kinds = _kind(truth), _kind(output)
    if kinds[0] != kinds[1]:
        raise InputError(
            f"TRUTH is a {kinds[0]} and OUTPUT is a {kinds[1]}: give two videos, two images or two folders"
        )
    kind = kinds[0]
    notes: list[str] = []
    if kind == "image":
        return kind, 1, iter([_image_picture(truth, truth.name)]), iter([_image_picture(output, output.name)]), notes
    if kind == "folder":
        t_paths, o_paths = _folder_pairs(truth, output)
        t_pics = (_image_picture(p, p.name) for p in t_paths)
        o_pics = (_image_picture(p, p.name) for p in o_paths)
        return kind, len(t_paths), t_pics, o_pics, notes

    from vidbw.io.decode import frame_timestamps
    from vidbw.io.probe import describe_video, open_input

    infos, counts = [], []
    for path in (truth, output):
        with open_input(path) as container:
            infos.append(describe_video(container, path))
            counts.append(len(frame_timestamps(container)))
    ti, oi = infos
    if (ti.width, ti.height) != (oi.width, oi.height):
        raise InputError(
            f"the clips differ in picture size: TRUTH {ti.width}x{ti.height}, OUTPUT {oi.width}x{oi.height}"
        )
    if counts[0] != counts[1]:
        raise InputError(f"the clips differ in length: TRUTH has {counts[0]} frames, OUTPUT {counts[1]}")
    if (ti.matrix, ti.full_range) != (oi.matrix, oi.full_range):
        notes.append(
            f"the clips are coded differently (TRUTH {ti.matrix} {'full' if ti.full_range else 'limited'} range, "
            f"OUTPUT {oi.matrix} {'full' if oi.full_range else 'limited'} range); each is decoded with its own"
        )
    return kind, counts[0], _video_pictures(truth, ti), _video_pictures(output, oi), notes


# --------------------------------------------------------------------------- measuring


class _Sums:
    """Running sums for one method (output or gray baseline) against TRUTH."""

    def __init__(self, every: int, frames: range):
        self.sse = 0.0
        self.values = 0
        self.ssim: list[float] = []
        self.colourfulness: list[float] = []
        self.cdc = CDCAccumulator(every, frames=frames)

    def add(self, rgb: np.ndarray, truth: np.ndarray) -> None:
        diff = (rgb - truth).astype(np.float64)  # rgb may be (h, w, 1) for the gray baseline: broadcast
        self.sse += float(np.vdot(diff, diff))
        self.values += truth.size
        self.ssim.append(float(np.mean([ssim(rgb[..., min(c, rgb.shape[-1] - 1)], truth[..., c]) for c in range(3)])))
        self.colourfulness.append(colourfulness(np.broadcast_to(rgb, truth.shape)))

    def scores(self, truth_colourfulness: float) -> Scores:
        mean_m = float(np.mean(self.colourfulness)) if self.colourfulness else 0.0
        return Scores(
            psnr=psnr_from_mse(self.sse / self.values) if self.values else float("nan"),
            ssim=float(np.mean(self.ssim)) if self.ssim else float("nan"),
            colourfulness=mean_m,
            colourfulness_ratio=mean_m / truth_colourfulness if truth_colourfulness > 0 else None,
            cdc=self.cdc.value,
        )


def measure_colorize(
    truth: str | os.PathLike,
    output: str | os.PathLike,
    every: int = 1,
    progress: Callable[[int, int], None] | None = None,
    frames: range | None = None,
) -> ColorizeReport:
    """Score `output`, a colorization of `truth` made gray, and the gray baseline against `truth`.

    Both are videos, images, or folders of images with the same names. `every` measures every Nth
    frame, `frames` (a range of frame numbers) only those (see the module docstring);
    `progress(done, total)` is called after each frame."""
    if every < 1:
        raise OptionError(f"`every` must be at least 1, got {every}", param="every")
    span = ALL_FRAMES if frames is None else frames
    if span.step != 1 or span.start < 0 or not span:
        raise OptionError(f"`frames` must be a run of frames from 0 on (START:END), got {frames}", param="frames")
    truth, output = Path(truth), Path(output)
    kind, total, truth_pics, output_pics, notes = _open_clips(truth, output)

    out, gray = _Sums(every, span), _Sums(every, span)
    truth_cdc = CDCAccumulator(every, frames=span)
    truth_m: list[float] = []
    luma_max, luma_sum, luma_count = 0.0, 0.0, 0
    size, coding = (0, 0), ""
    decoded = 0
    for t, (tp, op) in enumerate(itertools.zip_longest(truth_pics, output_pics)):
        if tp is None or op is None:
            longer = "TRUTH" if op is None else "OUTPUT"
            raise InputError(
                f"the clips differ in length: {longer} has more than {t} decodable frames ({truth}, {output})"
            )
        if tp.size != op.size:
            raise InputError(
                f"the pictures differ in size at {tp.label}: TRUTH {tp.size[0]}x{tp.size[1]}, "
                f"OUTPUT {op.size[0]}x{op.size[1]}"
            )
        if t == 0:
            size, coding = tp.size, tp.coding
        decoded += 1

        # Luma kept: every frame, in TRUTH's codes.
        yt, yo = tp.luma_codes(), op.luma_codes()
        if (tp.luma_offset, tp.luma_scale) == (op.luma_offset, op.luma_scale):
            diff = np.abs(yo.astype(np.float64) - yt)
        else:
            diff = np.abs(
                (yo.astype(np.float64) - op.luma_offset) * (tp.luma_scale / op.luma_scale) + tp.luma_offset - yt
            )
        luma_max = max(luma_max, float(diff.max()))
        luma_sum += float(diff.sum())
        luma_count += diff.size

        measured = truth_cdc.is_start(t)  # in `frames`, every `every`th from its first
        if measured or truth_cdc.needs(t):
            truth_rgb, out_rgb = tp.rgb(), op.rgb()
            gray_rgb = tp.luma01()[..., None]
            hists = channel_histograms(truth_rgb)
            truth_cdc.add(t, hists)
            out.cdc.add(t, channel_histograms(out_rgb))
            gray.cdc.add(t, np.repeat(channel_histograms(gray_rgb), 3, axis=0))  # R' = G' = B'
            if measured:
                truth_m.append(colourfulness(truth_rgb))
                out.add(out_rgb, truth_rgb)
                gray.add(gray_rgb, truth_rgb)
        if progress is not None:
            progress(decoded, total)

    if decoded == 0:
        raise InputError(f"no decodable frames ({truth}, {output})")
    if not truth_m:
        raise OptionError(f"`frames` start at {span.start}, beyond the clips' {decoded} frames", param="frames")
    if decoded != total:
        notes.append(f"decoded {decoded} frames where the frame table lists {total}")
    truth_mean_m = float(np.mean(truth_m)) if truth_m else 0.0
    if truth_mean_m == 0:
        notes.append("TRUTH has no colour (colourfulness 0): the colourfulness ratio is undefined")
    return ColorizeReport(
        kind=kind,
        frames=decoded,
        measured=len(truth_m),
        every=every,
        size=size,
        output=out.scores(truth_mean_m),
        gray=gray.scores(truth_mean_m),
        truth_colourfulness=truth_mean_m,
        truth_cdc=truth_cdc.value,
        cdc_pairs=truth_cdc.pairs,
        luma_max_abs=luma_max,
        luma_mean_abs=luma_sum / luma_count if luma_count else 0.0,
        luma_coding=coding,
        notes=notes,
        span=None if frames is None else (span.start, min(span.stop, decoded) - 1),
    )
