"""Gate weave removal: the frame's fast global jitter taken out, intended camera moves kept.

Each frame is summarised by the spectra of a small luma thumbnail's tiles. The shift between
neighbouring frames is found by band-limited phase correlation of each tile (sub-pixel), and the shift
most tiles agree on wins (the background, not a subject that moves on its own); the shifts are
memoised by frame index and chained into the camera path within the window. A Gaussian-weighted local
linear fit of that path is the intended move (a pan or drift is a straight line to it, even at the
edge of a shot); the frame is shifted by (fit - actual) with a separable cubic warp. Corrections
under `dead_zone` pixels leave the frame untouched, so a clip without weave is not resampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidbw.kernels.flow import DISFlow
from vidbw.restore.base import Part, Window, WorkFrame

__all__ = ["Stabilize", "global_steps", "residual_jitter", "shift_plane", "spectra_shift", "thumbnail", "tile_spectra"]

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
# Keys' cubic (a = -0.5): sharper than bilinear, which softens a half-pixel shift to a 2-tap average.
CUBIC_A = -0.5


@dataclass(frozen=True)
class Thumb:
    """What `Stabilize.summarise` keeps of a frame: its index and its thumbnail's tile spectra."""

    index: int
    spectra: np.ndarray  # complex64 `tile_spectra` of the thumbnail
    scale: tuple[float, float]  # full-size pixels per thumbnail pixel, (x, y)


def thumbnail(y: np.ndarray, width: int = THUMB_WIDTH) -> tuple[np.ndarray, tuple[float, float]]:
    """`y` area-averaged to about `width` columns (never enlarged), and the full-size pixels per thumbnail pixel."""
    h, w = y.shape
    if w <= width:
        return np.ascontiguousarray(y, dtype=np.float32), (1.0, 1.0)
    tw, th = width, max(1, round(h * width / w))
    small = cv2.resize(y.astype(np.float32, copy=False), (tw, th), interpolation=cv2.INTER_AREA)
    return small, (w / tw, h / th)


_tile_setup: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _tiles(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tile origins (ys, xs), tile size (h, w), Hanning window and band weight for a thumbnail shape."""
    setup = _tile_setup.get(shape)
    if setup is None:
        h, w = shape
        th, tw = min(h, TILE[0]), min(w, TILE[1])
        ys = np.linspace(0, h - th, TILES[0]).round().astype(int)
        xs = np.linspace(0, w - tw, TILES[1]).round().astype(int)
        ky, kx = np.fft.fftfreq(th)[:, None], np.fft.rfftfreq(tw)[None, :]
        band = np.exp(-(np.pi**2) * PEAK_SIGMA**2 * (kx**2 + ky**2)).astype(np.float32)
        hanning = cv2.createHanningWindow((tw, th), cv2.CV_32F)
        setup = _tile_setup[shape] = (ys, xs, np.array([th, tw]), hanning, band)
    return setup


def tile_spectra(image: np.ndarray) -> np.ndarray:
    """The half-spectra phase correlation needs of an image's overlapping tiles, (tiles, h, w // 2 + 1):
    each Hanning-windowed (so tile edges do not vote), whitened, and weighted by a Gaussian band.
    Plain phase correlation gives every frequency the same vote, and a thumbnail's highest ones are
    aliased and noisy: they scatter the peak by ~0.6 px at 720p. The band turns the peak into a
    Gaussian `PEAK_SIGMA` px wide, which a 3-point fit locates to ~0.05 px. Each side carries the
    square root of the band."""
    ys, xs, (th, tw), hanning, band = _tiles(image.shape)  # type: ignore[arg-type]
    tiles = np.stack([image[y : y + th, x : x + tw] for y in ys for x in xs])
    tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) * hanning
    spectra = np.fft.rfft2(tiles)
    return (spectra * (band / (np.abs(spectra) + 1e-9))).astype(np.complex64)


def _peak_fraction(before: np.ndarray, peak: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Where between its neighbours each sampled peak lies, in [-0.5, 0.5]: exact for a Gaussian (a fit
    on logarithms), a parabola where a sample is not positive."""
    positive = (before > 0) & (peak > 0) & (after > 0)
    before, peak, after = (np.where(positive, np.log(np.maximum(v, 1e-12)), v) for v in (before, peak, after))
    curvature = before - 2 * peak + after
    fraction = 0.5 * (before - after) / np.where(curvature < 0, curvature, -1.0)
    return np.clip(np.where(curvature < 0, fraction, 0.0), -0.5, 0.5)


def spectra_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How far the picture moved from image a to image b, (dx, dy) in their pixels, b(x) ~ a(x - d),
    from their `tile_spectra`. Each tile votes with its correlation peak; the shift most tiles agree
    on (within `AGREE` px, weighted by peak height) wins and its voters are averaged, so the
    background outvotes a subject that moves on its own, and flat tiles that only see noise."""
    th, tw = a.shape[1], (a.shape[2] - 1) * 2
    surface = np.fft.irfft2(np.conj(a) * b, s=(th, tw))
    tiles = np.arange(len(surface))
    iy, ix = np.divmod(surface.reshape(len(surface), -1).argmax(axis=1), tw)
    peak = surface[tiles, iy, ix]
    fx = _peak_fraction(surface[tiles, iy, (ix - 1) % tw], peak, surface[tiles, iy, (ix + 1) % tw])
    fy = _peak_fraction(surface[tiles, (iy - 1) % th, ix], peak, surface[tiles, (iy + 1) % th, ix])
    # The surface wraps: a peak past the middle is a negative shift.
    dx, dy = ix + fx, iy + fy
    shifts = np.stack([np.where(dx > tw / 2, dx - tw, dx), np.where(dy > th / 2, dy - th, dy)], axis=1)
    weight = np.maximum(peak, 0.0)
    agree = np.abs(shifts[:, None, :] - shifts[None, :, :]).max(axis=2) < AGREE
    voters = weight * agree[int(np.argmax(agree @ weight))]
    if voters.sum() <= 0:
        return 0.0, 0.0
    dx, dy = voters @ shifts / voters.sum()
    return float(dx), float(dy)


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


def _split(shift: float) -> tuple[int, np.ndarray | None]:
    """A shift as whole pixels n and the cubic taps for the rest: out(x) = src(x - shift)."""
    n = math.floor(shift)
    fraction = shift - n
    if fraction < 1e-4:
        return n, None
    if fraction > 1 - 1e-4:
        return n + 1, None
    # src(x - n - f) lies 1 - f past sample x - n - 1: taps at x' - 1 .. x' + 2 with x' = x - (n + 1).
    return n + 1, _cubic_taps(1.0 - fraction)


def shift_plane(plane: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`plane` moved by (dx, dy) pixels, out(x, y) = plane(x - dx, y - dy): a separable cubic for the
    fraction (a third of `cv2.warpAffine`'s cubic cost at 720p), whole pixels by slicing, the border reflected."""
    h, w = plane.shape
    nx, kx = _split(dx)
    ny, ky = _split(dy)
    out = plane
    if kx is not None or ky is not None:
        identity = np.ones(1, dtype=np.float32)
        # sepFilter2D correlates: tap j reads src(x + j - anchor), so anchor 1 puts the taps at x - 1 .. x + 2.
        out = cv2.sepFilter2D(
            plane,
            -1,
            kx if kx is not None else identity,
            ky if ky is not None else identity,
            anchor=(1 if kx is not None else 0, 1 if ky is not None else 0),
            borderType=cv2.BORDER_REFLECT,
        )
    if nx == 0 and ny == 0:
        return out if out is not plane else plane.copy()
    top, bottom, left, right = max(ny, 0), max(-ny, 0), max(nx, 0), max(-nx, 0)
    padded = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_REFLECT)
    return padded[bottom : bottom + h, right : right + w]


def smooth_at_centre(offsets: np.ndarray, path: np.ndarray, sigma: float) -> np.ndarray:
    """The value at offset 0 of a Gaussian-weighted straight-line fit of `path` (n, 2) at `offsets` (n,).

    A straight line, not a weighted mean: a steady pan is reproduced exactly, also at a shot's edge
    where the window is one-sided and a mean would lag behind the move."""
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    if len(offsets) < 3:
        return path[offsets == 0][0]
    design = np.stack([np.ones_like(offsets), offsets], axis=1) * np.sqrt(weights)[:, None]
    coefficients, *_ = np.linalg.lstsq(design, path * np.sqrt(weights)[:, None], rcond=None)
    return coefficients[0]


class Stabilize(Part):
    """Gate weave: shifts each frame onto the smoothed camera path of its shot (see the module docstring)."""

    name = "stabilize"
    radius = 0

    def __init__(self, summary_radius: int = 8, sigma: float = 3.0, dead_zone: float = 0.1) -> None:
        self.summary_radius = summary_radius
        self.sigma = sigma  # frames: jitter faster than this is weave, slower is the camera
        self.dead_zone = dead_zone  # full-size pixels: smaller corrections are not worth resampling every pixel

    def summarise(self, frame: WorkFrame) -> Thumb:
        image, scale = thumbnail(frame.y)
        return Thumb(frame.index, tile_spectra(image), scale)

    def _step(self, window: Window, offset: int) -> np.ndarray:
        """The picture's move from offset to offset + 1, in full-size pixels; memoised by frame index
        because the next 2 * summary_radius windows need the same pair."""
        a, b = window.summary(offset), window.summary(offset + 1)
        step = window.cache.get(a.index)
        if step is None:
            dx, dy = spectra_shift(a.spectra, b.spectra)
            step = window.cache[a.index] = np.array([dx * a.scale[0], dy * a.scale[1]])
        return step

    def correction(self, window: Window) -> np.ndarray:
        """(dx, dy) in full-size pixels that carries the centre frame onto the smoothed path."""
        first = last = 0
        while first > -self.summary_radius and window.summary(first - 1) is not None:
            first -= 1
        while last < self.summary_radius and window.summary(last + 1) is not None:
            last += 1
        offsets = np.arange(first, last + 1)
        path = np.zeros((len(offsets), 2))
        centre = -first
        for i in range(centre + 1, len(offsets)):
            path[i] = path[i - 1] + self._step(window, offsets[i - 1])
        for i in range(centre - 1, -1, -1):
            path[i] = path[i + 1] - self._step(window, offsets[i])
        return smooth_at_centre(offsets.astype(np.float64), path, self.sigma) - path[centre]

    def restore(self, window: Window) -> WorkFrame:
        frame = window.centre
        dx, dy = self.correction(window)
        if math.hypot(dx, dy) < self.dead_zone:
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
