"""vidbw: colour to aesthetic black-and-white for whole films, and B&W archive footage to colour."""

__version__ = "0.1.0"


def convert(source, output=None, style="neutral", **options):
    """Convert a film, an image or a folder to black and white; see `vidbw.pipeline.convert`."""
    from vidbw.pipeline import convert as _convert

    return _convert(source, output, style, **options)
