"""Planning a chunked job: the source's fingerprint, the settings, and shot-aligned segments.

A plan is pure data (JSON in the job folder). Segments are frame ranges [start, stop) of the film in
presentation order; together they cover every frame exactly once. Boundaries fall on shot cuts when
a shot list is given, and long runs are split near source keyframes, where a segment's decoder can
start without decoding frames it throws away. Wherever a boundary falls, the render is the same as
a single pass: each segment decodes `context` frames beyond its ends for temporal smoothing, and
grain uses the film's frame index.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from vidbw.errors import InputError
from vidbw.io.probe import open_input
from vidbw.io.sequence import find_sequence

PLAN_VERSION = 1
HASH_BYTES = 1 << 20  # the fingerprint hashes the first and the last MiB of the source
DEFAULT_CONTEXT = 16  # frames decoded beyond each end of a segment for temporal smoothing
MIN_SEGMENT_SECONDS = 2.0
MAX_SEGMENT_SECONDS = 30.0
SEGMENTS_PER_WORKER = 4  # enough segments that workers finish together (load balance)


@dataclass(frozen=True)
class SourceFingerprint:
    path: str
    size: int
    mtime_ns: int
    head_tail_sha256: str

    @classmethod
    def of(cls, source: Path) -> SourceFingerprint:
        """A film file's size, modification time and first and last MiB; for an image sequence's folder,
        the same over its frame files (their total size, the latest time, the first and the last file)."""
        digest = hashlib.sha256()
        try:
            if source.is_dir():
                sequence = find_sequence(source)
                frames = sequence.paths()
                stats = [path.stat() for path in frames]
                digest.update(f"{sequence.pattern}\0{sequence.first}\0{sequence.count}\0".encode())
                _hash_head_and_tail(digest, frames[0], stats[0].st_size)
                _hash_head_and_tail(digest, frames[-1], stats[-1].st_size)
                size, mtime_ns = sum(st.st_size for st in stats), max(st.st_mtime_ns for st in stats)
            else:
                st = source.stat()
                _hash_head_and_tail(digest, source, st.st_size)
                size, mtime_ns = st.st_size, st.st_mtime_ns
        except OSError as exc:
            raise InputError(f"cannot read input {source}: {exc.strerror or exc}") from None
        return cls(str(source.resolve()), size, mtime_ns, digest.hexdigest())

    def differences(self, other: SourceFingerprint) -> list[str]:
        """What differs from `other`, in words (an empty list when it is the same file content)."""
        out = []
        if self.size != other.size:
            out.append(f"size {other.size} vs {self.size} bytes")
        if self.head_tail_sha256 != other.head_tail_sha256:
            out.append("content hash")
        if self.mtime_ns != other.mtime_ns:
            out.append("modification time")
        return out


def _hash_head_and_tail(digest, path: Path, size: int) -> None:
    with open(path, "rb") as f:
        digest.update(f.read(HASH_BYTES))
        if size > HASH_BYTES:
            f.seek(max(HASH_BYTES, size - HASH_BYTES))
            digest.update(f.read(HASH_BYTES))


@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first frame (film index, presentation order)
    stop: int  # one past the last frame

    @property
    def frames(self) -> range:
        return range(self.start, self.stop)

    @property
    def name(self) -> str:
        return f"seg-{self.index:05d}"


@dataclass
class JobPlan:
    source: SourceFingerprint
    settings: dict  # look, temporal, encode, context, device: everything that decides the output
    frame_count: int
    segments: list[Segment]
    suffix: str  # container of the intermediates (the output's, so the encode plan is the same)
    version: int = PLAN_VERSION
    notes: list[str] = field(default_factory=list)  # what the planning found, for the user
    explain: list[str] = field(default_factory=list)  # per shot: style and proxy, or key frame

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "source": asdict(self.source),
            "settings": self.settings,
            "frame_count": self.frame_count,
            "suffix": self.suffix,
            "segments": [[s.start, s.stop] for s in self.segments],
            "notes": self.notes,
            "explain": self.explain,
        }

    @classmethod
    def from_json(cls, data: dict) -> JobPlan:
        if data.get("version") != PLAN_VERSION:
            raise InputError(
                f"job plan version {data.get('version')} is not supported (this vidbw writes {PLAN_VERSION})"
            )
        segments = [Segment(i, a, b) for i, (a, b) in enumerate(data["segments"])]
        return cls(
            SourceFingerprint(**data["source"]),
            data["settings"],
            data["frame_count"],
            segments,
            data["suffix"],
            data["version"],
            list(data.get("notes", [])),
            list(data.get("explain", [])),
        )


# --------------------------------------------------------------------------- frames and keyframes


def scan_frames(source: Path) -> tuple[list[int], list[int]]:
    """Every frame's pts in presentation order, and the indices of the frames that are keyframes.

    One demux pass, no decoding. Containers without pts fall back to the pipeline's decoding scan
    (exact, slower) and report no keyframes.
    """
    with open_input(source) as container:
        if not container.streams.video:
            raise InputError(f"no video stream: {source}")
        video = container.streams.video[0]
        pts, key_pts = [], []
        for packet in container.demux(video):
            if not packet.size:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe and packet.pts is not None:
                key_pts.append(packet.pts)
    if any(p is None for p in pts):
        from vidbw.pipeline import film_timestamps

        return film_timestamps(source), []
    pts.sort()
    index = {p: i for i, p in enumerate(pts)}
    return cast("list[int]", pts), sorted(index[p] for p in key_pts if p in index)  # no None: checked above


# --------------------------------------------------------------------------- segments


def segment_length(frame_count: int, fps: float, workers: int, context: int) -> int:
    """The target segment length in frames: several segments per worker, within 2 s to 30 s."""
    fps = fps if fps and fps > 0 else 25.0
    lo = max(12, 2 * context, math.ceil(MIN_SEGMENT_SECONDS * fps))
    hi = max(lo, round(MAX_SEGMENT_SECONDS * fps))
    wanted = math.ceil(frame_count / (SEGMENTS_PER_WORKER * max(1, workers)))
    return max(lo, min(hi, wanted))


def plan_segments(
    frame_count: int, length: int, keyframes: Sequence[int] = (), cuts: Sequence[int] = ()
) -> list[Segment]:
    """Split [0, frame_count) into segments of about `length` frames.

    Every cut (a shot list's shot starts) is a boundary; short shots are grouped into one segment
    until it reaches `length`; runs longer than 1.5 × `length` are split into equal parts, each
    boundary moved to the nearest keyframe within a quarter of `length` when there is one.
    """
    if frame_count <= 0:
        raise InputError("the video has no frames to plan")
    length = max(1, int(length))
    keys = sorted(set(k for k in keyframes if 0 < k < frame_count))
    shots = sorted(set(c for c in cuts if 0 < c < frame_count))
    # 1. group shots into runs of at least `length` frames (a run never splits a shot)
    runs, start = [], 0
    for cut in shots + [frame_count]:
        if cut - start >= length or cut == frame_count:
            runs.append((start, cut))
            start = cut
    if len(runs) > 1 and runs[-1][1] - runs[-1][0] < length // 2:  # a short tail joins its neighbour
        last = runs.pop()
        runs[-1] = (runs[-1][0], last[1])
    # 2. split long runs, preferring keyframes
    bounds: list[tuple[int, int]] = []
    for a, b in runs:
        parts = max(1, round((b - a) / length)) if b - a > 1.5 * length else 1
        cuts_here = []
        for p in range(1, parts):
            ideal = a + round(p * (b - a) / parts)
            near = [k for k in keys if abs(k - ideal) <= length // 4 and a < k < b]
            cuts_here.append(min(near, key=lambda k: (abs(k - ideal), k)) if near else ideal)
        edges = sorted(set([a, *cuts_here, b]))
        bounds.extend(zip(edges, edges[1:]))
    return [Segment(i, a, b) for i, (a, b) in enumerate(bounds)]


def load_cuts(shots) -> list[int]:
    """Frame indices where shots start, from a shot list (duck-typed: `vidbw.shots.ShotList`, a
    JSON or OTIO path, or a sequence of ints / objects with `.start`)."""
    if shots is None:
        return []
    if isinstance(shots, (str, os.PathLike)):
        from vidbw.shots import read_shots  # the shot-list formats live with the detectors

        shots = read_shots(Path(shots))
    items = getattr(shots, "shots", shots)
    out = []
    for item in items:
        start = item if isinstance(item, int) else getattr(item, "start", None)
        if start is None and isinstance(item, dict):
            start = item.get("start")
        if start is not None:
            out.append(int(start))
    return out
