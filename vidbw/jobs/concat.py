"""The final step: join the segments' video packets and mux the source's other streams bit-exact.

No re-encoding: every segment was encoded with the same settings and starts with a keyframe, so
their packets form one stream. Audio, subtitle and data packets come straight from the source, as
in a single-pass conversion, interleaved by time. The output is written atomically.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av

from vidbw.errors import InputError, OutputError
from vidbw.io.atomic import atomic_output, describe_os_error
from vidbw.io.frames import frame_rotation
from vidbw.io.muxers import FIXED_RATE_MUXERS, ISO_MUXERS, frame_slot, muxer_for, open_output
from vidbw.io.probe import describe_video, open_input
from vidbw.io.remux import add_copied_stream, copy_chapters, copyable_metadata, copyable_streams


def _time(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts if ts is not None else 0) * packet.time_base


def _stamps(pts_values: list[int], original: list[int]) -> list[tuple[int, int]]:
    """(pts, dts) in the source's time base for a segment's packets, given in decode order.

    Intermediates may round timestamps (Matroska stores milliseconds, MP4 a start offset in the
    movie's time scale) and some containers store no dts, so both are rebuilt: the frame of rank k
    in presentation order is the segment's k-th frame of the film (its exact pts from the table),
    and the dts of the i-th packet is the pts of the (i - delay)-th frame, where delay is the
    encoder's reorder depth (frames before the first one are spaced one frame apart).
    """
    order = sorted(range(len(pts_values)), key=lambda i: pts_values[i])
    rank = [0] * len(order)
    for r, i in enumerate(order):
        rank[i] = r
    delay = max([0, *(i - r for i, r in enumerate(rank))])
    step = (original[min(delay, len(original) - 1)] - original[0]) // delay if delay and len(original) > 1 else 1
    out = []
    for i, r in enumerate(rank):
        dts = original[i - delay] if i >= delay else original[0] - (delay - i) * max(1, step)
        out.append((original[r], dts))
    return out


def _video_packets(
    segments: list[Path], originals: list[list[int]], src_tb: Fraction, slot: Fraction | None = None, shift: int = 0
) -> Iterator[av.Packet]:
    """The segments' packets stamped with the source's times, or, for a fixed-rate container, with
    frame positions of `slot` (1/frame-rate) of those times less `shift`, as `VideoWriter` stamps them."""
    last_dts = None
    for path, original in zip(segments, originals):
        with av.open(str(path)) as seg:
            stream = seg.streams.video[0]
            assert stream.time_base is not None  # libavformat gives every stream it demuxes a time base
            pts_values = [p.pts for p in seg.demux(stream) if p.size]
            if len(pts_values) != len(original) or any(p is None for p in pts_values):
                raise InputError(f"segment {path.name} holds {len(pts_values)} frames, the job planned {len(original)}")
            stamps = _stamps(cast("list[int]", pts_values), original)  # no None: checked above
            seg.seek(0)
            packets = (p for p in seg.demux(stream) if p.size)
            out_tb = src_tb if slot is None else slot
            for packet, (pts, dts) in zip(packets, stamps):
                if last_dts is not None and dts <= last_dts:
                    dts = last_dts + 1  # a join in variable-rate video: keep decode order strictly increasing
                if dts > pts:
                    raise OutputError(f"segment {path.name}: cannot order its frames after the previous segment's")
                last_dts = dts
                if slot is not None:
                    pts, dts = frame_slot(pts - shift, src_tb, slot), frame_slot(dts - shift, src_tb, slot)
                if packet.duration:
                    # In the segment's own clock, which its muxer may have chosen finer than the film's
                    # (a MOV of a 1/25 s image sequence counts 1/12800 s); the muxer reads the film's
                    # length from the last packet's end.
                    packet.duration = max(1, round(packet.duration * stream.time_base / out_tb))
                packet.time_base = out_tb
                packet.pts, packet.dts = pts, dts
                yield packet


def concat_segments(
    source: Path,
    segments: list[Path],
    output: Path,
    timestamps: list[int],
    frames: list[range],
    overwrite: bool = False,
) -> list[str]:
    """Write `output`: the segments' video (frames[i] of the film in segments[i], stamped with the
    source's pts from `timestamps`) and the source's audio/subtitle/data streams. Returns notes."""
    if not segments:
        raise InputError("no segments to join")
    muxer = muxer_for(output)
    notes: list[str] = []
    src = open_input(source)
    firsts = [av.open(str(segments[0]))]
    try:
        describe_video(src, source)
        src_tb = src.streams.video[0].time_base
        assert src_tb is not None  # as describe_video checked
        first = firsts[0].streams.video[0]
        # AVI counts frames: the segments were written at 1/frame-rate (`VideoWriter`), and the join
        # stamps positions in that clock, from the film's first frame less its start, as they were.
        slot = first.time_base if muxer in FIXED_RATE_MUXERS else None
        start = src.streams.video[0].start_time or 0
        shift = max(0, timestamps[0] - start) if slot is not None and timestamps else 0
        expected = _codec_key(first)
        for path in segments[1:]:  # one at a time: a film may have hundreds of segments
            with av.open(str(path)) as c:
                if _codec_key(c.streams.video[0]) != expected:
                    raise InputError(
                        f"segment {path.name} was encoded differently from {segments[0].name}; "
                        "they cannot be joined (delete it and resume to render it again)"
                    )
        copy, refused = copyable_streams(src, muxer)
        notes.extend(refused)
        with atomic_output(output, overwrite) as temp:
            out = open_output(temp, muxer, shown_as=output)
            try:
                out.metadata.update(copyable_metadata(firsts[0].metadata))
                copy_chapters(src, out)
                video_out = add_copied_stream(out, first)
                if muxer in ISO_MUXERS:
                    # The template copy drops the sample-entry tag; the segments were written by this
                    # muxer with the one players need (hvc1 for HEVC), so keep theirs.
                    video_out.codec_context.codec_tag = first.codec_context.codec_tag
                video_out.time_base = src_tb if slot is None else slot
                rate = src.streams.video[0].average_rate or first.average_rate
                # A template copy has no frame rate, and MXF's header needs one (Matroska's default duration uses it).
                if rate:
                    video_out.codec_context.framerate = rate
                _copy_side_data(first, video_out)
                mapping = {}
                for s in copy:
                    try:
                        copied = add_copied_stream(out, s)
                        if copied is not None:
                            mapping[s.index] = copied
                    except (ValueError, av.error.FFmpegError, NotImplementedError) as exc:
                        notes.append(f"not copied: stream #{s.index} ({s.type}): {exc}")
                for c in firsts:
                    c.close()
                firsts = []

                def others() -> Iterator[av.Packet]:
                    streams = [s for s in copy if s.index in mapping]
                    if not streams:
                        return
                    for packet in src.demux(streams):
                        if packet.dts is not None and packet.size:
                            yield packet

                counter = itertools.count()
                originals = [timestamps[r.start : r.stop] for r in frames]
                video = (
                    (_time(p), 0, next(counter), p) for p in _video_packets(segments, originals, src_tb, slot, shift)
                )
                rest = ((_time(p), 1, next(counter), p) for p in others())
                for _, kind, _, packet in heapq.merge(video, rest):
                    packet.stream = video_out if kind == 0 else mapping[packet.stream.index]
                    out.mux(packet)
                out.close()
            except OSError as exc:
                _abort(out)
                raise OutputError(f"cannot write output: {describe_os_error(exc)}") from None
            except BaseException:
                _abort(out)
                raise
    finally:
        for c in firsts:
            c.close()
        src.close()
    return notes


def _codec_key(stream) -> tuple:
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height, ctx.format.name if ctx.format else None, ctx.extradata


def _copy_side_data(template, stream) -> None:
    """Carry the display matrix (rotation) over; PyAV's template copy leaves stream side data behind."""
    container = template.container
    rotation = 0
    for frame in container.decode(template):
        rotation = frame_rotation(frame)
        break
    container.seek(0)
    if rotation:
        stream.set_display_rotation(rotation)


def _abort(container) -> None:
    try:
        container.close()
    except Exception:
        pass
