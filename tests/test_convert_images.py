"""Images and folders of images: formats, bit depth, alpha, luma accuracy, batch naming."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

import media
from conftest import assert_ok, run_inprocess, temp_files

KR, KG, KB = media.KR, media.KG, media.KB


def read_any(path: Path) -> np.ndarray:
    """Pixels as stored: (H, W) gray or (H, W, C) RGB(A), native dtype."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return tifffile.imread(path)
    if suffix == ".png":
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels.ndim == 3:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return pixels
    return np.asarray(Image.open(path))


def rec709(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return KR * rgb[..., 0] + KG * rgb[..., 1] + KB * rgb[..., 2]


def convert(capsys, *args):
    run = run_inprocess(["convert", *args], capsys)
    assert_ok(run)
    return run


# name, dtype kept, channels out (None: gray 2-D), max error in codes of that depth
CASES = [
    ("png8", np.uint8, None, 1),
    ("png16", np.uint16, None, 2),
    ("tiff16", np.uint16, None, 2),
    ("png_alpha", np.uint8, 4, 1),
    ("jpg", np.uint8, None, 6),  # JPEG in and out: two lossy encodes
]


@pytest.mark.parametrize("name, dtype, channels, tolerance", CASES, ids=[c[0] for c in CASES])
def test_image_formats_give_rec709_gray(capsys, tmp_path, images, name, dtype, channels, tolerance):
    src = images[name]
    before = media.sha256(src)
    out = tmp_path / f"out{src.suffix}"
    run = convert(capsys, src, "-o", out, "--style", "neutral")
    assert run.out.strip().splitlines()[-1] == str(out)
    assert media.sha256(src) == before
    assert temp_files(tmp_path) == []

    pixels_in, pixels_out = read_any(src), read_any(out)
    assert pixels_out.dtype == dtype, f"bit depth not kept: {pixels_out.dtype}"
    assert pixels_out.shape[:2] == pixels_in.shape[:2]
    if channels is None:
        assert pixels_out.ndim == 2 or (pixels_out.ndim == 3 and np.ptp(pixels_out[..., :3], axis=2).max() == 0)
        gray = pixels_out if pixels_out.ndim == 2 else pixels_out[..., 0]
    else:
        assert pixels_out.shape[2] == channels
        assert (pixels_out[..., 0] == pixels_out[..., 1]).all() and (pixels_out[..., 1] == pixels_out[..., 2]).all()
        assert np.array_equal(pixels_out[..., 3], pixels_in[..., 3]), "alpha channel changed"
        gray = pixels_out[..., 0]
    expected = rec709(pixels_in[..., :3])
    error = np.abs(gray.astype(np.float64) - expected)
    scale = 257 if dtype == np.uint16 else 1  # 16-bit codes per 8-bit code
    assert error.max() <= tolerance * scale, f"max error {error.max() / scale:.2f} (8-bit codes)"
    if dtype == np.uint16:
        assert np.unique(gray % 257).size > 1, "16-bit output holds only 8-bit values"


def test_default_image_name_beside_input(capsys, copy_in, images):
    src = copy_in(images["png8"], "my photo.png")
    run = convert(capsys, src)
    expected = src.with_name("my photo_bw.png")
    assert run.out.strip().splitlines()[-1] == str(expected)
    assert expected.is_file()
    assert sorted(p.name for p in src.parent.iterdir()) == ["my photo.png", "my photo_bw.png"]


def test_red_filter_on_an_image(capsys, tmp_path, images):
    neutral, red = tmp_path / "n.png", tmp_path / "r.png"
    convert(capsys, images["png8"], "-o", neutral, "--style", "neutral")
    convert(capsys, images["png8"], "-o", red, "--style", "red")
    gn, gr = read_any(neutral).astype(float), read_any(red).astype(float)
    blue = media.patch_box(media.BLUE_PATCH, gn.shape[1], gn.shape[0])
    redp = media.patch_box(media.RED_PATCH, gn.shape[1], gn.shape[0])
    assert gr[blue].mean() < gn[blue].mean() - 5
    assert gr[redp].mean() > gn[redp].mean() + 40


def test_toned_image_is_colour_with_the_same_luma(capsys, tmp_path, images):
    plain, toned = tmp_path / "plain.png", tmp_path / "toned.png"
    convert(capsys, images["png8"], "-o", plain)
    convert(capsys, images["png8"], "-o", toned, "--toning", "sepia")
    gray, rgb = read_any(plain), read_any(toned)
    assert rgb.ndim == 3 and rgb.shape[2] == 3
    assert np.ptp(rgb.astype(int), axis=2).max() > 10, "toned image is still gray"
    assert (rgb[..., 0].astype(int) >= rgb[..., 2]).mean() > 0.9, "sepia should be warm (R >= B)"
    assert np.abs(rec709(rgb) - gray).max() <= 2


def test_existing_image_output_needs_overwrite(capsys, tmp_path, images):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    run = run_inprocess(["convert", images["png8"], "-o", out], capsys)
    assert run.code != 0 and "--overwrite" in run.err
    assert out.read_bytes() == b"keep me"
    convert(capsys, images["png8"], "-o", out, "--overwrite")
    assert read_any(out).ndim == 2


# --------------------------------------------------------------------------- folders


@pytest.fixture
def photo_folder(tmp_path, images) -> Path:
    folder = tmp_path / "shoot"
    folder.mkdir()
    for path in images.values():
        shutil.copy2(path, folder / path.name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    shutil.copy2(images["png8"], folder / "sub" / "nested.png")
    return folder


def test_folder_batch_keeps_names(capsys, photo_folder, images):
    hashes = {p.name: media.sha256(p) for p in photo_folder.iterdir() if p.is_file()}
    run = convert(capsys, photo_folder)
    out = photo_folder.with_name("shoot_bw")
    assert run.out.strip().splitlines()[-1] == str(out)
    names = sorted(p.name for p in images.values())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        pixels = read_any(out / name)
        source = read_any(photo_folder / name)
        assert pixels.shape[:2] == source.shape[:2]
        assert pixels.dtype == source.dtype
        if pixels.ndim == 3:
            assert (pixels[..., 0] == pixels[..., 2]).all()
    assert {p.name: media.sha256(p) for p in photo_folder.iterdir() if p.is_file()} == hashes
    assert temp_files(out, photo_folder) == []


def test_folder_batch_to_named_folder(capsys, tmp_path, photo_folder):
    out = tmp_path / "graded"
    run = convert(capsys, photo_folder, "-o", out, "--style", "red")
    assert len(list(out.iterdir())) == 5
    assert "done: 5 images in " in run.err and "images/s" in run.err  # pictures, not frames
    # A second run does not silently replace the first.
    run = run_inprocess(["convert", photo_folder, "-o", out], capsys)
    assert run.code != 0 and "exist" in run.err
    convert(capsys, photo_folder, "-o", out, "--overwrite")


@pytest.mark.parametrize("compression", ["lzw", "deflate", "packbits"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("colour", [False, True], ids=["gray", "rgb"])
def test_compressed_tiffs_are_read_and_written_with_their_compression(capsys, tmp_path, compression, dtype, colour):
    """LZW, Deflate and PackBits TIFFs (what Lightroom, Photoshop and OpenCV write) convert, and the
    output keeps the input's lossless compression and bit depth."""
    top = np.iinfo(dtype).max
    ramp = np.linspace(0, top, 40 * 24).reshape(24, 40).astype(dtype)
    pixels = np.dstack([ramp, ramp[::-1], ramp[:, ::-1]]) if colour else ramp
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, pixels, photometric="rgb" if colour else "minisblack", compression=compression)
    out = tmp_path / "out.tif"
    convert(capsys, src, "-o", out, "--style", "neutral")
    with tifffile.TiffFile(src) as tif_in, tifffile.TiffFile(out) as tif_out:
        assert tif_out.pages.first.compression == tif_in.pages.first.compression
        assert tif_in.pages.first.compression != tifffile.COMPRESSION.NONE
        result = tif_out.pages.first.asarray()
    assert result.dtype == dtype
    gray = result if result.ndim == 2 else result[..., 0]
    expected = rec709(pixels) if colour else pixels.astype(np.float64)
    scale = 257 if dtype == np.uint16 else 1
    assert np.abs(gray - expected).max() <= 1 * scale


def test_opencv_written_16bit_tiff_is_read(capsys, tmp_path):
    """OpenCV's `imwrite` compresses TIFFs with LZW by default; such a 16-bit scan converts."""
    rgb = np.zeros((16, 20, 3), np.uint16)
    rgb[..., 0] = np.linspace(0, 65535, 20, dtype=np.uint16)
    src = tmp_path / "scan.tif"
    assert cv2.imwrite(str(src), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    with tifffile.TiffFile(src) as tif:
        assert tif.pages.first.compression == tifffile.COMPRESSION.LZW
    out = tmp_path / "out.tif"
    convert(capsys, src, "-o", out, "--style", "neutral")
    gray = read_any(out)
    gray = gray if gray.ndim == 2 else gray[..., 0]
    assert np.abs(gray.astype(np.float64) - rec709(rgb)).max() <= 257
