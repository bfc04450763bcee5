"""Archive restoration before the look: deflicker, dust, scratches, gate weave and grain.

`RestoreStream` (in `vidbw.restore.stream`) sits between the decoder and the look: decoded frames
in, restored frames out a few frames later, each part seeing only its neighbours in the same shot.
Which parts run is a `Restoration`, parsed from the CLI's `--restore [PARTS]`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from vidbw.errors import OptionError
from vidbw.restore.base import Part

__all__ = ["PARTS", "DEFAULT_PARTS", "Restoration"]

# Every part, in the order they run: deflicker first so the others compare evenly lit frames;
# stabilize before dust so the neighbours line up; grain last, on the cleaned picture.
PARTS = ("deflicker", "stabilize", "dust", "scratches", "grain")
# What `--restore` alone runs. Stabilising resamples every frame and grain reduction changes the
# picture's texture: both are asked for by name.
DEFAULT_PARTS = ("deflicker", "dust", "scratches")

_CLASSES = {
    "deflicker": ("vidbw.restore.deflicker", "Deflicker"),
    "stabilize": ("vidbw.restore.stabilize", "Stabilize"),
    "dust": ("vidbw.restore.dust", "Dust"),
    "scratches": ("vidbw.restore.scratches", "Scratches"),
    "grain": ("vidbw.restore.grain", "Grain"),
}


@dataclass(frozen=True)
class Restoration:
    """The restoration parts to run, in `PARTS` order."""

    parts: tuple[str, ...] = DEFAULT_PARTS

    @classmethod
    def parse(cls, text: str | None) -> Restoration:
        """`"deflicker,dust"` → those parts; `""`, `None` or `"default"` → `DEFAULT_PARTS`; `"all"` → every part."""
        if text is None or text.strip() in ("", "default"):
            return cls()
        if text.strip() == "all":
            return cls(PARTS)
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in PARTS]
        if unknown:
            raise OptionError(
                f"unknown restoration part '{unknown[0]}' (choose from {', '.join(PARTS)}, or all)", param="restore"
            )
        return cls(tuple(name for name in PARTS if name in names))

    def make_parts(self) -> list[Part]:
        parts = []
        for name in self.parts:
            module, cls_name = _CLASSES[name]
            parts.append(getattr(importlib.import_module(module), cls_name)())
        return parts

    @property
    def reach(self) -> int:
        """Frames of context a chunk needs on each side to restore exactly as a single pass does."""
        return sum(part.reach for part in self.make_parts())

    def describe(self) -> str:
        return ",".join(self.parts)
