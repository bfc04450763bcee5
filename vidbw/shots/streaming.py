"""The analysis pass folded into the render pass: a learned style's shots, found while the film decodes.

A learned style needs each shot's bounds and proxy before it can predict the shot's grids. Found
by a separate analysis pass (`shots_for_style`), they cost a second decode of the film: 6-7 s per
minute of 1080p on two cores, a seventh of the whole conversion. `ShotStream` finds them from the
render pass's own frames instead: each decoded frame's small copy goes to the cut detector
(`AdaptiveCuts`, final `LOOKAHEAD` frames later), and a shot's proxy is chosen from its first
`PROXY_WINDOW` frames (`sample_indices`). A frame is held back only until its shot and that
shot's proxy are known, so at most PROXY_WINDOW + LOOKAHEAD frames wait here (more while a
dissolve is being followed: its length and twice the look-ahead).

It is the same shot list as the analysis pass's, cut for cut and proxy for proxy: the same small
frames (`planes_to_rgb8` of the same decode), the same detector, the same sample frames. That
is what keeps a chunked job (which runs the analysis pass, then renders segments) equal to a
single pass. Only the adaptive detector streams (see `vidbw.shots.detect`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from vidbw.shots.analysis import ANALYSIS_WIDTH, planes_to_rgb8, scaled_to_width
from vidbw.shots.detect import DEFAULT_MIN_SHOT_SECONDS, AdaptiveCuts, min_shot_frames
from vidbw.shots.model import Shot, ShotList
from vidbw.shots.proxies import PER_SHOT, PROXY_WINDOW, frame_evidence, sample_indices

__all__ = ["ShotStream", "STREAMING_DETECTOR"]

STREAMING_DETECTOR = "adaptive"


class ShotStream:
    """Frames in decode order in; the same frames out, each once its shot and proxy are in `plan`.

    >>> stream = ShotStream(RenderPlan.single(look, "light"), fps, width, height)
    >>> scheduler = GridScheduler(stream.plan, ...)
    >>> for frame in decoded: [scheduler.push(f) for f in stream.push(frame)]
    >>> [scheduler.push(f) for f in stream.finish()]; stream.shot_list()
    """

    def __init__(self, plan, fps: float, width: int, height: int, min_shot_seconds: float = DEFAULT_MIN_SHOT_SECONDS):
        look = plan.shots[0].look
        if not hasattr(look.style, "choose_proxy"):
            raise ValueError(f"style {look.style.name!r} chooses no proxies: it needs no shot stream")
        self.look = look
        self.fps = fps
        self.size = scaled_to_width(width, height, ANALYSIS_WIDTH)
        self.cuts = AdaptiveCuts(fps, min_shot_frames(min_shot_seconds, fps))
        # `plan` (a one-shot `vidbw.render.RenderPlan`) grows into the shots found so far; the last
        # is open (no end yet) and has no proxy until it is chosen.
        self.plan = plan
        self._held: deque = deque()  # (frame, its analysis copy), in decode order, not yet passed on

    def push(self, frame) -> list:
        """Take the next decoded frame; return the frames whose shot and proxy are now known, in order."""
        self._held.append((frame, planes_to_rgb8(frame.planes, frame.to_rgb, self.size)))
        for cut in self.cuts.push(self._held[-1][1]):
            self._cut(cut)
        return self._release()

    def finish(self) -> list:
        """After the last frame: everything still held."""
        for cut in self.cuts.finish():
            self._cut(cut)
        return self._release()

    def shot_list(self) -> ShotList:
        """The shots found, with their proxies (after `finish`)."""
        shot_list = ShotList.from_cuts(
            [s.start for s in self.plan.shots[1:]],
            self.cuts.frames,
            self.fps,
            style=self.look.style.name,
            transitions=self.cuts.transitions,
        )
        shot_list.shots = [replace(shot, proxy=render.proxy) for shot, render in zip(shot_list.shots, self.plan.shots)]
        return shot_list

    @property
    def _open(self):
        return self.plan.shots[-1]

    def _cut(self, start: int) -> None:
        if self._open.proxy is None:
            self._choose(start)
        self.plan.cut_open_shot(start)

    def _choose(self, end: int) -> None:
        """The open shot's proxy, from its sample frames among [open start, end) (all still held)."""
        first_held = self.cuts.frames - len(self._held)
        shot = Shot(len(self.plan.shots) - 1, self._open.start, end)
        evidence = np.stack([frame_evidence(self._held[i - first_held][1]) for i in sample_indices(shot, PER_SHOT)])
        proxy = self.look.style.choose_proxy(evidence)
        self.plan.set_open_proxy(int(proxy) if isinstance(proxy, np.integer) else proxy)

    def _release(self) -> list:
        settled = self.cuts.settled  # frames before it are in their final shots
        start, chosen = self._open.start, self._open.proxy is not None
        if not chosen and self._held and (settled >= start + PROXY_WINDOW or settled == self.cuts.frames):
            self._choose(min(settled, start + PROXY_WINDOW))
            chosen = True
        first_held = self.cuts.frames - len(self._held)
        ready = []
        while self._held and first_held < settled and (first_held < start or chosen):
            ready.append(self._held.popleft()[0])
            first_held += 1
        return ready
