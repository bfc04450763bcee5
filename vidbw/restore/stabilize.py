"""Gate weave removal: the frame's fast global jitter taken out, intended camera moves kept.

Each frame is summarised by a small luma thumbnail, the spectra of its tiles (cv2.dft) and how
textured each tile is. The shift between neighbouring frames is found by band-limited phase
correlation of each tile (sub-pixel); textured tiles with a clear peak vote, and the shift most of them
agree on wins (the background, not a subject that moves on its own). A step is trusted only when
enough tiles agree and the shift explains the structure of a good part of the picture (a plane
against plain sky has four tiles' votes and 3 % of the picture); otherwise it is unknown. The trusted
steps are memoised by frame index and chained into the camera path within the window, which stops at
an unknown step as at a cut. A Gaussian-weighted local linear fit of that path is the intended move (a
pan or drift is a straight line to it, even at the edge of a shot); the frame is shifted by
(fit - actual) with a separable cubic. A frame is left untouched (not resampled) when the correction
is under `dead_zone` pixels or under `sure` times its own standard error (from the voters' scatter),
and when no trusted step touches it: a clip without weave, or one the tiles cannot read, comes back
as it went in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidbw.kernels.flow import DISFlow
from vidbw.restore.base import Part, Window, WorkFrame

__all__ = [
    "Stabilize",
    "Step",
    "Thumb",
    "explained",
    "global_steps",
    "residual_jitter",
    "shift_plane",
    "spectra_shift",
    "thumbnail",
    "tile_spectra",
]

# Phase correlation runs on thumbnails this wide: ~1 ms a frame, and ~0.05 px precise at 720p.
THUMB_WIDTH = 320
# Thumbnail tiles that vote on the shift, rows x columns, and their size (h, w), overlapping: 3 x 5 of 72 x 80
# beat 3 x 4 (a moving subject fills more of each tile) and 4 x 6 (smaller tiles scatter more).
TILES, TILE = (3, 5), (72, 80)
# The correlation peak's width in thumbnail pixels (see `tile_spectra`): 1 scattered more on real clips,
# 2 and 3 gained little; wider peaks merge sooner with a subject that moves on its own.
PEAK_SIGMA = 1.5
# Tiles whose shifts differ by less than this (thumbnail pixels, 0.6 px at 720p) agree.
AGREE = 0.15
# A tile votes when its band-limited gradient is at least this (RMS, luma per thumbnail pixel): plain sky
# and flat walls have ~0.001, the least textured tiles of ordinary shots ~0.01.
TEXTURE = 0.004
# ... and its correlation peak reaches this fraction of a perfect match's (a tile matched to itself).
PEAK = 0.35
# A step is known when at least this many tiles vote for it, and ...
VOTERS = 3
# ... the shift they agree on explains the structure of at least this fraction of the picture (see
# `explained`). A plane against a plain sky: 0.01-0.05 (it sits where four tiles overlap, so it has
# the votes); a subject filling most of a room, a pan with parallax, heavy grain: 0.15 and more.
AREA = 0.1
# `explained` judges cells this many thumbnail pixels square: a textured cell (gradient RMS at least
# `CELL_TEXTURE`) is explained when what is left after the shift is at most `FIT` of its gradient energy
# (a misalignment of ~0.5 px, or grain alone, leaves more).
CELL, CELL_TEXTURE, FIT = 10, 0.01, 0.25
# One tile's shift is this precise at best (thumbnail pixels), however well the voters agree.
PRECISION = 0.05
# Keys' cubic (a = -0.5): sharper than bilinear, which softens a half-pixel shift to a 2-tap average.
CUBIC_A = -0.5


@dataclass(frozen=True)
class Thumb:
    """What `Stabilize.summarise` keeps of a frame: its index, its thumbnail's tile spectra, and which
    tiles have enough texture to vote."""

    index: int
    image: np.ndarray  # the thumbnail
    spectra: np.ndarray  # (tiles, h, w, 2) float32 `tile_spectra` of the thumbnail
    textured: np.ndarray  # (tiles,) bool: the tile's texture is at least `TEXTURE`
    detail: np.ndarray  # `cell_detail` of the thumbnail
    scale: tuple[float, float]  # full-size pixels per thumbnail pixel, (x, y)

    @classmethod
    def of(cls, index: int, y: np.ndarray) -> Thumb:
        image, scale = thumbnail(y)
        spectra, texture = tile_spectra(image)
        return cls(index, image, spectra, texture >= TEXTURE, cell_detail(image), scale)


@dataclass(frozen=True)
class Step:
    """The picture's move from one frame to the next, in full-size pixels, when the tiles are sure of it."""

    shift: np.ndarray | None  # (dx, dy), None when too few tiles agree: the move is unknown
    spread: float  # its standard error, full-size pixels (the voters' scatter over their number)
    voters: int


def thumbnail(y: np.ndarray, width: int = THUMB_WIDTH) -> tuple[np.ndarray, tuple[float, float]]:
    """`y` area-averaged to about `width` columns (never enlarged), and the full-size pixels per thumbnail pixel."""
    h, w = y.shape
    if w <= width:
        return np.ascontiguousarray(y, dtype=np.float32), (1.0, 1.0)
    tw, th = width, max(1, round(h * width / w))
    small = cv2.resize(y.astype(np.float32, copy=False), (tw, th), interpolation=cv2.INTER_AREA)
    return small, (w / tw, h / th)


@dataclass(frozen=True)
class _TileSetup:
    ys: np.ndarray  # tile origins
    xs: np.ndarray
    size: tuple[int, int]  # (h, w)
    hanning: np.ndarray
    band: np.ndarray  # (h, w, 1) the Gaussian band on the full (complex) spectrum
    slope: np.ndarray  # (h, w) band * (2 pi |k|)^2 / (N * sum(hanning^2)): a spectrum's power to mean squared gradient
    peak: float  # the correlation peak of a tile with itself: what a perfect match reaches


_tile_setup: dict[tuple[int, int], _TileSetup] = {}


def _tiles(shape: tuple[int, int]) -> _TileSetup:
    """Tile origins, size, Hanning window and band weights for a thumbnail shape."""
    setup = _tile_setup.get(shape)
    if setup is None:
        h, w = shape
        th, tw = min(h, TILE[0]), min(w, TILE[1])
        ys = np.linspace(0, h - th, TILES[0]).round().astype(int)
        xs = np.linspace(0, w - tw, TILES[1]).round().astype(int)
        ky, kx = np.fft.fftfreq(th)[:, None], np.fft.fftfreq(tw)[None, :]
        band = np.exp(-(np.pi**2) * PEAK_SIGMA**2 * (kx**2 + ky**2)).astype(np.float32)
        hanning = cv2.createHanningWindow((tw, th), cv2.CV_32F)
        slope = band * (2 * np.pi) ** 2 * (kx**2 + ky**2) / (th * tw * float((hanning**2).sum()))
        # cv2.idft without DFT_SCALE: the sum over the spectrum of the squared band.
        peak = float((band.astype(np.float64) ** 2).sum())
        setup = _tile_setup[shape] = _TileSetup(
            ys, xs, (th, tw), hanning, np.ascontiguousarray(band[..., None]), slope.astype(np.float32), peak
        )
    return setup


def tile_spectra(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spectra phase correlation needs of an image's overlapping tiles, (tiles, h, w, 2) (cv2.dft's
    complex layout), and each tile's texture: the RMS of its band-limited gradient, luma per pixel.

    Each tile is Hanning-windowed (so tile edges do not vote), whitened, and weighted by a Gaussian
    band. Plain phase correlation gives every frequency the same vote, and a thumbnail's highest ones
    are aliased and noisy: they scatter the peak by ~0.6 px at 720p. The band (on each side, so the
    product carries its square) turns the peak into a Gaussian ~`PEAK_SIGMA` px wide, which a 3-point
    fit locates to ~0.05 px. Whitening throws the tile's contrast away; the texture keeps it, so a tile
    of plain sky (whose peak is any faint pattern, or the codec's) can be kept from voting."""
    setup = _tiles(image.shape)  # type: ignore[arg-type]
    th, tw = setup.size
    spectra = np.empty((len(setup.ys) * len(setup.xs), th, tw, 2), np.float32)
    i = 0
    for y in setup.ys:
        for x in setup.xs:
            tile = image[y : y + th, x : x + tw]
            tile = cv2.multiply(cv2.subtract(tile, cv2.mean(tile)), setup.hanning)  # type: ignore[call-overload]
            cv2.dft(tile, spectra[i], flags=cv2.DFT_COMPLEX_OUTPUT)
            i += 1
    complex_view = spectra.view(np.complex64)[..., 0]  # cv2's (re, im) pairs are numpy's complex64
    magnitude = np.abs(complex_view)
    texture = np.sqrt(np.einsum("thw,hw->t", magnitude * magnitude, setup.slope))
    complex_view *= setup.band[..., 0] / (magnitude + np.float32(1e-9))
    return spectra, texture


def _peak_fraction(before: np.ndarray, peak: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Where between its neighbours each sampled peak lies, in [-0.5, 0.5]: exact for a Gaussian (a fit
    on logarithms), a parabola where a sample is not positive."""
    positive = (before > 0) & (peak > 0) & (after > 0)
    before, peak, after = (np.where(positive, np.log(np.maximum(v, 1e-12)), v) for v in (before, peak, after))
    curvature = before - 2 * peak + after
    fraction = 0.5 * (before - after) / np.where(curvature < 0, curvature, -1.0)
    return np.clip(np.where(curvature < 0, fraction, 0.0), -0.5, 0.5)


def tile_shifts(a: np.ndarray, b: np.ndarray, setup: _TileSetup) -> tuple[np.ndarray, np.ndarray]:
    """Each tile's move from a to b, (tiles, 2) as (dx, dy) in their pixels, b(x) ~ a(x - d), and its
    correlation peak's height as a fraction of a perfect match's, from their `tile_spectra`."""
    th, tw = setup.size
    products = (b.view(np.complex64) * np.conj(a.view(np.complex64))).view(np.float32)
    surface = np.empty((len(products), th, tw), np.float32)
    for product, out in zip(products, surface):
        cv2.idft(product, out, flags=cv2.DFT_REAL_OUTPUT)
    tiles = np.arange(len(surface))
    iy, ix = np.divmod(surface.reshape(len(surface), -1).argmax(axis=1), tw)
    peak = surface[tiles, iy, ix]
    fx = _peak_fraction(surface[tiles, iy, (ix - 1) % tw], peak, surface[tiles, iy, (ix + 1) % tw])
    fy = _peak_fraction(surface[tiles, (iy - 1) % th, ix], peak, surface[tiles, (iy + 1) % th, ix])
    # The surface wraps: a peak past the middle is a negative shift.
    dx, dy = ix + fx, iy + fy
    shifts = np.stack([np.where(dx > tw / 2, dx - tw, dx), np.where(dy > th / 2, dy - th, dy)], axis=1)
    return shifts, peak / setup.peak


def _cells(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    return cv2.resize(plane, (max(1, w // CELL), max(1, h // CELL)), interpolation=cv2.INTER_AREA)


def cell_detail(image: np.ndarray) -> np.ndarray:
    """The mean squared gradient (forward differences, both axes) of an image's `CELL`-sized cells."""
    gx = cv2.subtract(image[:, 1:], image[:, :-1])
    gy = cv2.subtract(image[1:, :], image[:-1, :])
    energy = np.zeros_like(image)
    energy[:, :-1] = cv2.multiply(gx, gx)
    energy[:-1, :] += cv2.multiply(gy, gy)
    return _cells(energy)


def explained(a: Thumb, b: Thumb, shift: np.ndarray) -> float:
    """The fraction of the picture (its `CELL`-sized cells, but the outer ring) whose structure moving
    thumbnail a by `shift` (thumbnail pixels) accounts for in b: cells textured in both frames where
    the difference left, less its mean (a local brightness change is not a mismatch), is at most `FIT`
    of their gradient energy. Agreeing tiles can all be looking at one small subject; this sees that
    the rest of the picture is plain, or moved otherwise."""
    h, w = a.image.shape
    moved = cv2.warpAffine(
        a.image,
        np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    difference = cv2.subtract(b.image, moved)
    mean = _cells(difference)
    residual = cv2.subtract(_cells(cv2.multiply(difference, difference)), cv2.multiply(mean, mean))
    detail = np.minimum(a.detail, b.detail)
    fits = (detail >= CELL_TEXTURE**2) & (residual <= FIT * detail)
    inner = fits[1:-1, 1:-1] if min(fits.shape) > 2 else fits
    return float(inner.mean())


def spectra_shift(a: Thumb, b: Thumb) -> Step:
    """How far the picture moved from frame a to frame b, in full-size pixels, and how sure that is.

    Each tile votes with its correlation peak, if it has texture in both frames (`TEXTURE`) and its
    peak is high enough to be a match (`PEAK`); the shift most tiles agree on (within `AGREE` px,
    weighted by peak height) wins and its voters are averaged, so the background outvotes a subject
    that moves on its own. Fewer than `VOTERS` voters (plain sky, a subject filling the frame, a
    blur) and the step is unknown."""
    setup = _tiles(a.image.shape)  # type: ignore[arg-type]
    shifts, peak = tile_shifts(a.spectra, b.spectra, setup)
    weight = np.where(a.textured & b.textured & (peak >= PEAK), peak, 0.0)
    agree = np.abs(shifts[:, None, :] - shifts[None, :, :]).max(axis=2) < AGREE
    voters = weight * agree[int(np.argmax(agree @ weight))]
    count = int(np.count_nonzero(voters))
    if count < VOTERS:
        return Step(None, math.inf, count)
    mean = voters @ shifts / voters.sum()
    if explained(a, b, mean) < AREA:
        return Step(None, math.inf, count)
    scatter = float(np.sqrt(voters @ ((shifts - mean) ** 2).sum(axis=1) / voters.sum()))
    scale = np.array(a.scale)
    spread = math.hypot(scatter, PRECISION) / math.sqrt(count) * float(scale.mean())
    return Step(mean * scale, spread, count)


def _cubic_taps(t: float) -> np.ndarray:
    """The four Keys weights for sampling at fraction t in [0, 1) past the second of four samples."""
    a = CUBIC_A
    taps = []
    for d in (t + 1.0, t, 1.0 - t, 2.0 - t):
        if d <= 1.0:
            taps.append((a + 2) * d**3 - (a + 3) * d**2 + 1)
        else:
            taps.append(a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a)
    return np.array(taps, dtype=np.float32)


def _kernel(shift: float) -> tuple[np.ndarray, int]:
    """A 1-D kernel and its anchor for `cv2.sepFilter2D` that moves a row (or column) by `shift`
    pixels, out(x) = src(x - shift): the cubic taps for the fraction, the whole pixels folded in as
    zeros on one side (cheaper than shifting the result by slicing and padding it)."""
    n = math.floor(shift)
    fraction = shift - n
    if fraction < 1e-4 or fraction > 1 - 1e-4:
        taps, first = np.ones(1, np.float32), -(n + round(fraction))  # out(x) = src(x + first)
    else:
        # src(x - n - f) lies 1 - f past sample x - n - 1: taps read x - n - 2 .. x - n + 1.
        taps, first = _cubic_taps(1.0 - fraction), -n - 2
    # sepFilter2D correlates: tap i reads src(x + i - anchor).
    kernel = np.zeros(len(taps) + abs(first) if first > 0 else max(len(taps), 1 - first), np.float32)
    start = max(first, 0)
    kernel[start : start + len(taps)] = taps
    return kernel, max(-first, 0)


def shift_plane(plane: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`plane` moved by (dx, dy) pixels, out(x, y) = plane(x - dx, y - dy), the border reflected: one
    separable filter, cubic for the fraction (a third of `cv2.warpAffine`'s cubic cost at 720p) with the
    whole pixels folded in."""
    kx, ax = _kernel(dx)
    ky, ay = _kernel(dy)
    if len(kx) == 1 and len(ky) == 1:
        return plane.copy()
    return cv2.sepFilter2D(plane, -1, kx, ky, anchor=(ax, ay), borderType=cv2.BORDER_REFLECT)


def centre_weights(offsets: np.ndarray, sigma: float) -> np.ndarray:
    """The weights h with which a Gaussian-weighted straight-line fit of a path at `offsets` (n,) gives
    its value at offset 0: fit(0) = h @ path.

    A straight line, not a weighted mean: a steady pan is reproduced exactly, also at a shot's edge
    where the window is one-sided and a mean would lag behind the move."""
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    design = np.stack([np.ones_like(offsets), offsets], axis=1)
    normal = design.T @ (design * weights[:, None])
    return np.linalg.solve(normal, design.T * weights)[0]


class Stabilize(Part):
    """Gate weave: shifts each frame onto the smoothed camera path of its shot (see the module docstring)."""

    name = "stabilize"
    radius = 0

    def __init__(self, summary_radius: int = 8, sigma: float = 3.0, dead_zone: float = 0.1, sure: float = 3.0) -> None:
        self.summary_radius = summary_radius
        self.sigma = sigma  # frames: jitter faster than this is weave, slower is the camera
        self.dead_zone = dead_zone  # full-size pixels: smaller corrections are not worth resampling every pixel
        self.sure = sure  # a correction is made when it is this many of its own standard errors

    def summarise(self, frame: WorkFrame) -> Thumb:
        return Thumb.of(frame.index, frame.y)

    def _step(self, window: Window, offset: int) -> Step:
        """The picture's move from offset to offset + 1; memoised by frame index because the next
        2 * summary_radius windows need the same pair."""
        a, b = window.summary(offset), window.summary(offset + 1)
        step = window.cache.get(a.index)
        if step is None:
            step = window.cache[a.index] = spectra_shift(a, b)
        return step

    def correction(self, window: Window) -> tuple[np.ndarray, float]:
        """(dx, dy) in full-size pixels that carries the centre frame onto the smoothed path, and its
        standard error. The path runs through the known steps around the centre and stops at an
        unknown one (or the shot's edge); with no known step beside it a frame is not moved."""
        steps: list[Step] = []
        first = 0
        while first > -self.summary_radius and window.summary(first - 1) is not None:
            step = self._step(window, first - 1)
            if step.shift is None:
                break
            steps.insert(0, step)
            first -= 1
        last = 0
        while last < self.summary_radius and window.summary(last + 1) is not None:
            step = self._step(window, last)
            if step.shift is None:
                break
            steps.append(step)
            last += 1
        if last - first < 2:
            return np.zeros(2), 0.0
        offsets = np.arange(first, last + 1, dtype=np.float64)
        # The path relative to the centre is `chain @ shifts`: later frames add the steps before them,
        # earlier ones subtract the steps after them.
        chain = np.zeros((len(offsets), len(steps)))
        centre = -first
        for i in range(len(offsets)):
            if i > centre:
                chain[i, centre:i] = 1.0
            elif i < centre:
                chain[i, i:centre] = -1.0
        shifts = np.array([step.shift for step in steps])
        gain = centre_weights(offsets, self.sigma) @ chain  # the correction per step: fit(0) - path(0), path(0) = 0
        spread = float(np.sqrt(np.sum((gain * np.array([step.spread for step in steps])) ** 2)))
        return gain @ shifts, spread

    def restore(self, window: Window) -> WorkFrame:
        frame = window.centre
        (dx, dy), spread = self.correction(window)
        if math.hypot(dx, dy) < max(self.dead_zone, self.sure * spread):
            return frame
        h, w = frame.y.shape
        ch, cw = frame.chroma_shape
        cx, cy = dx * cw / w, dy * ch / h
        grain = None if frame.grain is None else shift_plane(frame.grain, dx, dy)  # the grain moves with its picture
        return replace(
            frame,
            y=shift_plane(frame.y, dx, dy),
            cb=shift_plane(frame.cb, cx, cy),
            cr=shift_plane(frame.cr, cx, cy),
            grain=grain,
        )


def global_steps(frames: list[np.ndarray], width: int = 640) -> np.ndarray:
    """(n - 1, 2): each frame's global move to the next, (dx, dy) in full-size pixels: the median of DIS
    flow over the frame (at most `width` columns wide). A measure, not what `Stabilize` steers by, so
    the part is not graded by its own estimator."""
    flow = DISFlow()
    scale = max(1.0, frames[0].shape[1] / width)
    size = (round(frames[0].shape[1] / scale), round(frames[0].shape[0] / scale))
    codes = [
        np.clip(cv2.resize(f, size, interpolation=cv2.INTER_AREA) * 255 + 0.5, 0, 255).astype(np.uint8) for f in frames
    ]
    return np.array([np.median(flow(a, b).forward.reshape(-1, 2), axis=0) * scale for a, b in zip(codes, codes[1:])])


def residual_jitter(frames: list[np.ndarray], trend_sigma: float = 3.0) -> float:
    """The weave left in a run of luma frames (one shot), in full-size pixels: the RMS of the
    frame-to-frame global move (`global_steps`) after its smooth trend (Gaussian, `trend_sigma`
    frames, renormalised at the ends) is removed."""
    steps = global_steps(frames)
    t = np.arange(len(steps))
    weights = np.exp(-0.5 * ((t[:, None] - t[None, :]) / trend_sigma) ** 2)
    trend = weights @ steps / weights.sum(axis=1, keepdims=True)
    return float(np.sqrt(np.mean(np.sum((steps - trend) ** 2, axis=1))))
