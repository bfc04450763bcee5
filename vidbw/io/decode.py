"""Decoding the input: frames in presentation order as plane views, with the copied streams' packets.

The reader demuxes every stream once: video packets are decoded (threaded), the packets of the
streams we copy (audio, subtitles, data) are handed on untouched so the writer can mux them
bit-exact (see `vidbw.io.remux`). It knows nothing about styles or the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vidbw.errors import InputError
from vidbw.io.frames import frame_planes
from vidbw.io.probe import VideoInfo


@dataclass
class DecodedFrame:
    """One picture as three planes (Y,U,V or R,G,B) plus the matrix from their codes to RGB."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    to_rgb: np.ndarray
    pts: int | None
    index: int
    concealed: bool = False  # the decoder hid damage in it, or it stands in for a lost frame
    source: av.VideoFrame | None = None  # keeps the decoder's buffers alive while planes view them


@dataclass
class DecodeStats:
    frames: int = 0
    corrupt_frames: int = 0  # decoded, but the decoder concealed damage in them
    lost_frames: int = 0  # packets that decoded to nothing; the previous picture is repeated
    decode_errors: int = 0
    last_pts: int | None = None  # the latest picture's pts, to tell where a cut file stopped

    @property
    def concealed_frames(self) -> int:
        """Frames the output covers by concealment: damaged ones and stand-ins for lost ones."""
        return self.corrupt_frames + self.lost_frames


def _decode_packet(packet: av.Packet, stats: DecodeStats) -> list[av.VideoFrame]:
    try:
        return list(packet.decode())
    except av.error.FFmpegError:
        stats.decode_errors += 1
        return []


def read_media(
    container: av.container.InputContainer,
    info: VideoInfo,
    copy_streams: list,
    stats: DecodeStats,
    index_of_pts: dict[int, int] | None = None,
    stop_index: int | None = None,
) -> Iterator[DecodedFrame | av.Packet]:
    """Yield decoded frames in presentation order, interleaved with the packets of copied streams.

    A packet that fails to decode is survived: its picture is replaced by the previous one at the
    lost packet's timestamp, so the output keeps the input's frame count and timing.

    After a seek, frames are numbered through `index_of_pts` (the film's frame index of each pts,
    see `frame_timestamps`) so they keep their place in the whole film; reading ends once the
    frame numbered `stop_index - 1` has been yielded.
    """
    video = container.streams.video[0]
    video.thread_type = "AUTO"
    video.thread_count = 0
    lost_pts: list[int] = []
    last: DecodedFrame | None = None
    count = 0

    def number(pts: int | None) -> int:
        if index_of_pts is None:
            return count
        if pts not in index_of_pts:
            raise InputError(f"frame at pts {pts} is not in the film's frame table (input changed since planning?)")
        return index_of_pts[pts]

    def emit(frame: av.VideoFrame) -> DecodedFrame:
        nonlocal count
        planes, to_rgb, keep = frame_planes(frame, info.matrix, info.full_range, info.primaries)
        decoded = DecodedFrame(planes, to_rgb, frame.pts, number(frame.pts), bool(frame.is_corrupt), keep)
        count += 1
        stats.frames += 1
        stats.corrupt_frames += decoded.concealed
        stats.last_pts = frame.pts if frame.pts is not None else stats.last_pts
        return decoded

    def repeat_last(pts: int) -> DecodedFrame:
        nonlocal count
        assert last is not None  # only fill_lost_before calls this, and only once a frame was decoded
        stand_in = DecodedFrame(last.planes, last.to_rgb, pts, number(pts), True, last.source)
        count += 1
        stats.frames += 1
        stats.lost_frames += 1
        stats.last_pts = pts
        return stand_in

    def finished() -> bool:
        return stop_index is not None and last is not None and last.index >= stop_index - 1

    def fill_lost_before(pts: int | None) -> Iterator[DecodedFrame]:
        while lost_pts and last is not None and (pts is None or lost_pts[0] < pts):
            missing = lost_pts.pop(0)
            if last.pts is None or missing > last.pts:
                yield repeat_last(missing)

    for packet in container.demux([video, *copy_streams]):
        if packet.stream.index != video.index:
            if packet.dts is not None and packet.size:
                yield packet
            continue
        errors_before = stats.decode_errors
        frames = _decode_packet(packet, stats)
        if stats.decode_errors > errors_before and packet.pts is not None and packet.size:
            lost_pts.append(packet.pts)
            lost_pts.sort()
        for frame in frames:
            for stand_in in fill_lost_before(frame.pts):
                last = stand_in
                yield stand_in
            last = emit(frame)
            yield last
            if finished():
                return
    yield from fill_lost_before(None)


def frame_timestamps(container: av.container.InputContainer) -> list[int]:
    """Every frame's pts in presentation order, from one demux pass (no decoding).

    Containers that carry no pts (some AVI files) are decoded instead, which is slower but exact.
    """
    video = container.streams.video[0]
    pts = [p.pts for p in container.demux(video) if p.size]
    if any(p is None for p in pts):
        container.seek(0)
        video.thread_type = "AUTO"
        pts = [f.pts for f in container.decode(video)]
        if any(p is None for p in pts):
            raise InputError("the video has no timestamps; it cannot be split into segments (convert it in one pass)")
    container.seek(0)
    return sorted(p for p in pts if p is not None)  # none are None here: that case was re-read or raised above


def check_decodable(frames_seen: int, path: Path) -> None:
    if frames_seen == 0:
        raise InputError(f"no decodable video frames (header only, truncated or damaged): {path}")
