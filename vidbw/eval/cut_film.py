"""A test film of the hard cases for cut detection, built from real clips, with its truth.

`build_hard_cut_film` joins segments of the real clips in the shared media folder and writes an
H.264 film; it returns the truth: hard cuts (first frame of each new shot), gradual transitions
(a cross dissolve, a fade to black and back) as frame spans, and the spans inside shots where a
detector must not cut: camera flashes, a light switched on, whip pans and fast subject motion.

What each hard case is made of (frames at the film's rate; spans are [start, end), end exclusive):

* **flash**: 1-2 frames pushed towards white (R'G'B' -> 1 - (1 - x)(1 - s), s = 0.75 then 0.45);
* **light switched on**: a shot's first frames at 40 % of their code values, then a one-frame step
  to the real brightness that stays;
* **whip pan**: the shot's own frame sequence seen through a window panning across a panorama made
  of the frame and its mirror image, by one or two frame widths in 8 frames (peak speed about half
  a frame width per frame), with motion blur (16 sub-positions over a 180° shutter). The first
  ends where it started, the second on the mirror image, where the shot then stays;
* **fast subject motion**: real footage: a car passing right in front of the lens (Caminandes),
  juggling, hands moving blocks, and Sintel's fast action with its own (labelled) cuts;
* **cross dissolve**: 12 frames, alpha (i + 1) / 13; **fade**: 10 frames down to black, 4 black
  frames, 10 frames up into the next shot;
* **cuts a few frames apart**: shots of 4 and 3 frames between longer ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidbw.eval.cuts import CutScore, Segment, match_cuts, read_segments

__all__ = ["HardCutTruth", "build_hard_cut_film", "hard_film_frames", "score_hard_film", "HardFilmScore"]

Span = tuple[int, int]  # [start, end): end exclusive


@dataclass
class HardCutTruth:
    """What a detector should find in the hard film (all frame numbers; spans end exclusive)."""

    frames: int = 0
    cuts: list[int] = field(default_factory=list)  # hard cuts: the first frame of each new shot
    transitions: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, "dissolve" | "fade")
    flashes: list[Span] = field(default_factory=list)  # 1-2 bright frames, and a light switched on
    whip_pans: list[Span] = field(default_factory=list)
    fast_motion: list[Span] = field(default_factory=list)

    @property
    def no_cut_spans(self) -> list[Span]:
        """Where no cut may be reported (±1 frame around each flash and whip pan)."""
        return [(a - 1, b + 1) for a, b in self.flashes + self.whip_pans]


# Sintel's own hard cuts (hand-labelled, see benchmarks/bench_shots.py), in clip frames.
SINTEL_CUTS = [58, 76, 96, 118, 140]


def _flash(frame: np.ndarray, strength: float) -> np.ndarray:
    x = frame.astype(np.float32) / 255.0
    return np.rint(255.0 * (1.0 - (1.0 - x) * (1.0 - strength))).astype(np.uint8)


def _gain(frame: np.ndarray, gain: float) -> np.ndarray:
    return np.rint(frame.astype(np.float32) * gain).clip(0, 255).astype(np.uint8)


def _whip(frames: list[np.ndarray], travel: float, length: int = 8, sub: int = 16) -> list[np.ndarray]:
    """The frames panned across [frame | mirror]: `travel` frame widths over `length` frames (smooth
    start and stop), motion-blurred; the frames after the pan stay at its final offset."""
    h, w = frames[0].shape[:2]

    def offset(t: float) -> float:  # position in frame widths at time t (frames since the pan began)
        s = min(max(t / length, 0.0), 1.0)
        return travel * (s - np.sin(2 * np.pi * s) / (2 * np.pi))

    out = []
    for i, frame in enumerate(frames):
        pano = np.concatenate([frame, frame[:, ::-1]], axis=1).astype(np.float32)
        acc = np.zeros((h, w, 3), np.float32)
        for k in range(sub):
            x = int(round(offset(i + 0.5 * k / sub) * w)) % (2 * w)
            acc += np.roll(pano, -x, axis=1)[:, :w]
        out.append(np.rint(acc / sub).astype(np.uint8))
    return out


def hard_film_frames(
    media: str | os.PathLike, size: tuple[int, int] = (320, 180)
) -> tuple[list[np.ndarray], HardCutTruth]:
    """The hard film's uint8 RGB frames at `size` (w, h), and its truth (see the module's docstring)."""
    video = Path(media) / "video" if (Path(media) / "video").is_dir() else Path(media)
    plan = [  # (clip, first frame, frames)
        ("dog_park_720p.mp4", 0, 56),  # 0: a 2-frame flash
        ("juggler_park_720p.mp4", 5, 64),  # 1: juggling; a whip pan that comes back
        ("caminandes_cuts_360p.mp4", 90, 48),  # 2: a car passes right in front of the lens (clip frames ~103-113)
        ("cups_table_720p.mp4", 0, 60),  # 3: the light is switched on; then a dissolve
        ("hands_blocks_720p.mp4", 20, 60),  # 4: hands moving; then a fade to black and back
        ("squirrel_table_720p.mp4", 0, 60),  # 5: a whip pan onto the mirror image
        ("airfield_sound_360p.mp4", 50, 4),  # 6: 4 frames
        ("flower_macro_540p.mp4", 10, 40),  # 7
        ("bedroom_kids_540p.mp4", 20, 3),  # 8: 3 frames
        ("sintel_cuts_360p.mp4", 40, 110),  # 9: fast action with 5 cuts of its own
        ("dog_park_720p.mp4", 150, 40),  # 10: a 1-frame flash
    ]
    parts = read_segments([Segment(video / c, s, n) for c, s, n in plan], size)
    truth = HardCutTruth()
    film: list[np.ndarray] = []

    def inside(shot_start: int, a: int, b: int) -> Span:
        return (shot_start + a, shot_start + b)

    edits: dict[int, Callable[[int, list[np.ndarray]], list[np.ndarray]]] = {}

    def flash_at(rel: int, strengths: Sequence[float]) -> Callable[[int, list[np.ndarray]], list[np.ndarray]]:
        def edit(start: int, frames: list[np.ndarray]) -> list[np.ndarray]:
            for k, s in enumerate(strengths):
                frames[rel + k] = _flash(frames[rel + k], s)
            truth.flashes.append(inside(start, rel, rel + len(strengths)))
            return frames

        return edit

    def whip_at(rel: int, travel: float) -> Callable[[int, list[np.ndarray]], list[np.ndarray]]:
        def edit(start: int, frames: list[np.ndarray]) -> list[np.ndarray]:
            truth.whip_pans.append(inside(start, rel, rel + 8))
            return frames[:rel] + _whip(frames[rel:], travel)

        return edit

    def light_on(rel: int) -> Callable[[int, list[np.ndarray]], list[np.ndarray]]:
        def edit(start: int, frames: list[np.ndarray]) -> list[np.ndarray]:
            truth.flashes.append(inside(start, rel, rel + 1))
            return [_gain(f, 0.4) for f in frames[:rel]] + frames[rel:]

        return edit

    edits[0] = flash_at(28, (0.75, 0.45))
    edits[1] = whip_at(24, 2.0)
    edits[3] = light_on(20)
    edits[5] = whip_at(24, 1.0)
    edits[10] = flash_at(20, (0.75,))
    dissolve_after, fade_after = 3, 4
    dissolve, fade, black = 12, 10, 4
    fade_start = 0  # the fade's first frame, once made

    for k, part in enumerate(parts):
        part = list(part)
        start = len(film)
        if k in edits:
            part = edits[k](start, part)
        if k == 2:
            truth.fast_motion.append(inside(start, 13, 24))
        if k == 9:
            truth.cuts += [start + c - plan[9][1] for c in SINTEL_CUTS]
            truth.fast_motion.append((start, start + len(part)))
        if k == dissolve_after + 1:  # the head of this part was mixed into the dissolve
            part = part[dissolve:]
        elif k == fade_after + 1:
            ramp = [_gain(f, (i + 1) / (fade + 1)) for i, f in enumerate(part[:fade])]
            part = ramp + part[fade:]
            truth.transitions.append((fade_start, len(film) + fade, "fade"))
        elif k > 0:
            truth.cuts.append(start)
        if k == dissolve_after:
            head = parts[k + 1][:dissolve]
            body = part[: len(part) - dissolve]
            film += body
            first = len(film)
            for i, (a, b) in enumerate(zip(part[len(part) - dissolve :], head)):
                alpha = (i + 1) / (dissolve + 1)
                film.append(np.rint(a * (1 - alpha) + b.astype(np.float32) * alpha).astype(np.uint8))
            truth.transitions.append((first, len(film), "dissolve"))
            continue
        if k == fade_after:
            body = part[: len(part) - fade]
            film += body
            fade_start = len(film)
            film += [_gain(f, 1 - (i + 1) / (fade + 1)) for i, f in enumerate(part[len(part) - fade :])]
            film += [np.zeros_like(part[0])] * black
            continue
        film += part
    truth.frames = len(film)
    truth.cuts.sort()
    return film, truth


def build_hard_cut_film(
    out: str | os.PathLike, media: str | os.PathLike, size: tuple[int, int] = (320, 180), fps: int = 24, crf: int = 16
) -> HardCutTruth:
    """Write the hard film as H.264 (yuv420p, x264 veryfast) to `out`; return its truth."""
    frames, truth = hard_film_frames(media, size)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return truth


@dataclass(frozen=True)
class HardFilmScore:
    """A detector's result on the hard film."""

    score: CutScore  # hard cuts and transitions together (see `score_hard_film`)
    false_in_flashes: int  # cuts reported inside a flash or a light step (±1 frame)
    false_in_whips: int  # cuts reported inside a whip pan (±1 frame)
    false_in_motion: int  # false cuts inside fast subject motion
    transitions_found: int  # true transitions reported as one transition overlapping them
    cuts_in_transitions: int  # plain cuts reported inside true transitions (a burst counts each)


def score_hard_film(
    cuts: Sequence[int], transitions: Sequence[tuple[int, int, str]], truth: HardCutTruth, tolerance: int = 1
) -> HardFilmScore:
    """Score a detector's cuts and reported transitions ((start, end, kind), end exclusive).

    Events are the true hard cuts and the true transitions. A hard cut is hit by a cut within
    ±`tolerance` frames; a transition by one reported transition overlapping it, or else by one
    cut inside it (±`tolerance`). Every other cut or transition reported is a false one. A cut
    that is the boundary of a reported transition is that transition, not a cut of its own.
    """
    spans = [(a, b) for a, b, _k in transitions]
    plain = [c for c in cuts if not any(a <= c < b for a, b in spans)]
    true_spans = [(a, b) for a, b, _k in truth.transitions]
    hit_spans: set[int] = set()
    false = 0
    for a, b in spans:
        k = next((j for j, (s, e) in enumerate(true_spans) if a < e and s < b and j not in hit_spans), None)
        if k is None:
            false += 1
        else:
            hit_spans.add(k)
    transitions_found = len(hit_spans)
    matches = match_cuts(plain, truth.cuts, tolerance)
    matched = {i for i, _ in matches}
    cuts_in_transitions = 0
    for i, c in enumerate(plain):
        if i in matched:
            continue
        k = next((j for j, (s, e) in enumerate(true_spans) if s - tolerance <= c < e + tolerance), None)
        if k is not None:
            cuts_in_transitions += 1
            if k not in hit_spans:
                hit_spans.add(k)
                continue
        false += 1
    hits = len(matches) + len(hit_spans)
    missed = len(truth.cuts) + len(true_spans) - hits

    def count(spans: Sequence[Span]) -> int:
        return sum(1 for c in cuts if any(a <= c < b for a, b in spans))

    motion = [c for i, c in enumerate(plain) if i not in matched]
    return HardFilmScore(
        score=CutScore(hits, false, missed),
        false_in_flashes=count([(a - 1, b + 1) for a, b in truth.flashes]),
        false_in_whips=count([(a - 1, b + 1) for a, b in truth.whip_pans]),
        false_in_motion=sum(1 for c in motion if any(a <= c < b for a, b in truth.fast_motion)),
        transitions_found=transitions_found,
        cuts_in_transitions=cuts_in_transitions,
    )
