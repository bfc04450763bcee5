"""What the user asked for: ``--colorize [--reference IMG|DIR]``, turned into colour sources."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from vidbw.colorize.correspondence import (
    AutoColorizer,
    AutomaticKeyColorizer,
    Reference,
    ReferenceColorizer,
    _ColourSource,
)
from vidbw.colorize.keyframes import load_reference
from vidbw.errors import InputError, OptionError
from vidbw.shots.model import KeyFrame

__all__ = ["ColorizeRequest"]


class ColorizeRequest:
    """`--colorize [--reference IMG|DIR]`: turns into a colour source per shot or per image.

    The colorizer network is loaded once, on first need (automatic shots, and the learned
    correspondence features of reference shots).
    """

    def __init__(self, reference: str | Path | None = None, network=None):
        self.reference = Path(reference) if reference is not None else None
        self._network = network
        self._references: dict[tuple, Reference] = {}
        self._auto: AutoColorizer | None = None
        self._network_lock = threading.Lock()
        if self.reference is not None and not self.reference.exists():
            raise InputError(f"reference not found: {self.reference}")

    @property
    def network(self):
        with self._network_lock:  # loaded once, by one thread (see `warm_up`)
            if self._network is None:
                from vidbw.models.colorizer import load_colorizer

                self._network = load_colorizer()
        return self._network

    def warm_up(self) -> None:
        """Import torch and load the colorizer now, for a background thread beside the analysis
        pass; a failure is left for the first real use to report."""
        try:
            _ = self.network  # the property loads it
        except Exception:  # noqa: BLE001 (reported, once, where the network is used)
            pass

    def automatic(self) -> AutoColorizer:
        if self._auto is None:
            self._auto = AutoColorizer(self.network)
        return self._auto

    def automatic_key(self, frames, shot) -> AutomaticKeyColorizer:
        """A shot without a key frame: its middle frame, from `frames` (a `FilmSampler`), coloured by the network."""
        return AutomaticKeyColorizer(self.network, frames, shot)

    def from_key_frames(
        self, keys: Sequence[KeyFrame], analysis_size: tuple[int, int], turns: int = 0
    ) -> ReferenceColorizer:
        """A shot's colour source from its coloured key frames: one without a frame number, or any
        number at theirs. Each image is read and checked once, however many shots use it."""
        if len(keys) == 1 and keys[0].frame is None:
            return ReferenceColorizer(self._load(Path(keys[0].path), analysis_size, turns), self.network)
        timed = {key.frame: self._load(Path(key.path), analysis_size, turns) for key in keys}
        if None in timed or len(timed) < len(keys):  # `ShotList` and `keyframe_references` refuse both
            raise ValueError(f"key frames without frame numbers, or two for one frame: {keys}")
        return ReferenceColorizer(cast(dict[int, Reference], timed), self.network)

    def _load(self, path: Path, analysis_size: tuple[int, int], turns: int) -> Reference:
        key = (path.resolve(), analysis_size, turns)
        if key not in self._references:
            self._references[key] = load_reference(path, analysis_size, turns)
        return self._references[key]

    def for_image(self, analysis_size: tuple[int, int]) -> _ColourSource:
        if self.reference is None:
            return self.automatic()
        if self.reference.is_dir():
            raise OptionError("a folder of key frames applies to films; for images give one reference image")
        return self.from_key_frames([KeyFrame(str(self.reference))], analysis_size)
