"""Still pictures: one image, or a folder of photos, to B&W with a look or colorized."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from vidbw.errors import InputError, OutputError, VidbwError
from vidbw.io.atomic import atomic_output, check_output_path
from vidbw.io.images import list_images, read_image, write_image
from vidbw.render import FrameRenderer, Look, render_image_array
from vidbw.results import ConvertResult, ProgressCallback, input_colour_note

if TYPE_CHECKING:
    from vidbw.colorize import ColorizeRequest


def convert_image(
    source: Path,
    output: Path,
    look: Look | ColorizeRequest,
    overwrite: bool = False,
    renderer: FrameRenderer | None = None,
) -> ConvertResult:
    """One picture: to B&W with a look, or colorized (a `ColorizeRequest`)."""
    from vidbw.colorize import ColorizeRequest, colorize_image_array, colour_content
    from vidbw.colorize.correspondence import AutoColorizer, ReferenceColorizer
    from vidbw.kernels.colour import lowres_size

    check_output_path(output, (source,), overwrite)
    started = time.perf_counter()
    image = read_image(source)
    explain: list[str] = []
    notes: list[str] = []
    if isinstance(look, ColorizeRequest):
        height, width = image.rgb.shape[:2]
        analysis_size = lowres_size(width, height)
        colour_source = look.for_image(analysis_size)
        # for_image gives the automatic colorizer or a reference's (the `_ColourSource`s that describe themselves)
        assert isinstance(colour_source, (AutoColorizer, ReferenceColorizer))
        small = cv2.resize(image.rgb, analysis_size, interpolation=cv2.INTER_AREA) / float(2**image.bits - 1)
        note = input_colour_note(*colour_content(small[None]))
        notes.extend([f"{source.name}: {note}"] if note else [])
        pixels = colorize_image_array(image.rgb, image.bits, colour_source)
        explain.append(f"{source.name}: colorized, {colour_source.describe()}")
    else:
        pixels = render_image_array(image.rgb, image.bits, look, renderer, explain)
        explain = [f"{source.name}: style {look.style.name}, {e}" for e in explain]
    with atomic_output(output, overwrite) as temp:
        write_image(temp, pixels, image.alpha, compression=image.compression)
    return ConvertResult(output, frames=1, seconds=time.perf_counter() - started, notes=notes, explain=explain)


def convert_folder(
    source: Path,
    output: Path,
    look: Look | ColorizeRequest,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ConvertResult:
    images = list_images(source)
    if not images:
        raise InputError(f"no images in folder (looked for jpg, png, tiff, webp, bmp): {source}")
    if output.resolve() == source.resolve():
        raise OutputError(f"output folder is the input folder; choose another with -o: {output}")
    if output.exists() and not output.is_dir():
        raise OutputError(f"output path is a file, expected a folder: {output}")
    try:
        output.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {output}: {exc.strerror}") from None
    renderer = FrameRenderer()
    result = ConvertResult(output)
    started = time.perf_counter()
    failures = []
    for done, image_path in enumerate(images, 1):
        try:
            done_image = convert_image(image_path, output / image_path.name, look, overwrite, renderer)
            result.frames += 1
            result.explain.extend(done_image.explain)
            result.notes.extend(done_image.notes)
        except VidbwError as exc:
            failures.append(str(exc))
        if progress:
            progress(done, len(images))
    result.seconds = time.perf_counter() - started
    if failures:
        raise VidbwError(f"{len(failures)} of {len(images)} images failed; first: {failures[0]}")
    return result
