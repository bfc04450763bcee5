"""Known damage on clean footage: flicker, dust, scratches and gate weave from a seeded generator.

Restoration is measured by damaging a clean real clip in ways archive film is damaged, restoring it
and scoring the result against the clean clip (`vidbw eval restore --clean`). Every defect is
drawn from `seed` and the frame's index alone, so a frame's damage does not depend on which frames
were damaged before it, and the masks say exactly where each defect is.

Amplitudes are in luma levels ([0, 1]); sizes in pixels of a 720-line frame, scaled to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

__all__ = ["DamageSpec", "Damager", "DamagedFrame", "Speck", "damage_clip", "ARCHIVE_DAMAGE"]


@dataclass(frozen=True)
class DamageSpec:
    flicker: float = 0.0  # std of the per-frame global gain around 1
    regional_flicker: float = 0.0  # std of the per-frame gain of one soft band or corner, on top
    dust: float = 0.0  # mean number of one-frame specks per frame
    scratches: int = 0  # persistent vertical scratches over the whole clip
    weave: float = 0.0  # std of the per-frame global shift, pixels (each axis; vertical is half)
    seed: int = 0


# Strong but ordinary archive damage: what the restoration targets in docs/RESTORE.md are measured on.
ARCHIVE_DAMAGE = DamageSpec(flicker=0.06, regional_flicker=0.08, dust=6.0, scratches=2, weave=1.0)


@dataclass(frozen=True)
class Speck:
    x: float
    y: float
    radius: float  # pixels: the core, where the speck covers the picture fully


@dataclass
class DamagedFrame:
    y: np.ndarray  # float32 luma in [0, 1]
    dust: np.ndarray  # bool: where a speck covers more than half the picture
    scratches: np.ndarray  # bool: where a scratch changes the picture by more than a third of its strength
    specks: list[Speck] = field(default_factory=list)
    shift: tuple[float, float] = (0.0, 0.0)  # the weave applied to this frame (dx, dy), pixels
    gain: float = 1.0  # the global flicker gain applied


@dataclass(frozen=True)
class _Scratch:
    x: float  # where it starts, pixels
    drift: float  # pixels per frame
    width: float  # pixels (Gaussian sigma is a third of it)
    strength: float  # signed level change at its centre
    fade: float  # how much its strength varies down the frame (0: constant)


class Damager:
    """`Damager(spec, (h, w))(index, clean_y)`: one frame's damage, from the seed and the index."""

    def __init__(self, spec: DamageSpec, shape: tuple[int, int]):
        self.spec = spec
        self.shape = shape
        self.scale = shape[0] / 720.0
        film = np.random.default_rng([spec.seed, 0x5EED])
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # Uneven flicker lights a soft band across the frame or a corner: archive exposure is rarely flat.
        if film.random() < 0.5:
            centre, spread = film.uniform(0.2, 0.8) * h, film.uniform(0.12, 0.25) * h
            self.region = np.exp(-0.5 * ((yy - centre) / spread) ** 2)
        else:
            cx, cy = film.choice([0.0, w]), film.choice([0.0, h])
            self.region = np.exp(-0.5 * (((xx - cx) ** 2 + (yy - cy) ** 2) / (0.45 * max(h, w)) ** 2))
        self.region = self.region.astype(np.float32)
        self.scratch_list = [
            _Scratch(
                x=float(film.uniform(0.1, 0.9) * w),
                drift=float(film.uniform(-0.3, 0.3) * self.scale),
                width=float(film.uniform(1.0, 3.0) * self.scale),
                strength=float(film.choice([-1, 1]) * film.uniform(0.12, 0.3)),
                fade=float(film.uniform(0.0, 0.6)),
            )
            for _ in range(spec.scratches)
        ]
        self._xx = xx[0]
        self._yy = yy[:, 0]

    def __call__(self, index: int, clean_y: np.ndarray) -> DamagedFrame:
        spec = self.spec
        rng = np.random.default_rng([spec.seed, index])
        y = clean_y.astype(np.float32)
        shift = (0.0, 0.0)
        if spec.weave > 0:
            shift = (float(rng.normal(0, spec.weave) * self.scale), float(rng.normal(0, spec.weave / 2) * self.scale))
            y = shifted(y, shift)
        scratches = np.zeros(self.shape, bool)
        for scratch in self.scratch_list:
            profile = self._scratch_profile(scratch, index, rng)
            y = y + profile
            scratches |= np.abs(profile) > abs(scratch.strength) / 3
        dust = np.zeros(self.shape, bool)
        specks = []
        for _ in range(rng.poisson(spec.dust) if spec.dust > 0 else 0):
            speck, alpha = self._speck(rng)
            specks.append(speck)
            level = rng.uniform(0.0, 0.15) if rng.random() < 0.7 else rng.uniform(0.85, 1.0)
            y = y * (1 - alpha) + np.float32(level) * alpha
            dust |= alpha > 0.5
        gain = 1.0 + (float(np.clip(rng.normal(0, spec.flicker), -0.3, 0.3)) if spec.flicker > 0 else 0.0)
        regional = float(np.clip(rng.normal(0, spec.regional_flicker), -0.4, 0.4)) if spec.regional_flicker else 0.0
        y = y * np.float32(gain) * (1 + np.float32(regional) * self.region)
        return DamagedFrame(np.clip(y, 0, 1).astype(np.float32), dust, scratches, specks, shift, gain)

    def _scratch_profile(self, scratch: _Scratch, index: int, rng) -> np.ndarray:
        x = scratch.x + scratch.drift * index + rng.normal(0, 0.3 * self.scale)
        across = np.exp(-0.5 * ((self._xx - x) / (scratch.width / 3)) ** 2)
        # Strength varies slowly down the frame and a little from frame to frame.
        down = 1 - scratch.fade * (0.5 + 0.5 * np.sin(self._yy / self.shape[0] * 3 * np.pi + index * 0.3))
        return (np.float32(scratch.strength * rng.uniform(0.8, 1.0)) * np.outer(down, across)).astype(np.float32)

    def _speck(self, rng) -> tuple[Speck, np.ndarray]:
        h, w = self.shape
        radius = float(rng.uniform(1.0, 6.0) * self.scale)
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        stretch, angle = rng.uniform(1.0, 2.5), rng.uniform(0, np.pi)
        alpha = np.zeros(self.shape, np.float32)
        reach = int(np.ceil(radius * stretch + 3))
        x0, x1, y0, y1 = (
            max(0, int(x) - reach),
            min(w, int(x) + reach + 1),
            max(0, int(y) - reach),
            min(h, int(y) + reach + 1),
        )
        if x0 < x1 and y0 < y1:
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            u = (xx - x) * np.cos(angle) + (yy - y) * np.sin(angle)
            v = -(xx - x) * np.sin(angle) + (yy - y) * np.cos(angle)
            distance = np.sqrt((u / stretch) ** 2 + v**2)
            alpha[y0:y1, x0:x1] = np.clip(1.5 - distance / max(radius, 0.5), 0, 1)  # soft edge, half a radius wide
        return Speck(x, y, radius), alpha


def shifted(plane: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """The plane moved by (dx, dy) pixels, sub-pixel (bicubic), borders reflected."""
    matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    h, w = plane.shape
    return cv2.warpAffine(plane, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def damage_clip(
    source: Path, clean_out: Path, damaged_out: Path, spec: DamageSpec, max_frames: int | None = None
) -> int:
    """Write the clip's luma, clean and damaged, as lossless FFV1 (yuv420p, neutral chroma, same
    rate and timestamps). Returns the number of frames written."""
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        writers = [_LosslessWriter(path, video) for path in (clean_out, damaged_out)]
        damager: Damager | None = None
        count = 0
        try:
            for frame in container.decode(video):
                if max_frames is not None and count >= max_frames:
                    break
                clean = frame.to_ndarray(format="gray").astype(np.float32) / 255.0
                damager = damager or Damager(spec, clean.shape)
                damaged = damager(count, clean)
                writers[0].write(clean, frame.pts)
                writers[1].write(damaged.y, frame.pts)
                count += 1
        finally:
            for writer in writers:
                writer.close()
    return count


class _LosslessWriter:
    def __init__(self, path: Path, like):
        self.output = av.open(str(path), "w")
        self.stream = self.output.add_stream("ffv1", rate=like.average_rate)
        self.stream.width = like.codec_context.width // 2 * 2
        self.stream.height = like.codec_context.height // 2 * 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = like.time_base

    def write(self, y: np.ndarray, pts) -> None:
        h, w = self.stream.height, self.stream.width
        codes = np.clip(np.rint(16 + 219 * y[:h, :w]), 0, 255).astype(np.uint8)
        # yuv420p as from_ndarray takes it: the luma rows, then both chroma planes (neutral) flattened.
        frame = av.VideoFrame.from_ndarray(np.vstack([codes, np.full((h // 2, w), 128, np.uint8)]), format="yuv420p")
        frame.pts = pts
        frame.time_base = self.stream.time_base
        for packet in self.stream.encode(frame):
            self.output.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.output.mux(packet)
        self.output.close()
