"""Finding styles and tonings by name.

Styles come from *providers*: functions returning styles.  The built-in classic looks
are the first provider; learned styles (from ``models/``) and a user style folder
register theirs with ``register_style_provider`` and are listed after them.  On a name
clash the earlier provider wins, so a user style can never shadow a built-in one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TypeVar

from vidbw.errors import OptionError
from vidbw.styles.base import KeepPicture, Style
from vidbw.styles.classic import CLASSIC_STYLES
from vidbw.styles.toning import TONINGS, Toning

__all__ = ["StyleProvider", "register_style_provider", "list_styles", "get_style", "list_tonings", "get_toning"]

StyleProvider = Callable[[], Iterable[Style]]
T = TypeVar("T")

_style_providers: list[StyleProvider] = [lambda: CLASSIC_STYLES]


def register_style_provider(provider: StyleProvider) -> None:
    """Add a source of styles, asked afresh on every lookup (so it may scan a folder)."""
    if provider not in _style_providers:
        _style_providers.append(provider)


def list_styles() -> list[Style]:
    """All styles, built-in first, one per name."""
    styles: dict[str, Style] = {}
    for provider in _style_providers:
        for style in provider():
            styles.setdefault(style.name, style)
    return list(styles.values())


def list_tonings() -> list[Toning]:
    return list(TONINGS)


def get_style(name: str) -> Style:
    """The style called ``name`` (case, spaces and underscores forgiven), or a learned-style file path."""
    from vidbw.styles.learned import load_style_file, looks_like_style_path

    if looks_like_style_path(name):
        return load_style_file(name)
    if _normalise(name) == KeepPicture.name:
        return KeepPicture()  # type: ignore[return-value]  # a look, not a B&W style: never listed
    return _lookup(name, {s.name: s for s in list_styles()}, "style", "(vidbw styles lists them)")


def get_toning(name: str) -> Toning:
    tonings = {t.name: t for t in TONINGS}
    return _lookup(name, tonings, "toning", f"(choose from {', '.join(tonings)})")


def _normalise(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").split())


def _lookup(name: str, by_name: dict[str, T], what: str, hint: str) -> T:
    key = _normalise(str(name))
    if key in by_name:
        return by_name[key]
    close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)
    suggestion = f"; did you mean '{close[0]}'?" if close else ""
    raise OptionError(f"unknown {what} '{name}'{suggestion} {hint}")


def _register_learned_styles() -> None:
    from vidbw.styles.learned import learned_styles_provider

    register_style_provider(learned_styles_provider)


_register_learned_styles()
