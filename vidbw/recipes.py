"""Pipeline recipes: declarative TOML files in `pipelines/` that preset a look and an encode.

    vidbw convert film.mp4 --pipeline remaster-bw

A recipe supplies defaults; flags given on the command line win. Recipes are found by name in the
shipped `pipelines/` folder and in `~/.config/vidbw/pipelines/`, or by path to a .toml file.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vidbw.errors import OptionError
from vidbw.resources import pipelines_dir

USER_PIPELINES = Path.home() / ".config" / "vidbw" / "pipelines"

LOOK_KEYS = {"style", "grain", "grain_size", "grain_seed", "toning"}
ENCODE_KEYS = {"codec", "crf", "preset", "pix_fmt", "bit_depth"}


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    look: dict
    encode: dict

    def apply(self, options: dict) -> dict:
        """`options` (look and encode keywords, None where not given) with the recipe's values filling
        the ones not given: a value given by the caller (a command-line flag) wins over the recipe."""
        preset = {**self.look, **self.encode}
        return {k: preset.get(k) if v is None and k in LOOK_KEYS | ENCODE_KEYS else v for k, v in options.items()}


def recipe_folders() -> list[Path]:
    return [pipelines_dir(), USER_PIPELINES]


def available_recipes() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in recipe_folders():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def load_recipe(name_or_path: str) -> Recipe:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        recipes = available_recipes()
        if name_or_path not in recipes:
            close = difflib.get_close_matches(name_or_path, recipes, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(recipes) or 'none'})"
            raise OptionError(f"unknown pipeline '{name_or_path}'{hint}")
        path = recipes[name_or_path]
    if not path.is_file():
        raise OptionError(f"pipeline file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"pipeline {path} is not valid TOML: {exc}") from None
    unknown_sections = set(data) - {"description", "look", "encode"}
    if unknown_sections:
        raise OptionError(f"pipeline {path}: unknown section(s) {', '.join(sorted(unknown_sections))}")
    look, encode = data.get("look", {}), data.get("encode", {})
    for section, allowed, values in (("look", LOOK_KEYS, look), ("encode", ENCODE_KEYS, encode)):
        extra = set(values) - allowed
        if extra:
            raise OptionError(f"pipeline {path}: unknown key(s) in [{section}]: {', '.join(sorted(extra))}")
    return Recipe(path.stem, str(data.get("description", "")), dict(look), dict(encode))
