"""Cut detection scoring, and test films with known cuts built from real clips.

`cut_f1` matches predicted cuts to true ones one-to-one within a tolerance (±1 frame by default).
`build_cut_film` writes a film by joining segments of real clips (hard cuts, or dissolves of a
given length); it returns the true cut frames, so detectors can be scored on real footage.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

__all__ = ["CutScore", "cut_f1", "match_cuts", "Segment", "build_cut_film", "dissolve_spans", "read_segments"]


@dataclass(frozen=True)
class CutScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (
            f"F1 {self.f1:.3f} (precision {self.precision:.3f}, recall {self.recall:.3f}; "
            f"{self.true_positives} hits, {self.false_positives} false, {self.false_negatives} missed)"
        )


def match_cuts(predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1) -> list[tuple[int, int]]:
    """(index in predicted, index in truth) pairs: each true cut matches at most one prediction
    within `tolerance` frames (greedy by distance, which is optimal for well-separated cuts)."""
    pairs = sorted(
        (abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth) if abs(p - t) <= tolerance
    )
    used_p, used_t, matches = set(), set(), []
    for _d, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matches.append((i, j))
    return sorted(matches)


def cut_f1(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1, neutral_spans: Sequence[tuple[int, int]] = ()
) -> CutScore:
    """Score predicted cut frames against true ones (±`tolerance` frames).

    `neutral_spans` are gradual transitions ([first, last] frames, e.g. dissolves) that are not in
    `truth`: the first unmatched prediction inside each (±2 frames) is neither a hit nor a false
    cut; any further ones in the same span are false cuts.
    """
    matches = match_cuts(predicted, truth, tolerance)
    hits = len(matches)
    matched = {i for i, _ in matches}
    false = 0
    used_spans: set[int] = set()
    for i, p in enumerate(predicted):
        if i in matched:
            continue
        span = next((k for k, (a, b) in enumerate(neutral_spans) if a - 2 <= p <= b + 2), None)
        if span is not None and span not in used_spans:
            used_spans.add(span)
            continue
        false += 1
    return CutScore(hits, false, len(truth) - hits)


@dataclass(frozen=True)
class Segment:
    """Frames [start, start + frames) of a clip, in decode order."""

    path: Path
    start: int
    frames: int


def read_segments(segments: Sequence[Segment], size: tuple[int, int]) -> list[list[np.ndarray]]:
    """The RGB uint8 frames of every segment, resized to `size` (w, h); each clip is decoded once."""
    out: list[list[np.ndarray]] = [[] for _ in segments]  # each set again below, per clip
    by_path: dict[Path, list[int]] = {}
    for k, seg in enumerate(segments):
        by_path.setdefault(Path(seg.path), []).append(k)
    for path, ks in by_path.items():
        last = max(segments[k].start + segments[k].frames for k in ks)
        for k in ks:
            out[k] = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index >= last:
                    break
                wanted = [k for k in ks if segments[k].start <= index < segments[k].start + segments[k].frames]
                if not wanted:
                    continue
                rgb = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
                for k in wanted:
                    out[k].append(rgb)
        for k in ks:
            if len(out[k]) != segments[k].frames:
                raise ValueError(
                    f"{path} has only {segments[k].start + len(out[k])} frames; segment {segments[k]} needs more"
                )
    return out


def _joined(parts: list[list[np.ndarray]], dissolves: Sequence[int]) -> Iterator[np.ndarray]:
    """Segments one after another; join k (between part k and k+1) is a dissolve of dissolves[k]
    frames (0: a hard cut) that overlaps the end of part k with the start of part k+1."""
    carry: list[np.ndarray] = []  # head of the current part already mixed into the previous join
    for k, part in enumerate(parts):
        body = part[len(carry) :]
        d = dissolves[k] if k < len(parts) - 1 else 0
        tail = body[len(body) - d :] if d else []
        yield from body[: len(body) - d] if d else body
        if d:
            head = parts[k + 1][:d]
            for i, (a, b) in enumerate(zip(tail, head)):
                alpha = (i + 1) / (d + 1)
                yield np.rint(a * (1 - alpha) + b * alpha).astype(np.uint8)
            carry = head
        else:
            carry = []


def build_cut_film(
    out: str | os.PathLike,
    segments: Sequence[Segment],
    size: tuple[int, int] = (320, 180),
    fps: int = 24,
    dissolves: Sequence[int] | None = None,
    crf: int = 16,
) -> list[int]:
    """Write an H.264 film of the segments joined end to end; return the true cut frames.

    A hard cut's frame is the first frame of the new segment. A dissolve of d frames replaces the
    last d frames of one segment and the first d of the next by their cross-fade; its "cut" is
    reported at the dissolve's middle frame (it is not a hard cut, see `dissolve_spans`).
    """
    dissolves = list(dissolves or [0] * (len(segments) - 1))
    parts = read_segments(segments, size)
    for k, d in enumerate(dissolves):
        if d and (d > len(parts[k]) - 1 or d > len(parts[k + 1]) - 1):
            raise ValueError(f"dissolve {k} of {d} frames is longer than its segments")
    cuts, position = [], 0
    for k, part in enumerate(parts[:-1]):
        head_used = dissolves[k - 1] if k > 0 else 0
        position += len(part) - head_used
        d = dissolves[k]
        cuts.append(position - d + d // 2 if d else position)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for rgb in _joined(parts, dissolves):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return cuts


def dissolve_spans(segments: Sequence[Segment], dissolves: Sequence[int]) -> list[tuple[int, int]]:
    """[first, last] frames of every dissolve in a film made by `build_cut_film` (empty joins skipped)."""
    spans, position = [], 0
    for k, seg in enumerate(segments[:-1]):
        head_used = dissolves[k - 1] if k > 0 else 0
        position += seg.frames - head_used
        d = dissolves[k]
        if d:
            spans.append((position - d, position - 1))
    return spans
