"""Render a folder of colour/B&W pairs with one expert style (for evaluation and shipped styles).

``DIR/color/<stem>.png`` is the photo (downscaled to at most ``max_pixels``), ``DIR/bw/<stem>.png``
the same photo rendered by :func:`vidbw.train.expert.sample_style` (``seed``, ``family``), and
``DIR/style.json`` records the style's parameters.  Seeds >= HELD_OUT_SEED_START and the
``infrared`` family were never used in training.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidbw.errors import InputError
from vidbw.io.atomic import write_json_atomic
from vidbw.train.expert import sample_style

__all__ = ["make_pairs"]


def make_pairs(
    photos: list, out: Path, seed: int, family: str | None = None, max_pixels: int = 1_000_000, limit: int | None = None
) -> int:
    from vidbw.io.images import list_images, read_image, write_image

    style = sample_style(seed, family)
    files: list[Path] = []
    for p in map(Path, photos):
        if p.is_dir():
            files.extend(list_images(p))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"no such photo or folder: {p}")
    if limit:
        files = files[:limit]
    if not files:
        raise InputError("no photos to render pairs from")
    out = Path(out)
    (out / "color").mkdir(parents=True, exist_ok=True)
    (out / "bw").mkdir(parents=True, exist_ok=True)
    for f in files:
        img = read_image(f)
        rgb: np.ndarray = img.rgb.astype(np.float32) / float(2**img.bits - 1)
        h, w = rgb.shape[:2]
        scale = min(1.0, (max_pixels / (h * w)) ** 0.5)
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        gray = style.render(rgb)
        write_image(out / "color" / f"{f.stem}.png", np.round(rgb * 255).astype(np.uint8))
        write_image(out / "bw" / f"{f.stem}.png", np.round(gray * 255).astype(np.uint8))
    write_json_atomic(out / "style.json", style.to_dict())
    return len(files)
