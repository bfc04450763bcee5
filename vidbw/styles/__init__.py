"""B&W looks: built-in classic styles, film grain and print toning.

``get_style(name)`` / ``list_styles()`` give the looks (each a channel-mix grid plus a
tone curve, see :mod:`vidbw.styles.base`), ``FilmGrain`` the seeded grain tiles and
``get_toning(name)`` the optional print toning.
"""

from vidbw.styles.base import ClassicStyle, KeepPicture, Style, ToneCurve
from vidbw.styles.grain import FilmGrain
from vidbw.styles.registry import (
    StyleProvider,
    get_style,
    get_toning,
    list_styles,
    list_tonings,
    register_style_provider,
)
from vidbw.styles.toning import Toning

__all__ = [
    "Style",
    "ClassicStyle",
    "ToneCurve",
    "KeepPicture",
    "FilmGrain",
    "Toning",
    "StyleProvider",
    "get_style",
    "get_toning",
    "list_styles",
    "list_tonings",
    "register_style_provider",
]
