"""Remuxing: what of the source goes into the output untouched beside the new picture.

Audio, subtitle and data streams are copied packet for packet (bit-exact), attached files (fonts,
cover art) embedded whole; the film's tags, chapters and start timecode are carried over. Which
streams a container can hold is decided here, once, for the writer and for a chunked job's join.
"""

from __future__ import annotations

import av

from vidbw.io.muxers import TIMECODE_MUXERS, muxer_codecs


def add_copied_stream(output: av.container.OutputContainer, stream):
    """The output stream that `stream`'s packets are copied into, bit-exact. An attachment (a font for
    the film's ASS subtitles, cover art) has no packets: it is embedded whole, and None comes back."""
    if stream.type == "attachment":
        output.add_attachment(
            stream.name or f"attachment-{stream.index}",
            stream.mimetype or "application/octet-stream",
            bytes(stream.data),
        )
        return None
    copied = output.add_stream_from_template(stream)
    copy_stream_labels(stream, copied)  # the template carries the codec only
    return copied


def copy_stream_labels(source, output) -> None:
    """A stream's language, title and other tags, and its flags (default, forced), onto its output stream."""
    output.metadata.update(copyable_metadata(source.metadata))
    output.disposition = source.disposition


def copy_chapters(source: av.container.InputContainer, output: av.container.OutputContainer) -> None:
    """The film's chapter marks, kept as FFmpeg's own transcode keeps them (before the header is written;
    containers without chapters, such as AVI and MPEG-TS, leave them out)."""
    chapters = source.chapters()
    if chapters:
        output.set_chapters(chapters)


def copyable_metadata(metadata: dict) -> dict:
    """The tags of a container or stream that are carried into an output: all but those the muxer writes
    itself (the 'encoder' tag, and the ISO file-type brands). Titles, dates and languages are the user's.

    Used for the output's own tags and each copied stream's (`copy_stream_labels`), and by a chunked
    job's join (`vidbw.jobs.concat`), so a joined film carries the same tags as a one-pass one."""
    return {
        k: v
        for k, v in metadata.items()
        if k.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands")
    }


def _is_timecode_track(stream) -> bool:
    """A QuickTime/MP4 timecode (tmcd) track: a data stream the demuxer tags with its start timecode."""
    return stream.type == "data" and stream.codec_context is None and "timecode" in stream.metadata


def source_timecode(source: av.container.InputContainer) -> str | None:
    """The film's start timecode, from its first timecode track; None without one. The muxers of
    TIMECODE_MUXERS write it themselves from the output video stream's "timecode" tag (a copied tmcd
    track is left out: see `copyable_streams`)."""
    for s in source.streams:
        if _is_timecode_track(s):
            return s.metadata["timecode"]
    return None


def _is_chapter_track(stream) -> bool:
    """A QuickTime/MP4 text chapter track: FFmpeg's demuxer reads it into the container's chapters
    and marks the track discarded. The chapters are carried as chapters (`copy_chapters`); copying the
    track as well gives the muxer two chapter tracks, and it refuses to start."""
    return stream.type == "data" and stream.discard == av.stream.Discard.all


def copyable_streams(container, muxer: str) -> tuple[list, list[str]]:
    """The audio, subtitle and data streams to copy bit-exact (and attached files), and a note for each
    one the muxer refuses."""
    supported = muxer_codecs(muxer)
    keep, notes = [], []
    video_index = container.streams.video[0].index
    for s in container.streams:
        if s.index == video_index or s.type not in ("audio", "subtitle", "data", "video", "attachment"):
            continue
        codec = s.codec_context.name if s.codec_context else None
        if s.type == "attachment":
            if muxer == "matroska":  # the one container here that holds attached files
                keep.append(s)
            else:
                notes.append(f"attachment {s.name} cannot be stored in {muxer}; dropped (write .mkv to keep it)")
        elif s.type == "video":
            if s.disposition & av.stream.Disposition.attached_pic:
                notes.append(f"cover art (stream #{s.index}, {codec}) not carried")
            else:
                notes.append(
                    f"extra video stream #{s.index} ({codec}) not carried: vidbw converts the first video stream"
                )
        elif _is_chapter_track(s):
            continue
        elif _is_timecode_track(s) and muxer in TIMECODE_MUXERS:
            # PyAV cannot give a copied tmcd track the frame rate the muxer needs (it fails at the end),
            # and MXF holds no such track; the muxer writes the timecode itself from the video stream's
            # timecode tag (VideoWriter).
            continue
        elif s.type == "data" and muxer in ("matroska", "webm", "mxf"):
            notes.append(
                f"stream #{s.index} (data) cannot be stored in {muxer}; dropped (write .mov or .mp4 to keep it)"
            )
        elif codec and supported and codec not in supported:
            notes.append(
                f"stream #{s.index} ({s.type}, {codec}) cannot be stored in {muxer}; dropped (write .mkv to keep it)"
            )
        else:
            keep.append(s)
    return keep, notes
