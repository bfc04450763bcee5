"""The streaming engine: decode → render → encode for films, and `convert`, the entry point.

Three stages overlap in three threads joined by small bounded queues, so memory does not grow with
the film's length and the encoder is never starved:

    reader thread   demux + threaded decode (PyAV)       ─► frames and copied packets
    calling thread  style grid → slice + apply kernel     ─► output frames (luma + neutral chroma)
    writer thread   encode + mux (PyAV), copied packets muxed as they are

`convert` sends a film through the engine with the plan made for it (`vidbw.style_plan` for B&W,
`vidbw.colorize.plan` for colour), and pictures to `vidbw.convert_images`. This module knows
nothing about CLI flags; `vidbw.cli` and `vidbw.convert` are thin wrappers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vidbw.convert_images import convert_folder, convert_image
from vidbw.errors import InputError, OptionError, OutputError, VidbwError
from vidbw.io.atomic import atomic_output, check_output_path, describe_os_error
from vidbw.io.decode import DecodedFrame, DecodeStats, check_decodable, frame_timestamps, read_media
from vidbw.io.encode import EncodeSettings, VideoWriter, plan_encode
from vidbw.io.frames import frame_rotation
from vidbw.io.hdr import hdr10_metadata
from vidbw.io.probe import check_readable_source, describe_video, is_image_path, open_input
from vidbw.io.remux import copyable_streams
from vidbw.kernels.colour import luma_output_coding
from vidbw.render import (
    PREDICT_BATCH,
    FrameRenderer,
    GridScheduler,
    Look,
    RenderPlan,
    colorizes,
    make_renderer,
    put_grain_back,
)
from vidbw.restore import Restoration
from vidbw.restore.stream import RestoreStream
from vidbw.results import (
    ConvertResult,
    ProgressCallback,
    damaged_input_note,
    default_output_for,
    ended_early_note,
    explain_shots,
    interlaced_note,
    renders_film,
)
from vidbw.style_plan import shot_render_plan, shot_stream_for
from vidbw.styles import KeepPicture, Style
from vidbw.temporal import GridSmoother

# Frames each stage queue may hold. Deeper queues ride out the bursts on both sides (a batch of key
# grids on the render thread, x264's frame threads and lookahead; benchmarks in docs/RETOUCHER.md).
# Large frames get fewer, so a queue stays near QUEUE_BYTES (a 4K 10-bit frame is ~25 MB), but
# never fewer than QUEUE_MIN_FRAMES.
QUEUE_MAX_FRAMES = 16
QUEUE_MIN_FRAMES = 6
QUEUE_BYTES = 96 << 20
# Restoration compares frames with their neighbours: a film shorter than this has none to compare.
MIN_RESTORE_FRAMES = 3


def queue_frames(info) -> int:
    """How many frames a stage queue holds for this film (4:2:0 planes assumed for the size)."""
    frame_bytes = info.width * info.height * 1.5 * (2 if info.bit_depth > 8 else 1)
    return int(min(QUEUE_MAX_FRAMES, max(QUEUE_MIN_FRAMES, QUEUE_BYTES // max(frame_bytes, 1))))


# --------------------------------------------------------------------------- threads


class _End:
    """Marks the end of a stream of queue items."""


_END = _End()


class _Worker(threading.Thread):
    """A daemon thread that records its exception so the calling thread can re-raise it."""

    def __init__(self, target, name: str):
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the calling thread, which reports it
            self.error = exc


def _put(q: queue.Queue, item, stop: threading.Event, peer: _Worker | None = None) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        if peer is not None and peer.error is not None:
            raise peer.error
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event, peer: _Worker | None = None):
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if peer is not None and peer.error is not None:
                raise peer.error from None
            if peer is not None and not peer.is_alive() and q.empty():
                raise VidbwError(f"internal error: {peer.name} stopped without finishing") from None


class _Stopped(Exception):
    """Raised inside a stage when another stage has failed or the user interrupted."""


# --------------------------------------------------------------------------- video


def make_smoother(mode: str) -> GridSmoother | None:
    """The temporal grid smoother for a mode, or None when grids pass through unsmoothed."""
    return None if mode == "off" else GridSmoother(mode)


def convert_video(
    source: Path,
    output: Path,
    render_plan: RenderPlan,
    encode: EncodeSettings = EncodeSettings(),
    overwrite: bool = False,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    shot_stream=None,
    restore: Restoration | None = None,
) -> ConvertResult:
    """Render a film with `render_plan`. With a `shot_stream` (`vidbw.shots.streaming.ShotStream`),
    the plan is the stream's own and grows as the render pass finds the shots. With `restore`, the
    frames are restored first, shot by shot (the plan's shots: it must come from the analysis pass)."""
    container = open_input(source)
    try:
        info = describe_video(container, source)
        plan = plan_encode(encode, info, output)
        check_output_path(output, (source,), overwrite)
        renderer = make_renderer(device)
        result = ConvertResult(output, notes=list(plan.notes))
        if info.interlaced:
            result.notes.append(interlaced_note(any(colorizes(shot.look) for shot in render_plan.shots)))
        copy_streams, refused = copyable_streams(container, plan.muxer)
        result.notes.extend(refused)
        started = time.perf_counter()
        with networks_warmed_up(plan_styles(render_plan)), atomic_output(output, overwrite) as temp:
            stats = _run_stages(
                container,
                info,
                plan,
                render_plan,
                renderer,
                temp,
                copy_streams,
                progress,
                result,
                shot_stream=shot_stream,
                restorer=restore_stream(restore, render_plan, info),
            )
            check_decodable(stats.frames, source)
        result.seconds = time.perf_counter() - started
        result.frames = stats.frames
        result.concealed_frames = stats.concealed_frames
        if result.concealed_frames or stats.decode_errors:
            result.notes.append(damaged_input_note(stats.decode_errors, result.concealed_frames))
        early = ended_early_note(info, stats, container.streams.video[0].start_time or 0)
        if early:
            result.notes.append(early)
        return result
    finally:
        container.close()


@contextmanager
def networks_warmed_up(users) -> Iterator[None]:
    """Load the networks of these styles (or colorize requests) on background threads while the block runs.

    Otherwise the render thread imports torch and loads them at the first shot (or colorization's
    analysis pass does, at the first automatic key frame): about a second in which the cores mostly
    wait. A learned style warms up when its render starts: earlier, beside the shot stream's first
    frames, its GIL-bound torch import would only slow their analysis as much. Joined on the way
    out, so torch is never left half-imported when the interpreter exits.
    """
    unique = {id(user): user for user in users}
    threads = [
        threading.Thread(target=user.warm_up, name="vidbw-warm-up", daemon=True)
        for user in unique.values()
        if hasattr(user, "warm_up")
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join()


def plan_styles(render_plan: RenderPlan) -> list:
    return [shot.look.style for shot in render_plan.shots]


@dataclass(frozen=True)
class FrameWindow:
    """Part of a film to render: write frames [start, stop), decoding `context` more on each side.

    The decoded range is widened to whole prediction blocks (`PREDICT_BATCH` frames from frame 0),
    so every grid is predicted in the same batch as in a single pass: a network's float results
    can depend on its batch's size in the last bit, and that can flip a rounded code value. It
    ends one block later still: a block's last frames are interpolated towards the next block's
    first key (`GridScheduler`), so the last block that matters must see its successor.
    """

    start: int
    stop: int
    context: int
    index_of_pts: dict

    @property
    def decode_start(self) -> int:
        return max(0, self.start - self.context) // PREDICT_BATCH * PREDICT_BATCH

    @property
    def decode_stop(self) -> int:
        return min(len(self.index_of_pts), (-(-(self.stop + self.context) // PREDICT_BATCH) + 1) * PREDICT_BATCH)


def check_restorable(source: Path) -> None:
    """Refuse a film too short for restoration's temporal windows (dust needs a frame on each side)."""
    with open_input(source) as container:
        frames = describe_video(container, source).frame_count
        if not frames or frames < 2 * MIN_RESTORE_FRAMES:  # headers estimate: count the packets of short films
            frames = len(frame_timestamps(container))
    if frames < MIN_RESTORE_FRAMES:
        raise InputError(
            f"{source.name} has {frames} frame{'s' if frames != 1 else ''}: restoration compares each frame "
            f"with its neighbours and needs at least {MIN_RESTORE_FRAMES}"
        )


def restore_stream(restore: Restoration | None, render_plan: RenderPlan, info) -> RestoreStream | None:
    """The restoration stage for this plan's shots, or None without restoration."""
    if restore is None or not restore.parts:
        return None
    return RestoreStream(restore.make_parts(), [shot.start for shot in render_plan.shots], info.bit_depth)


def _run_stages(
    container,
    info,
    plan,
    render_plan: RenderPlan,
    renderer: FrameRenderer,
    temp: Path,
    copy_streams,
    progress,
    result,
    window: FrameWindow | None = None,
    shot_stream=None,
    restorer: RestoreStream | None = None,
) -> DecodeStats:
    stats = DecodeStats()
    stop = threading.Event()
    depth = queue_frames(info)
    decoded: queue.Queue = queue.Queue(maxsize=depth)
    encoded: queue.Queue = queue.Queue(maxsize=depth)

    def read() -> None:
        items = (
            read_media(container, info, copy_streams, stats)
            if window is None
            else read_media(
                container, info, copy_streams, stats, index_of_pts=window.index_of_pts, stop_index=window.decode_stop
            )
        )
        for item in items:
            _put(decoded, item, stop)
        _put(decoded, _END, stop)

    writer: VideoWriter | None = None

    def write() -> None:
        assert writer is not None  # the writer thread starts only once the writer is open
        while (item := _get(encoded, stop)) is not _END:
            if isinstance(item, tuple):
                writer.write(*item)
            else:
                writer.copy_packet(item)
        writer.close()

    scheduler = GridScheduler(render_plan, make_smoother(render_plan.temporal))
    reader = _Worker(read, "vidbw-reader")
    writer_thread = _Worker(write, "vidbw-writer")
    early_packets = []  # copied packets that arrive before the first picture opens the writer
    hdr = None  # the film's HDR10 metadata, from the frames decoded before the writer opens
    coding: tuple[float, float] | None = None
    done = 0
    reader.start()

    def schedule(frames) -> None:
        for ready_frame in frames:
            render(scheduler.push(ready_frame))

    def restored(frames) -> None:
        for frame in frames:
            schedule((frame,) if shot_stream is None else shot_stream.push(frame))

    def render(ready) -> None:
        nonlocal done
        assert writer is not None and coding is not None  # frames are scheduled only once the writer is open
        for decoded_frame, look, grid in ready:
            if window is not None and not window.start <= decoded_frame.index < window.stop:
                continue  # context: it shaped its neighbours' smoothed grids, it is not ours to write
            frame, luma, chroma = writer.new_frame()
            renderer.render(decoded_frame.planes, decoded_frame.to_rgb, decoded_frame.index, look, grid, luma, coding)
            renderer.finish_chroma(
                look,
                grid,
                luma,
                chroma,
                writer.bit_depth,
                info.full_range,
                info.matrix,
                decoded_frame.planes,
                decoded_frame.to_rgb,
            )
            grain = getattr(decoded_frame, "grain", None)
            if grain is not None:
                put_grain_back(luma, grain, coding)
            writer.carry_alpha(frame, decoded_frame.source)
            _put(encoded, (frame, decoded_frame.pts), stop, writer_thread)
            done += 1
            if progress:
                progress(done, info.frame_count if window is None else window.stop - window.start)

    try:
        while (item := _get(decoded, stop, reader)) is not _END:
            if not isinstance(item, DecodedFrame):
                if writer is None:
                    early_packets.append(item)
                else:
                    _put(encoded, item, stop, writer_thread)
                continue
            if writer is None:
                # HDR10 metadata often comes as SEI with keyframes only: the first decoded frame, the
                # keyframe a segment decodes from, has it even when the segment starts later.
                hdr = hdr or hdr10_metadata(item.source)
            if window is not None and item.index < window.decode_start:
                continue  # decoded from the keyframe before the window: needed by the decoder only
            if writer is None:
                # A streamed plan grows, but every shot it adds keeps the first one's look.
                encoder = plan.for_neutral_chroma() if render_plan.neutral_chroma else plan
                writer = VideoWriter(temp, encoder, info, container, copy_streams, frame_rotation(item.source), hdr)
                coding = luma_output_coding(info.full_range, writer.bit_depth)
                result.notes.extend(f"not copied: {d}" for d in writer.dropped)
                writer_thread.start()
                for packet in early_packets:
                    _put(encoded, packet, stop, writer_thread)
                early_packets.clear()
            restored((item,) if restorer is None else restorer.push(item))
        if writer is not None:
            if restorer is not None:
                restored(restorer.finish())
            if shot_stream is not None:
                schedule(shot_stream.finish())
            render(scheduler.drain())
        if reader.error:
            raise reader.error
        if writer is not None:
            _put(encoded, _END, stop, writer_thread)
            writer_thread.join()
            if writer_thread.error:
                raise writer_thread.error
    except BaseException as exc:
        stop.set()
        reader.join(timeout=5)
        if writer_thread.is_alive():
            writer_thread.join(timeout=5)
        if writer is not None:
            writer.abort()
        if isinstance(exc, _Stopped):
            raise (writer_thread.error or reader.error or exc) from None
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write output: {describe_os_error(exc)}") from None
        raise
    stats.frames = done if window is not None else stats.frames
    return stats


def film_timestamps(source: Path) -> list[int]:
    """Every frame's pts in presentation order (one demux pass, no decoding)."""
    with open_input(source) as container:
        describe_video(container, source)
        return frame_timestamps(container)


def render_segment(
    source: Path,
    output: Path,
    render_plan: RenderPlan,
    encode: EncodeSettings,
    frames: range,
    context: int = 0,
    timestamps: list[int] | None = None,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    restore: Restoration | None = None,
) -> ConvertResult:
    """Render frames[start:stop] of `source` into `output`: video only, the final codec settings and
    the original pts, so segments concatenate into the single-pass result.

    `context` extra frames are decoded on each side so temporal smoothing (and restoration, which
    needs `restore.reach` of them) sees the same neighbours as a single pass. The output is written
    atomically and replaced if present.
    """
    timestamps = timestamps if timestamps is not None else film_timestamps(source)
    if not 0 <= frames.start < frames.stop <= len(timestamps) or frames.step != 1:
        raise VidbwError(f"segment {frames.start}-{frames.stop} is outside the film's {len(timestamps)} frames")
    window = FrameWindow(frames.start, frames.stop, context, {pts: i for i, pts in enumerate(timestamps)})
    container = open_input(source)
    try:
        info = describe_video(container, source)
        plan = plan_encode(encode, info, output)
        result = ConvertResult(output, notes=list(plan.notes))
        video = container.streams.video[0]
        if window.decode_start > 0:
            container.seek(timestamps[window.decode_start], stream=video, backward=True)
        started = time.perf_counter()
        with networks_warmed_up(plan_styles(render_plan)), atomic_output(output, overwrite=True) as temp:
            stats = _run_stages(
                container,
                info,
                plan,
                render_plan,
                make_renderer(device),
                temp,
                [],
                progress,
                result,
                window,
                restorer=restore_stream(restore, render_plan, info),
            )
            if stats.frames != len(frames):
                raise InputError(
                    f"segment {frames.start}-{frames.stop}: decoded {stats.frames} of {len(frames)} frames"
                )
        result.seconds = time.perf_counter() - started
        result.frames = stats.frames
        result.concealed_frames = stats.concealed_frames
        return result
    finally:
        container.close()


# --------------------------------------------------------------------------- entry point


def convert(
    source,
    output=None,
    style: str | Style = "neutral",
    *,
    grain: float = 0.0,
    grain_size: float = 1.0,
    grain_seed: int = 0,
    toning: str | None = None,
    temporal: str | None = None,
    shots: Path | None = None,
    detector: str = "adaptive",
    encode: EncodeSettings | None = None,
    overwrite: bool = False,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    colorize: bool = False,
    reference: Path | None = None,
    restore: Restoration | None = None,
) -> ConvertResult:
    """Convert a film, an image or a folder of images to black and white, or colorize it.

    `output` defaults to `<stem>_bw.<ext>` beside the input (`<stem>_color.<ext>` when colorizing;
    `<folder>_bw` for folders; see `vidbw.results.default_output_for`). `temporal` defaults to light
    smoothing of learned grids; when colorizing, see `vidbw.colorize.plan.colorize_render_plan`.
    `restore` restores a film's frames before the look (`style=KeepPicture()`: restoration alone).
    Raises `VidbwError` subclasses for anything the user can fix; never leaves a partial output.
    """
    source = Path(source)
    keep = isinstance(style, KeepPicture) or (isinstance(style, str) and style.strip().lower() == KeepPicture.name)
    suffix = "color" if colorize else "restored" if keep else "bw"
    output = Path(output) if output is not None else default_output_for(source, suffix)
    film = renders_film(source, output)
    if shots is not None and not film:
        raise OptionError("`shots` applies to films, not images", param="shots")
    if restore is not None and not film:
        raise OptionError("`restore` applies to films, not still images", param="restore")
    if colorize:
        return _colorize(
            source, output, reference, temporal, shots, detector, encode, overwrite, device, progress, restore
        )
    temporal = temporal or "light"
    look = Look.named(style, grain, grain_size, grain_seed, toning)
    if source.is_dir() and not film:
        return convert_folder(source, output, look, overwrite, progress)
    if is_image_path(source):
        return convert_image(source, output, look, overwrite)
    check_readable_source(source)
    check_output_path(output, (source,), overwrite)  # before the analysis pass, not after it
    # A learned style's shots are found while the film renders (one decode); else the plan comes first,
    # as it does for restoration, which needs every cut before the frames around it.
    if restore is not None:
        check_restorable(source)
    stream = shot_stream_for(source, look, temporal, detector) if shots is None and restore is None else None
    plan, shot_list = (
        (stream.plan, None)
        if stream is not None
        else shot_render_plan(source, look, temporal, shots, detector, cuts_needed=restore is not None)
    )
    result = convert_video(
        source,
        output,
        plan,
        encode or EncodeSettings(),
        overwrite,
        device,
        progress,
        shot_stream=stream,
        restore=restore,
    )
    shot_list = stream.shot_list() if stream is not None else shot_list
    if shot_list is not None:
        result.explain = explain_shots(shot_list)
    return result


def _colorize(
    source: Path, output: Path, reference, temporal, shots, detector, encode, overwrite, device, progress, restore
) -> ConvertResult:
    from vidbw.colorize import ColorizeRequest
    from vidbw.colorize.plan import colorize_render_plan, film_colour_notes

    request = ColorizeRequest(reference)
    if source.is_dir() and not renders_film(source, output):
        return convert_folder(source, output, request, overwrite, progress)
    if is_image_path(source):
        return convert_image(source, output, request, overwrite)
    check_readable_source(source)
    check_output_path(output, (source,), overwrite)
    if restore is not None:
        check_restorable(source)
    with networks_warmed_up([request]):  # the colorizer loads beside the analysis pass
        plan, _, explain = colorize_render_plan(source, request, temporal, shots, detector)
        notes = film_colour_notes(source)
        result = convert_video(
            source, output, plan, encode or EncodeSettings(), overwrite, device, progress, restore=restore
        )
    result.notes = notes + result.notes
    result.explain = explain
    return result
