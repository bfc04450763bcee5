"""Contact sheets: one frame (or image) rendered in several looks, labelled, so a user can choose by eye."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidbw.errors import InputError, OptionError
from vidbw.io.atomic import atomic_output, check_output_path
from vidbw.io.frames import display_turns, frame_planes
from vidbw.io.images import read_image
from vidbw.io.probe import describe_video, is_image_path, open_input
from vidbw.kernels.colour import luma_output_coding, rgb_matrix
from vidbw.render import FrameRenderer, Look, image_grid, toned_image

THUMB_WIDTH = 480
LABEL_HEIGHT = 30
MARGIN = 8


def grab_frame(source: Path, at_seconds: float):
    """The first frame at or after `at_seconds`: (rgb uint8 for display, planes, to_rgb, bits)."""
    container = open_input(source)
    try:
        info = describe_video(container, source)
        stream = container.streams.video[0]
        if at_seconds < 0 or (info.duration_s and at_seconds > info.duration_s):
            raise OptionError(
                f"`at_seconds` {at_seconds:g}s is outside the clip (0 to {info.duration_s:.2f}s)", param="at_seconds"
            )
        if at_seconds > 0:
            assert stream.time_base is not None  # a demuxed stream has a time base (describe_video relies on it)
            container.seek(int(at_seconds / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None or frame.time is None or frame.time + 1e-6 >= at_seconds:
                planes, to_rgb, keep = frame_planes(frame, info.matrix, info.full_range, info.primaries)
                bits = keep.format.components[0].bits
                turns = display_turns(frame)
                display = np.rot90(frame.to_ndarray(format="rgb24"), turns)
                planes = tuple(np.ascontiguousarray(np.rot90(p, turns)) for p in planes)
                return np.ascontiguousarray(display), planes, to_rgb, bits
        raise InputError(f"no decodable frame at {at_seconds:g}s: {source}")
    finally:
        container.close()


def _source_pixels(source: Path, at_seconds: float):
    if is_image_path(source):
        image = read_image(source)
        display = image.rgb if image.bits == 8 else (image.rgb >> 8).astype(np.uint8)
        planes = tuple(image.rgb[:, :, i] for i in range(3))
        return display, planes, rgb_matrix(image.bits), image.bits
    return grab_frame(source, at_seconds)


def _thumbnail(pixels: np.ndarray) -> Image.Image:
    img = Image.fromarray(pixels)
    height = max(1, round(img.height * THUMB_WIDTH / img.width))
    return img.resize((THUMB_WIDTH, height), Image.Resampling.LANCZOS).convert("RGB")


def contact_sheet(
    source: Path,
    looks: list[tuple[str, Look]],
    output: Path,
    at_seconds: float = 0.0,
    overwrite: bool = False,
    columns: int | None = None,
) -> Path:
    check_output_path(output, (source,), overwrite)
    display, planes, to_rgb, bits = _source_pixels(source, at_seconds)
    tiles = [("original", _thumbnail(display))]
    for label, look in looks:
        gray = np.empty(planes[0].shape, dtype=np.uint8)
        grid, _ = image_grid(look, planes, to_rgb)
        FrameRenderer().render(planes, to_rgb, 0, look, grid, gray, luma_output_coding(True, 8))
        pixels = toned_image(gray, 8, look.toning) if look.toning is not None else gray
        tiles.append((label, _thumbnail(pixels)))
    columns = columns or min(4, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    tile_h = tiles[0][1].height
    sheet = Image.new(
        "RGB",
        (columns * (THUMB_WIDTH + MARGIN) + MARGIN, rows * (tile_h + LABEL_HEIGHT + MARGIN) + MARGIN),
        (24, 24, 24),
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=18)
    for i, (label, thumb) in enumerate(tiles):
        x = MARGIN + (i % columns) * (THUMB_WIDTH + MARGIN)
        y = MARGIN + (i // columns) * (tile_h + LABEL_HEIGHT + MARGIN)
        draw.text((x + 2, y + 4), label, fill=(235, 235, 235), font=font)
        sheet.paste(thumb, (x, y + LABEL_HEIGHT))
    with atomic_output(output, overwrite) as temp:
        sheet.save(temp, format="PNG" if output.suffix.lower() == ".png" else "JPEG")
    return output
