"""Still images in and out: 8- and 16-bit, EXIF orientation applied, alpha kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from vidbw.errors import InputError, OutputError
from vidbw.io.probe import IMAGE_SUFFIXES, check_readable_file

# OpenCV logs its own warnings about damaged files on stderr; vidbw reports them itself, as one line.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

# The lossless TIFF compressions read and written (tifffile's codecs come from imagecodecs), by tag value.
TIFF_COMPRESSIONS = {5: "lzw", 8: "deflate", 32946: "deflate", 32773: "packbits"}


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8 or uint16
    alpha: np.ndarray | None  # (H, W) same dtype, or None
    bits: int  # 8 or 16: the code range of rgb
    compression: str | None = None  # a TIFF's compression ("lzw", "deflate", "packbits"), kept on writing


def _split_channels(pixels: np.ndarray, path: Path) -> LoadedImage:
    if pixels.dtype == np.float32 or pixels.dtype == np.float64:
        pixels = (np.clip(pixels, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"unsupported image sample type {pixels.dtype}: {path}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels in (1, 2):
        rgb, alpha = np.repeat(pixels[:, :, :1], 3, axis=2), (pixels[:, :, 1] if channels == 2 else None)
    elif channels in (3, 4):
        rgb, alpha = pixels[:, :, :3], (pixels[:, :, 3] if channels == 4 else None)
    else:
        raise InputError(f"unsupported image with {channels} channels: {path}")
    return LoadedImage(np.ascontiguousarray(rgb), alpha, 8 if pixels.dtype == np.uint8 else 16)


def read_image(path: Path) -> LoadedImage:
    check_readable_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                pixels = page.asarray()
                compression = TIFF_COMPRESSIONS.get(int(page.compression))
            if pixels.ndim == 3 and pixels.shape[0] in (3, 4) and pixels.shape[2] not in (3, 4):
                pixels = np.moveaxis(pixels, 0, -1)  # planar TIFF
            image = _split_channels(pixels, path)
            image.compression = compression
            return image
        if suffix == ".png":
            # OpenCV keeps 16-bit PNG samples, which Pillow would truncate to 8 bits.
            decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if decoded is None:
                raise InputError(f"not a readable image: {path}")
            if decoded.ndim == 3:
                decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            return _split_channels(decoded, path)
        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened)
            mode = "RGBA" if ("A" in img.mode or "transparency" in img.info) else "RGB"
            return _split_channels(np.asarray(img.convert(mode)), path)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, tifffile.TiffFileError) as exc:
        raise InputError(f"not a readable image ({exc.__class__.__name__}): {path}") from None


def write_image(
    path: Path, pixels: np.ndarray, alpha: np.ndarray | None = None, compression: str | None = None
) -> None:
    """Write a gray (H, W) or colour (H, W, 3) image in the format its suffix names; a TIFF with
    `compression` (one of TIFF_COMPRESSIONS' values, lossless; None: uncompressed)."""
    if alpha is not None:
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        pixels = np.dstack([pixels, alpha])
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            if compression not in (None, *TIFF_COMPRESSIONS.values()):
                raise OutputError(f"unsupported TIFF compression '{compression}'")
            tifffile.imwrite(
                path, pixels, photometric="minisblack" if pixels.ndim == 2 else "rgb", compression=compression
            )
        elif suffix == ".png":
            bgr = pixels
            if pixels.ndim == 3:
                bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
                raise OutputError(f"cannot write image: {path}")
        else:
            if pixels.dtype == np.uint16:
                pixels = (pixels >> 8).astype(np.uint8)  # JPEG and WebP hold 8 bits
            img = Image.fromarray(pixels)
            if suffix in (".jpg", ".jpeg"):
                img.convert("L" if pixels.ndim == 2 else "RGB").save(path, format="JPEG", quality=95, subsampling=0)
            else:
                img.save(
                    path,
                    format={".webp": "WEBP", ".bmp": "BMP"}[suffix],
                    **({"quality": 95} if suffix == ".webp" else {}),
                )
    except OSError as exc:
        raise OutputError(f"cannot write image {path}: {exc.strerror or exc}") from None


def list_images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
