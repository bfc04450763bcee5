"""Key-frame files: coloured references read and checked, ``--reference DIR`` folders named by
frame number, and the gray key frames exported for a colourist to colour."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from vidbw.colorize.correspondence import Reference
from vidbw.errors import InputError, OptionError, OutputError
from vidbw.kernels.colour import planes_to_small_luma
from vidbw.kernels.ycbcr import rgb_to_ycbcr709

__all__ = ["load_reference", "keyframe_references", "check_key_frame_folder", "export_key_frames"]

MAX_ASPECT_MISMATCH = 1.25  # a key frame whose aspect differs more than this is not of this film
GRAY_CHROMA = 0.02  # a "colour" reference whose 99th-percentile chroma is below this is gray


def load_reference(path: str | Path, analysis_size: tuple[int, int], turns: int = 0) -> Reference:
    """Read a colour key frame and bring it to the film's analysis size; clear errors for bad ones.

    The key frame is the picture as players show it; `turns` (`vidbw.io.frames.display_turns`) is how
    the film's stored frames turn to be shown, so a film with a display rotation (phone footage)
    takes its key frame upright, as `export_key_frames` writes it.
    """
    from vidbw.io.images import read_image

    path = Path(path)
    if not path.exists():
        raise InputError(f"reference not found: {path}")
    if path.is_dir():
        raise InputError(f"reference is a folder, expected an image: {path}")
    image = read_image(path)
    stored = np.rot90(image.rgb, -turns)  # back to the film's stored orientation
    height, width = image.rgb.shape[:2]
    film_w, film_h = analysis_size[::-1] if turns % 2 else analysis_size  # as shown
    mismatch = (width / height) / (film_w / film_h)
    if max(mismatch, 1 / mismatch) > MAX_ASPECT_MISMATCH:
        raise InputError(
            f"reference {path.name} is {width}x{height} (aspect {width / height:.2f}) but the film's "
            f"aspect is {film_w / film_h:.2f}; crop or pad it to the film's frame"
        )
    if min(width, height) < 16:
        raise InputError(f"reference {path.name} is too small ({width}x{height})")
    rgb = np.ascontiguousarray(stored, np.float32) / float(2**image.bits - 1)
    small = cv2.resize(rgb, analysis_size, interpolation=cv2.INTER_AREA)
    level, cb, cr = rgb_to_ycbcr709(small)
    chroma = np.stack([cb, cr])
    if float(np.percentile(np.hypot(cb, cr), 99)) < GRAY_CHROMA:
        raise InputError(f"reference {path.name} has no colour (it is gray): colour the key frame first")
    return Reference(path, np.clip(level, 0, 1).astype(np.float32), chroma.astype(np.float32))


_TRAILING_NUMBER = re.compile(r"(\d+)$")


def keyframe_references(folder: Path) -> dict[int, Path]:
    """A folder of key frames named by frame number (``120.png``, ``frame_000120.png``) -> {frame: path}."""
    from vidbw.io.images import list_images

    found: dict[int, Path] = {}
    for path in list_images(folder):
        match = _TRAILING_NUMBER.search(path.stem)
        if match is None:
            raise OptionError(f"key frame {path.name} in {folder} is not named by its frame number (e.g. 000120.png)")
        frame = int(match.group(1))
        if frame in found:
            raise OptionError(f"two key frames for frame {frame} in {folder}: {found[frame].name} and {path.name}")
        found[frame] = path
    if not found:
        raise OptionError(f"no key frames in reference folder {folder} (images named by frame number)")
    return found


def check_key_frame_folder(folder: Path) -> None:
    """A key-frame folder may not exist yet, but must not be a file (`vidbw shots` checks this
    before its analysis pass, `export_key_frames` before it writes)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"key-frame folder is a file: {folder}")


def export_key_frames(source: Path, shots, folder: Path, overwrite: bool = False, progress=None) -> list[Path]:
    """Write each shot's key frame (`Shot.middle_frame`, the one automatic mode would colour) into
    `folder` as ``NNNNNN.png``, full size, for a colourist to colour in any editor and give back
    with ``--reference folder``. The picture is the luma vidbw colorizes, as gray R'G'B' (16-bit
    for a film of more than 8 bits) and turned upright as players show it (a film's display
    rotation), so an editor opens it ready for colour; each file is written atomically. An
    existing file of the same name is an error unless `overwrite`."""
    from vidbw.io.atomic import atomic_output
    from vidbw.io.frames import display_turns
    from vidbw.io.images import write_image
    from vidbw.shots.proxies import FilmSampler

    check_key_frame_folder(folder)
    digits = max(6, len(str(shots.frames)))
    paths = [folder / f"{shot.middle_frame:0{digits}d}.png" for shot in shots]
    clashing = [path for path in paths if path.exists()]
    if clashing and not overwrite:
        raise OutputError(f"key frame exists (use `overwrite` to replace it): {clashing[0]}", mentions=("overwrite",))
    try:
        folder.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create key-frame folder {folder}: {exc.strerror}") from None
    frames = FilmSampler(source)
    for done, (shot, path) in enumerate(zip(shots, paths), 1):
        decoded = frames.decoded(shot.middle_frame, f"shot {shot.index}: ")
        height, width = decoded.planes[0].shape
        level = planes_to_small_luma(decoded.planes, decoded.to_rgb, (width, height))
        deep = decoded.planes[0].dtype != np.uint8
        gray = np.rint(level * (65535.0 if deep else 255.0)).astype(np.uint16 if deep else np.uint8)
        gray = np.rot90(gray, display_turns(decoded.source))
        with atomic_output(path, overwrite) as temp:
            write_image(temp, np.repeat(gray[:, :, None], 3, axis=2))
        if progress:
            progress(done, len(paths))
    return paths
