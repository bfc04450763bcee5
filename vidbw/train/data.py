"""Training data: colour photographs and video frames, low-resolution, in memory.

``load_sources(paths)`` accepts folders of images and video files (or folders holding
videos); images are read with :func:`vidbw.io.images.read_image`, video frames are
sampled at evenly spaced random positions with decord when it is installed (random
access), else PyAV.  Everything is kept as float32 R'G'B' with the long side at most
``max_side`` (training never needs more: the grid network sees <= 256 px).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.kernels.colour import small_size

__all__ = ["load_sources", "resize_max", "augment", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".ts"}


def resize_max(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    size = small_size(w, h, max_side)
    if size != (w, h):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb, dtype=np.float32)


def _image_float(path: Path, max_side: int) -> np.ndarray:
    from vidbw.io.images import read_image

    img = read_image(path)
    rgb = img.rgb.astype(np.float32) / float(2**img.bits - 1)
    return resize_max(rgb, max_side)


def _video_frames(path: Path, count: int, max_side: int, rng: np.random.Generator) -> list[np.ndarray]:
    try:
        import decord  # random access: only the sampled frames are decoded

        vr = decord.VideoReader(str(path))
        n = len(vr)
        idx = np.unique(
            np.clip((np.linspace(0.05, 0.95, count) * n + rng.integers(-5, 6, count)).astype(int), 0, n - 1)
        )
        frames = vr.get_batch(list(idx)).asnumpy()
        return [resize_max(f.astype(np.float32) / 255.0, max_side) for f in frames]
    except ImportError:
        pass
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 300
        want = set(np.clip((np.linspace(0.05, 0.95, count) * total).astype(int), 0, total - 1).tolist())
        for i, frame in enumerate(container.decode(stream)):
            if i in want:
                out.append(resize_max(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0, max_side))
            if i > max(want):
                break
    return out


def load_sources(paths, max_side: int = 256, frames_per_video: int = 6, seed: int = 0) -> list[np.ndarray]:
    """All images of ``paths`` (folders, image files, video files) as float32 (h, w, 3) arrays."""
    from vidbw.io.images import list_images

    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in list_images(p):
                images.append(_image_float(f, max_side))
            for f in sorted(p.iterdir()):
                if f.suffix.lower() in VIDEO_SUFFIXES:
                    images.extend(_video_frames(f, frames_per_video, max_side, rng))
        elif p.suffix.lower() in VIDEO_SUFFIXES:
            images.extend(_video_frames(p, frames_per_video, max_side, rng))
        elif p.is_file():
            images.append(_image_float(p, max_side))
        else:
            raise InputError(f"no such training data: {p}")
    if not images:
        raise InputError("no training images found in " + ", ".join(map(str, paths)))
    return images


def augment(rgb: np.ndarray, rng: np.random.Generator, size: int, jitter: float = 0.04) -> np.ndarray:
    """Random crop (scale 0.45..1, aspect 0.6..1.7), flip, resize to long side ``size``, colour jitter."""
    h, w = rgb.shape[:2]
    area = rng.uniform(0.45, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.7)))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    scale = size / max(ch, cw)
    out = cv2.resize(
        np.ascontiguousarray(crop), (max(8, round(cw * scale)), max(8, round(ch * scale))), interpolation=cv2.INTER_AREA
    )
    if jitter:
        gain = 1.0 + rng.normal(0, jitter, 3).astype(np.float32)
        out = out * gain + np.float32(rng.normal(0, jitter / 2))
        if rng.random() < 0.3:  # saturation jitter
            g = out.mean(axis=2, keepdims=True)
            out = g + (out - g) * np.float32(rng.uniform(0.7, 1.3))
    return np.clip(out, 0.0, 1.0).astype(np.float32)
