"""One proxy per shot: the hook through which a learned style picks its scene-level proxy.

A style that can choose (it has ``choose_proxy(frames) -> int | str``) is shown a few low-resolution
frames of each shot; the choice is written into the shot (`Shot.proxy`), so the style never
switches inside a shot and the user can see and edit it in the JSON. Styles without
``choose_proxy`` (every classic style) leave ``proxy`` as None and nothing is decoded.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from vidbw.io.probe import describe_video, open_input
from vidbw.io.video import DecodeStats, read_media
from vidbw.shots.analysis import lowres_size, planes_to_rgb8
from vidbw.shots.model import Shot, ShotList

__all__ = ["assign_proxies", "FilmSampler", "sample_indices"]

FramesProvider = Callable[[Shot], np.ndarray]  # shot -> float32 (k, h, w, 3) R'G'B' in [0, 1]


def assign_proxies(shot_list: ShotList, style, frames_provider: FramesProvider, overwrite: bool = False) -> ShotList:
    """A copy of `shot_list` whose shots carry the proxy their style chooses.

    `style` is a Style used for every shot, or a callable `name -> Style` that resolves each shot's
    own style (`shot.style`, or None for the film's default). A style without `choose_proxy`
    leaves the shot's proxy as it is (None from `vidbw shots`). Proxies the user set in the JSON are
    kept unless `overwrite`. `frames_provider(shot)` is called only for shots whose style chooses;
    it returns float32 (k, h, w, 3) R'G'B' frames in [0, 1] (see `FilmSampler`).
    """
    resolve = style if callable(style) and not hasattr(style, "grids_for") else (lambda _name: style)
    shots = []
    for shot in shot_list.shots:
        chooser = getattr(resolve(shot.style), "choose_proxy", None)
        if chooser is None or (shot.proxy is not None and not overwrite):
            shots.append(shot)
            continue
        proxy = chooser(frames_provider(shot))
        if isinstance(proxy, np.integer):
            proxy = int(proxy)
        shots.append(replace(shot, proxy=proxy))
    return ShotList(shot_list.fps, shot_list.frames, shots)


def sample_indices(shot: Shot, per_shot: int) -> list[int]:
    """`per_shot` frames spread evenly inside the shot (centres of equal parts), distinct."""
    n = shot.frames
    k = max(1, min(per_shot, n))
    return sorted({shot.start_frame + int((i + 0.5) * n / k) for i in range(k)})


class FilmSampler:
    """A frames provider for `assign_proxies`: a few small frames of each shot, in one forward pass.

    Shots asked for in film order are served by one sequential decode (bounded memory: only the
    current shot's samples are held); asking for an earlier shot starts a new pass.
    """

    def __init__(self, source: str | os.PathLike, per_shot: int = 3, max_side: int = 256):
        self.source = Path(source)
        self.per_shot = per_shot
        self.max_side = max_side
        self._frames = None  # iterator of (index, rgb8)
        self._next_index = 0

    def _open(self):
        container = open_input(self.source)
        info = describe_video(container, self.source)
        scale = self.max_side / max(info.width, info.height)
        width = max(1, round(info.width * min(1.0, scale)))
        size = lowres_size(info.width, info.height, width)

        def frames():
            try:
                for item in read_media(container, info, [], DecodeStats()):
                    yield item.index, item
            finally:
                container.close()

        return frames(), size

    def __call__(self, shot: Shot) -> np.ndarray:
        wanted = sample_indices(shot, self.per_shot)
        if self._frames is None or wanted[0] < self._next_index:
            if self._frames is not None:
                self._frames[0].close()
            self._frames = self._open()
            self._next_index = 0
        frames, size = self._frames
        picked = []
        for index, item in frames:
            self._next_index = index + 1
            if index in wanted:
                picked.append(planes_to_rgb8(item.planes, item.to_rgb, size))
            if index >= wanted[-1]:
                break
        if not picked:
            raise ValueError(f"shot {shot.index}: frames {shot.start_frame}-{shot.end_frame - 1} are past the film's end")
        return np.stack(picked).astype(np.float32) / np.float32(255)
