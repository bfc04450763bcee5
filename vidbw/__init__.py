"""vidbw: colour to aesthetic black-and-white for whole films, and B&W archive footage to colour."""

import os as _os

__version__ = "0.1.0"

# OpenMP pools (numba's kernel threads, torch) otherwise spin after each parallel region, stealing
# the cores the video encoder needs between frames: measured 0.75 -> 0.84 of ffmpeg's throughput at
# 1080p. Must be set before libgomp loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def convert(source, output=None, style="neutral", **options):
    """Convert a film, an image or a folder to black and white; see `vidbw.pipeline.convert`."""
    from vidbw.pipeline import convert as _convert

    return _convert(source, output, style, **options)
