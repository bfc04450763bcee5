"""What is in a media file: the video stream's geometry, bit depth, colour tags and the other streams.

Every user-facing check of an input (missing, empty, not media, audio only) lives here, so the
pipeline can assume a readable video once `probe_video` returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidbw.errors import InputError
from vidbw.io.sequence import find_sequence, open_sequence

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}

# FFmpeg's AVColorSpace numbers for the matrices the kernel knows; anything else is guessed from size.
_MATRIX_BY_AVCOL_SPC = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
# AVColorPrimaries that differ enough from BT.709 to convert from (BT.601's are near BT.709's, and
# players treat them alike). 9: BT.2020, 12: SMPTE EG 432-1 (Display P3, D65 white).
_PRIMARIES_BY_AVCOL_PRI = {9: "bt2020", 12: "p3d65"}
_AVCOL_PRI_UNSPECIFIED = 2
_AVCOL_RANGE_MPEG = 1
_AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "audio", "subtitle", "data", "attachment", "video"
    codec: str | None


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    container: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    full_range: bool
    matrix: str  # "bt709" | "bt601" | "bt2020": how to turn the decoded YUV into RGB
    color_tags: dict  # raw AVColor* numbers to copy onto the output unchanged
    time_base: Fraction
    frame_rate: Fraction | None
    frame_count: int  # from the container header; 0 when it does not say
    duration_s: float
    video_duration_s: float  # the video stream's own length (0 when unknown), for spotting cut files
    other_streams: tuple[StreamInfo, ...] = field(default_factory=tuple)
    interlaced: bool = False
    profile: str | None = None  # the codec's profile as FFmpeg names it ("HQ", "4444", "High 10", ...)
    primaries: str = "bt709"  # "bt709" | "bt2020" | "p3d65": whose R'G'B' the decoded picture is in

    @property
    def nominal_fps(self) -> float:
        """The stream's average frame rate, or 25 when the file does not say: what shot lists, cut
        detection and segment lengths count seconds with."""
        return float(self.frame_rate) if self.frame_rate else 25.0


def check_readable_source(path: Path) -> None:
    """`check_readable_file` for a film file; for a folder, that it holds one numbered image sequence."""
    if path.is_dir():
        find_sequence(path)
    else:
        check_readable_file(path)


def check_readable_file(path: Path) -> None:
    """The checks that need no decoder: exists, is a file, is not empty, can be opened."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, expected a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input is empty (0 bytes): {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"input is not readable (permissions): {path}")


def open_input(path: Path) -> av.container.InputContainer:
    """Open a media file, or a folder's numbered image sequence (`vidbw.io.sequence`), turning
    FFmpeg's errors into one-line InputErrors."""
    if path.is_dir():
        return open_sequence(path)
    check_readable_file(path)
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"not a media file FFmpeg can read ({reason}): {path}") from None


def pix_fmt_bit_depth(pix_fmt: str) -> int:
    return av.VideoFormat(pix_fmt).components[0].bits


def _matrix_name(colorspace: int, height: int) -> str:
    if colorspace in _MATRIX_BY_AVCOL_SPC:
        return _MATRIX_BY_AVCOL_SPC[colorspace]
    # Untagged: the convention players use (SD is BT.601, HD and up is BT.709).
    return "bt601" if height < 720 else "bt709"


def _primaries_name(primaries: int, matrix: str) -> str:
    if primaries in _PRIMARIES_BY_AVCOL_PRI:
        return _PRIMARIES_BY_AVCOL_PRI[primaries]
    # Untagged primaries with a BT.2020 matrix: a BT.2020 picture (nothing else is coded that way).
    return "bt2020" if matrix == "bt2020" and primaries in (0, _AVCOL_PRI_UNSPECIFIED) else "bt709"


def describe_video(container: av.container.InputContainer, path: Path) -> VideoInfo:
    if not container.streams.video:
        kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
        raise InputError(f"input has no video stream ({', '.join(kinds)} only): {path}")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height or ctx.pix_fmt is None:
        raise InputError(f"video stream has no decodable picture size or format (damaged header?): {path}")
    pix_fmt = ctx.pix_fmt
    tags = {
        "color_primaries": ctx.color_primaries,
        "color_trc": ctx.color_trc,
        "colorspace": ctx.colorspace,
        "color_range": ctx.color_range,
    }
    full_range = ctx.color_range == _AVCOL_RANGE_JPEG or pix_fmt.startswith("yuvj")
    if av.VideoFormat(pix_fmt).is_rgb:
        # R'G'B' codes are full range by nature; the Y'CbCr picture vidbw writes from them is coded in
        # video's limited range, as FFmpeg's own conversion of scans and RGB masters is.
        full_range = False
        tags["color_range"] = _AVCOL_RANGE_MPEG
    if container.duration:
        duration = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = 0.0
    video_duration = _video_stream_duration(stream)
    # libavformat gives every stream it creates a time base (1/90000 until the demuxer sets one)
    assert stream.time_base is not None
    others = tuple(
        StreamInfo(s.index, s.type, s.codec_context.name if s.codec_context else None)
        for s in container.streams
        if s.index != stream.index
    )
    matrix = _matrix_name(ctx.colorspace, ctx.height)
    # AVFieldOrder: 0 unknown, 1 progressive, 2-5 the interlaced orders.
    field_order = int(getattr(ctx, "field_order", 0) or 0)
    return VideoInfo(
        path=path,
        container=container.format.name,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=pix_fmt,
        bit_depth=pix_fmt_bit_depth(pix_fmt),
        full_range=full_range,
        matrix=matrix,
        color_tags=tags,
        time_base=stream.time_base,
        frame_rate=stream.average_rate or stream.guessed_rate,
        frame_count=stream.frames or (find_sequence(path).count if path.is_dir() else 0),
        duration_s=duration,
        video_duration_s=video_duration,
        other_streams=others,
        interlaced=field_order >= 2,
        profile=ctx.profile or None,
        primaries=_primaries_name(ctx.color_primaries, matrix),
    )


def _video_stream_duration(stream) -> float:
    """The video stream's length from its header: the stream duration, or Matroska's DURATION tag."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return 0.0
    return 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    path = Path(path)
    with open_input(path) as container:
        return describe_video(container, path)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
