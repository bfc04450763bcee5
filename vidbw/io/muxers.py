"""Output containers: the muxer a file's suffix names, what each muxer holds, and opening one.

What sets a container apart for the writer and for a chunked job's join: the codecs it takes, and
how it stores time (frame counts or timestamps, decode order, signed timestamps).
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction
from pathlib import Path

import av

from vidbw.errors import OptionError, OutputError

# Containers that store frames in decode order without presentation timestamps.
NO_REORDER_MUXERS = {"avi"}
# Containers that count frames, not time: their time base must be 1/frame-rate (AVI given the
# input's 1/12800 writes a stream of 600 "frames" a second, most of them empty placeholders).
FIXED_RATE_MUXERS = {"avi"}
# Containers that store decode timestamps and cannot hold negative ones: B-frames' decode delay would make
# the muxer shift every stream's timestamps later, so the output would no longer keep the input's times.
NO_NEGATIVE_DTS_MUXERS = {"mpegts"}
# Containers that store signed timestamps but that FFmpeg's default shifts to start at zero: an AAC
# track's priming packet (-21 ms) would move every stream, pictures included, 21 ms later. The
# ffmpeg command line keeps them as they are, and so do we.
SIGNED_TIMESTAMP_MUXERS = {"matroska", "webm"}

ISO_MUXERS = (
    "mp4",
    "mov",
)  # ISO base media files: each codec is named by a sample-entry tag (encode.CodecProfile.mp4_tag)
# Containers that write a film's start timecode themselves, from the video stream's "timecode" tag: MP4/MOV
# as a tmcd track, MXF in its own timecode component (Matroska keeps the tag as it is).
TIMECODE_MUXERS = ISO_MUXERS + ("mxf",)
MUXER_BY_SUFFIX = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".mxf": "mxf",
    ".ts": "mpegts",
    ".mts": "mpegts",
    ".m2ts": "mpegts",
}


def frame_slot(pts: int, time_base: Fraction, slot: Fraction) -> int:
    """A timestamp as a whole number of `slot`s (1/frame-rate): its frame position in a fixed-rate stream."""
    return round(pts * time_base / slot)


def muxer_for(path: Path) -> str:
    muxer = MUXER_BY_SUFFIX.get(path.suffix.lower())
    if muxer is None:
        known = ", ".join(sorted(MUXER_BY_SUFFIX))
        raise OptionError(f"unknown output container '{path.suffix}' (use one of {known})")
    return muxer


@functools.cache
def muxer_codecs(muxer: str) -> frozenset:
    # Only an opened output container can answer which codecs its muxer takes; an in-memory one is free.
    with av.open(io.BytesIO(), mode="w", format=muxer) as probe_container:
        return frozenset(probe_container.supported_codecs) | _MUXER_EXTRA_CODECS.get(muxer, frozenset())


# Muxers that FFmpeg cannot query (no codec table, no query_codec): PyAV then lists only their
# default codecs, which would refuse H.264 in .ts or 24-bit PCM in .mxf. What they really hold
# (encoder and decoder names both, as callers look up either):
_MUXER_EXTRA_CODECS = {
    "mpegts": frozenset(
        {
            "h264",
            "libx264",
            "hevc",
            "libx265",
            "mpeg1video",
            "mpeg2video",
            "mpeg4",
            "vc1",
            "av1",
            "vp9",
            "libvpx-vp9",
            "ffv1",
            "dirac",
            "cavs",
            "aac",
            "aac_latm",
            "mp2",
            "mp3",
            "mp3float",
            "libmp3lame",
            "ac3",
            "eac3",
            "dts",
            "truehd",
            "opus",
            "libopus",
            "s302m",
            "pcm_bluray",
            "dvb_subtitle",
            "dvbsub",
            "dvb_teletext",
            "hdmv_pgs_subtitle",
            "arib_caption",
            "klv",
            "scte_35",
            "smpte_2038",
            "timed_id3",
        }
    ),
    "mxf": frozenset(
        {
            "mpeg2video",
            "h264",
            "libx264",
            "prores",
            "prores_ks",
            "ffv1",
            "dnxhd",
            "dvvideo",
            "jpeg2000",
            "vc1",
            "pcm_s16le",
            "pcm_s24le",
            "pcm_alaw",
        }
    ),
}


def open_output(path: Path, muxer: str, shown_as: Path | None = None) -> av.container.OutputContainer:
    """An output container for `muxer` that keeps the timestamps it is given (see
    SIGNED_TIMESTAMP_MUXERS); a one-line OutputError, naming `shown_as` (default `path`), if it cannot
    be created."""
    options = {"avoid_negative_ts": "disabled"} if muxer in SIGNED_TIMESTAMP_MUXERS else {}
    try:
        return av.open(str(path), mode="w", format=muxer, options=options)
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"cannot create output file {shown_as or path}: {exc}") from None
