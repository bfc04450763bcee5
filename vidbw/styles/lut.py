"""A classic style as a 3D LUT (.cube), for grading applications (Resolve, Premiere, Baselight, ffmpeg's lut3d).

A classic style is the same mix and tone curve for every pixel of every frame: a function of the
pixel's R'G'B' alone, which a 3D LUT holds. Its values are the kernel's own: the lattice's colours
are sliced by `slice_apply` as a picture, so a LUT point is exactly what `vidbw convert` gives that
colour. Between lattice points the application interpolates (trilinear or tetrahedral); with 33
points a side the curves are smooth enough that this stays within about 1/255 (see the tests).

A learned style is region-aware: what it does to a colour depends on where the pixel is and what
surrounds it, which no LUT can hold, so it is refused. Grain is random, so it is not part of a LUT.

The LUT takes and gives BT.709 R'G'B' in [0, 1] (full range, as the application's timeline works);
use it on a Rec.709 (gamma 2.4) timeline or node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidbw.errors import OptionError
from vidbw.io.atomic import atomic_output
from vidbw.kernels.colour import REC709_LUMA, rgb_matrix
from vidbw.kernels.slicing import slice_apply
from vidbw.styles.base import Style
from vidbw.styles.toning import Toning

__all__ = ["LUT_SUFFIX", "style_lut", "check_cube_path", "write_cube", "read_cube"]

LUT_SUFFIX = ".cube"
MIN_SIZE, MAX_SIZE = 2, 129


def style_lut(style: Style, size: int = 33, toning: Toning | None = None) -> np.ndarray:
    """(size, size, size, 3) float32 R'G'B' out for the lattice of R'G'B' in, indexed [b, g, r]."""
    if not style.is_constant:
        raise OptionError(
            f"style {style.name!r} is region-aware (what it does to a colour depends on where the "
            "pixel is): no 3D LUT can hold it; export a classic style (vidbw styles lists them)"
        )
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise OptionError(f"`size` must be between {MIN_SIZE} and {MAX_SIZE}, got {size}", param="size")
    levels = np.linspace(0.0, 1.0, size, dtype=np.float32)
    # The lattice as a (size², size) picture: red along a row (the .cube order's fastest axis),
    # green then blue down the rows. The style's grid is the same everywhere, so where a colour
    # sits in the picture does not matter.
    blue, green, red = np.meshgrid(levels, levels, levels, indexing="ij")
    planes = tuple(np.ascontiguousarray(c.reshape(size * size, size)) for c in (red, green, blue))
    gray: np.ndarray = np.empty(planes[0].shape, np.float32)
    slice_apply(planes, rgb_matrix(0), style.constant_grid(), style.tone_lut, gray, 0.0, 1.0)
    gray = np.clip(gray, 0.0, 1.0).reshape(size, size, size)
    if toning is None:
        return np.repeat(gray[..., None], 3, axis=-1)
    return toning.toned_rgb(gray, REC709_LUMA).astype(np.float32)


def check_cube_path(path: Path) -> None:
    if path.suffix.lower() != LUT_SUFFIX:
        raise OptionError(f"a 3D LUT file must end in {LUT_SUFFIX}: {path}")


def write_cube(path: Path, lut: np.ndarray, title: str, overwrite: bool = False) -> None:
    """Write `lut` ([b, g, r] indexed, see `style_lut`) as an Adobe/Resolve .cube file, atomically."""
    check_cube_path(path)
    size = lut.shape[0]
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in lut.reshape(-1, 3).tolist()]  # red fastest, blue slowest
    with atomic_output(path, overwrite) as temp:
        temp.write_text("\n".join(lines) + "\n", encoding="ascii")


def read_cube(path: Path) -> np.ndarray:
    """A .cube 3D LUT as (size, size, size, 3) float32 indexed [b, g, r] (the inverse of `write_cube`)."""
    size, rows = None, []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        words = line.split()
        if not words or words[0].startswith("#") or words[0] in ("TITLE", "DOMAIN_MIN", "DOMAIN_MAX"):
            continue
        if words[0] == "LUT_3D_SIZE":
            size = int(words[1])
        else:
            rows.append([float(w) for w in words[:3]])
    if size is None or len(rows) != size**3:
        raise ValueError(f"{path}: not a 3D .cube LUT ({len(rows)} rows for size {size})")
    return np.asarray(rows, np.float32).reshape(size, size, size, 3)
