"""The streaming engine: decode → render → encode for films, and the same render for images.

Three stages overlap in three threads joined by small bounded queues, so memory does not grow with
the film's length and the encoder is never starved:

    reader thread   demux + threaded decode (PyAV)       ─► frames and copied packets
    calling thread  style grid → slice + apply kernel     ─► output frames (luma + neutral chroma)
    writer thread   encode + mux (PyAV), copied packets muxed as they are

This module knows nothing about CLI flags; `vidbw.cli` and `vidbw.convert` are thin wrappers.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import cv2
import numpy as np

from vidbw.errors import InputError, OptionError, OutputError, VidbwError
from vidbw.io.atomic import atomic_output, check_output_path, describe_os_error
from vidbw.io.hdr import hdr10_metadata
from vidbw.io.images import list_images, read_image, write_image
from vidbw.io.probe import check_readable_source, describe_video, is_image_path, open_input
from vidbw.io.video import (
    MUXER_BY_SUFFIX,
    DecodedFrame,
    DecodeStats,
    EncodeSettings,
    VideoWriter,
    check_decodable,
    copyable_streams,
    display_turns,
    frame_rotation,
    frame_timestamps as read_frame_timestamps,
    plan_encode,
    read_media,
)
from vidbw.kernels.colour import luma_output_coding
from vidbw.render import (PREDICT_BATCH, FrameRenderer, GridScheduler, Look, RenderPlan, ShotRender, colorizes, make_renderer,
                          render_image_array)
from vidbw.styles import Style
from vidbw.temporal import GridSmoother

if TYPE_CHECKING:
    from vidbw.colorize import ColorizeRequest

# Frames each stage queue may hold. Deeper queues ride out the bursts on both sides (a batch of key
# grids on the render thread, x264's frame threads and lookahead): at 1080p, 16 instead of 6 kept
# the two cores 1.92 busy instead of 1.85 and converted 3 % faster with a learned style (42.6 s
# against 44.1 s, three runs each, docs/RETOUCHER.md). Large frames get fewer, so a queue stays
# near QUEUE_BYTES (a 4K 10-bit frame is ~25 MB), but never fewer than QUEUE_MIN_FRAMES.
QUEUE_MAX_FRAMES = 16
QUEUE_MIN_FRAMES = 6
QUEUE_BYTES = 96 << 20

COLOUR_CHECK_FRAMES = 48  # frames from the start that tell whether a colorization's input has colour
COLOUR_INPUT_SPREAD = 0.02  # chroma spread (see colorize.colour_content) above which the input is colour film
COLOUR_INPUT_TINT = 0.01  # mean chroma magnitude above which a gray-looking input is a tinted scan


def queue_frames(info) -> int:
    """How many frames a stage queue holds for this film (4:2:0 planes assumed for the size)."""
    frame_bytes = info.width * info.height * 1.5 * (2 if info.bit_depth > 8 else 1)
    return int(min(QUEUE_MAX_FRAMES, max(QUEUE_MIN_FRAMES, QUEUE_BYTES // max(frame_bytes, 1))))


ProgressCallback = Callable[[int, int], None]  # (frames done, frames expected or 0)


def interlaced_note(colorizing: bool) -> str:
    """What a render of interlaced input tells the user (single passes and chunked jobs alike)."""
    if colorizing:
        return "input is interlaced: deinterlace it first for clean colour edges (fields are colorized together)"
    return "input is interlaced: fields are converted together as frames (deinterlace first if you need progressive)"


@dataclass
class ConvertResult:
    output: Path
    frames: int = 0
    seconds: float = 0.0
    concealed_frames: int = 0  # damaged or lost frames that the output covers by concealment
    notes: list[str] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)  # which style and proxy each shot or image got

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


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
                raise peer.error
            if peer is not None and not peer.is_alive() and q.empty():
                raise VidbwError(f"internal error: {peer.name} stopped without finishing")


class _Stopped(Exception):
    """Raised inside a stage when another stage has failed or the user interrupted."""


# --------------------------------------------------------------------------- video


def make_smoother(mode: str) -> GridSmoother | None:
    """The temporal grid smoother for a mode, or None when grids pass through unsmoothed."""
    return None if mode == "off" else GridSmoother(mode)


def convert_video(source: Path, output: Path, render_plan: RenderPlan, encode: EncodeSettings = EncodeSettings(),
                  overwrite: bool = False, device: str = "auto", progress: ProgressCallback | None = None,
                  shot_stream=None) -> ConvertResult:
    """Render a film with `render_plan`. With a `shot_stream` (`vidbw.shots.streaming.ShotStream`),
    the plan is the stream's own and grows as the render pass finds the shots."""
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
            stats = _run_stages(container, info, plan, render_plan, renderer, temp, copy_streams, progress, result,
                                shot_stream=shot_stream)
            check_decodable(stats.frames, source)
        result.seconds = time.perf_counter() - started
        result.frames = stats.frames
        result.concealed_frames = stats.concealed_frames
        if result.concealed_frames or stats.decode_errors:
            result.notes.append(
                f"damaged input: {stats.decode_errors} packets failed to decode; {result.concealed_frames} frames concealed"
            )
        early = _ended_early(info, stats, container.streams.video[0].start_time or 0)
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
    frames, its GIL-bound torch import only slowed their analysis as much (first frame at 1.8 s
    either way on the 10 s 1080p film). Joined on the way out, so torch is never left half-imported
    when the interpreter exits.
    """
    unique = {id(user): user for user in users}
    threads = [threading.Thread(target=user.warm_up, name="vidbw-warm-up", daemon=True)
               for user in unique.values() if hasattr(user, "warm_up")]
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


def _ended_early(info, stats: DecodeStats, start_pts: int) -> str | None:
    """A note when the decodable pictures stop short of what the header promised (a cut file)."""
    if info.frame_count:
        if stats.frames < info.frame_count:
            return f"input ended early: converted the decodable {stats.frames} of {info.frame_count} frames"
        return None
    # Matroska and MPEG-TS headers give no frame count: compare where the pictures stop with the
    # video stream's own length (not the container's, which audio may extend).
    if stats.last_pts is None or not info.frame_rate or not info.video_duration_s:
        return None
    frame_time = 1 / float(info.frame_rate)
    end = float((stats.last_pts - start_pts) * info.time_base) + frame_time
    if end < info.video_duration_s - 1.5 * frame_time:
        return f"input ended early: converted the decodable {stats.frames} frames ({end:.2f}s of {info.video_duration_s:.2f}s)"
    return None


def _run_stages(container, info, plan, render_plan: RenderPlan, renderer: FrameRenderer, temp: Path, copy_streams,
                progress, result, window: FrameWindow | None = None, shot_stream=None) -> DecodeStats:
    stats = DecodeStats()
    stop = threading.Event()
    depth = queue_frames(info)
    decoded: queue.Queue = queue.Queue(maxsize=depth)
    encoded: queue.Queue = queue.Queue(maxsize=depth)

    def read() -> None:
        numbering = {} if window is None else {"index_of_pts": window.index_of_pts, "stop_index": window.decode_stop}
        for item in read_media(container, info, copy_streams, stats, **numbering):
            _put(decoded, item, stop)
        _put(decoded, _END, stop)

    writer: VideoWriter | None = None

    def write() -> None:
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
    coding = None
    done = 0
    reader.start()

    def schedule(frames) -> None:
        for ready_frame in frames:
            render(scheduler.push(ready_frame))

    def render(ready) -> None:
        nonlocal done
        for decoded_frame, look, grid in ready:
            if window is not None and not window.start <= decoded_frame.index < window.stop:
                continue  # context: it shaped its neighbours' smoothed grids, it is not ours to write
            frame, luma, chroma = writer.new_frame()
            renderer.render(decoded_frame.planes, decoded_frame.to_rgb, decoded_frame.index, look, grid, luma, coding)
            renderer.finish_chroma(look, grid, luma, chroma, writer.bit_depth, info.full_range, info.matrix)
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
            schedule((item,) if shot_stream is None else shot_stream.push(item))
        if writer is not None:
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


def frame_timestamps(source: Path) -> list[int]:
    """Every frame's pts in presentation order (one demux pass, no decoding)."""
    with open_input(source) as container:
        describe_video(container, source)
        return read_frame_timestamps(container)


def render_segment(source: Path, output: Path, render_plan: RenderPlan, encode: EncodeSettings, frames: range,
                   context: int = 0, timestamps: list[int] | None = None, device: str = "cpu",
                   progress: ProgressCallback | None = None) -> ConvertResult:
    """Render frames[start:stop] of `source` into `output`: video only, the final codec settings and
    the original pts, so segments concatenate into the single-pass result.

    `context` extra frames are decoded on each side so temporal smoothing sees the same neighbours
    as a single pass. The output is written atomically and replaced if present.
    """
    timestamps = timestamps if timestamps is not None else frame_timestamps(source)
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
            stats = _run_stages(container, info, plan, render_plan, make_renderer(device), temp, [], progress, result, window)
            if stats.frames != len(frames):
                raise InputError(f"segment {frames.start}-{frames.stop}: decoded {stats.frames} of {len(frames)} frames")
        result.seconds = time.perf_counter() - started
        result.frames = stats.frames
        result.concealed_frames = stats.concealed_frames
        return result
    finally:
        container.close()


# --------------------------------------------------------------------------- images


def convert_image(source: Path, output: Path, look: "Look | ColorizeRequest", overwrite: bool = False,
                  renderer: FrameRenderer | None = None) -> ConvertResult:
    """One picture: to B&W with a look, or colorized (a `ColorizeRequest`)."""
    from vidbw.colorize import ColorizeRequest, colorize_image_array, colour_content, lowres_size

    check_output_path(output, (source,), overwrite)
    started = time.perf_counter()
    image = read_image(source)
    explain: list[str] = []
    notes: list[str] = []
    if isinstance(look, ColorizeRequest):
        height, width = image.rgb.shape[:2]
        analysis_size = lowres_size(width, height)
        colour_source = look.for_image(analysis_size)
        small = cv2.resize(image.rgb, analysis_size, interpolation=cv2.INTER_AREA) / float(2**image.bits - 1)
        note = input_colour_note(*colour_content(small[None]))
        notes.extend([f"{source.name}: {note}"] if note else [])
        pixels = colorize_image_array(image.rgb, image.bits, colour_source)
        explain.append(f"{source.name}: colorized, {colour_source.describe()}")
    else:
        pixels = render_image_array(image.rgb, image.bits, look, renderer, explain)
        explain = [f"{source.name}: style {look.style.name}, {e}" for e in explain]
    with atomic_output(output, overwrite) as temp:
        write_image(temp, pixels, image.alpha, compression=image.compression)
    return ConvertResult(output, frames=1, seconds=time.perf_counter() - started, notes=notes, explain=explain)


def input_colour_note(spread: float, tint: float) -> str | None:
    """What to tell the user about colour already in the input of a colorization (None: it is gray)."""
    if spread > COLOUR_INPUT_SPREAD:
        return "input is already in colour: its colours are discarded and its luma is colorized"
    if tint > COLOUR_INPUT_TINT:
        return "input is tinted (sepia or toned scan): the tint is discarded and its luma is colorized"
    return None


def convert_folder(source: Path, output: Path, look: "Look | ColorizeRequest", overwrite: bool = False,
                   progress: ProgressCallback | None = None) -> ConvertResult:
    images = list_images(source)
    if not images:
        raise InputError(f"no images in folder (looked for jpg, png, tiff, webp, bmp): {source}")
    if output.resolve() == source.resolve():
        raise OutputError(f"output folder is the input folder; choose another with -o: {output}")
    if output.exists() and not output.is_dir():
        raise OutputError(f"output path is a file, expected a folder: {output}")
    try:
        output.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {output}: {exc.strerror}") from None
    renderer = FrameRenderer()
    result = ConvertResult(output)
    started = time.perf_counter()
    failures = []
    for done, image_path in enumerate(images, 1):
        try:
            done_image = convert_image(image_path, output / image_path.name, look, overwrite, renderer)
            result.frames += 1
            result.explain.extend(done_image.explain)
            result.notes.extend(done_image.notes)
        except VidbwError as exc:
            failures.append(str(exc))
        if progress:
            progress(done, len(images))
    result.seconds = time.perf_counter() - started
    if failures:
        raise VidbwError(f"{len(failures)} of {len(images)} images failed; first: {failures[0]}")
    return result


# --------------------------------------------------------------------------- entry point


def shot_render_plan(source: Path, look: Look, temporal: str, shots_file: Path | None = None,
                     detector: str = "adaptive", progress: ProgressCallback | None = None):
    """The film's looks shot by shot, and the shot list they come from (None for one constant look).

    A shot list given by the user is used exactly as edited (style and proxy per shot). Without one,
    a learned style gets the analysis pass: cuts are detected and each shot's proxy is chosen once
    from its own frames, so the look never switches inside a shot. Classic styles need no analysis.
    The proxy choice's evidence is kept from the analysis pass (the film is decoded once before the
    render pass); only a user's shot list, or a shot too short for the kept frames, decodes some.
    """
    from vidbw.shots import FilmSampler, ShotList, assign_proxies, frame_count, shots_for_style, validate
    from vidbw.styles import get_style

    if shots_file is None and look.style.is_constant:
        return RenderPlan.single(look, temporal), None

    def style_of(name):
        return look.style if name in (None, look.style.name) else get_style(name)

    if shots_file is not None:
        shot_list = validate(ShotList.load(shots_file), frame_count(source), get_style)
        shot_list = assign_proxies(shot_list, style_of, FilmSampler(source))
    else:
        shot_list = shots_for_style(source, look.style, detector, progress=progress)
    renders = []
    for shot in shot_list.shots:
        style = style_of(shot.style)
        proxy = shot.proxy
        if proxy is not None and not hasattr(style, "choose_proxy"):
            raise OptionError(f"shot {shot.index}: style '{style.name}' is a classic style and has no proxies")
        renders.append(ShotRender(shot.start_frame, shot.end_frame, look.with_style(style), proxy))
    return RenderPlan(renders, temporal), shot_list


def colorize_render_plan(source: Path, request, temporal: str | None, shots_file: Path | None = None,
                         detector: str = "adaptive", progress: ProgressCallback | None = None):
    """The film's colour sources shot by shot: (RenderPlan, shot list, explain lines).

    Cuts come from the user's shot list or the analysis pass, so smoothing resets at every cut and
    colours never bleed across one. A shot takes its key frame from the shot list's "reference",
    else from a key-frame folder (images named by frame number) or the one --reference image; shots
    without one get their middle frame coloured by the network as their key frame. Every reference
    is read and checked before rendering.

    `temporal` None is light: key frames drive every shot, and their fine grids follow moving
    subjects, which strong smoothing softens (cups_table 28.3 dB light, 27.3 dB strong).
    """
    from vidbw.colorize import keyframe_references, lowres_size
    from vidbw.shots import FilmSampler, ShotList, detect_shots, frame_count, validate

    with open_input(source) as container:
        info = describe_video(container, source)
    analysis_size = lowres_size(info.width, info.height)
    if shots_file is not None:
        shot_list = validate(ShotList.load(shots_file), frame_count(source))
    else:
        shot_list = detect_shots(source, detector, style=None, progress=progress)
    keyframes: dict[int, Path] = {}
    if request.reference is not None and request.reference.is_dir():
        keyframes = keyframe_references(request.reference)
        beyond = [f for f in keyframes if f >= shot_list.frames]
        if beyond:
            raise OptionError(f"key frame {keyframes[beyond[0]].name} is for frame {beyond[0]}, but the film has "
                              f"{shot_list.frames} frames (0-{shot_list.frames - 1})")
    renders, explain, resolved = [], [], []
    frames = FilmSampler(source)  # the automatic key frames, decoded alike by a single pass and a job's workers
    # Key frames are pictures as players show them: a film's display rotation says how they turn.
    uses_references = request.reference is not None or any(shot.reference is not None for shot in shot_list.shots)
    turns = display_turns(frames.decoded(0).source) if uses_references else 0
    for shot in shot_list.shots:
        in_shot = sorted(f for f in keyframes if shot.start_frame <= f < shot.end_frame)
        if shot.reference is not None:
            path = shot.reference_path(shots_file)
        elif in_shot:
            path = keyframes[in_shot[0]]  # one key frame colours the shot; the earliest if several
        elif request.reference is not None and request.reference.is_file():
            path = request.reference
        else:
            path = None
        colour_source = request.automatic_key(frames, shot) if path is None else request.from_reference(path, analysis_size, turns)
        renders.append(ShotRender(shot.start_frame, shot.end_frame, Look(colour_source)))
        resolved.append(replace(shot, reference=None if path is None else str(Path(path).resolve())))
        explain.append(f"shot {shot.index}: frames {shot.start_frame}-{shot.end_frame - 1}, {colour_source.describe()}")
    temporal = temporal or "light"
    # The shot list says where each shot's colour came from (absolute key-frame paths; none:
    # automatic), so it renders the same again anywhere: chunked jobs hand it to their workers.
    return RenderPlan(renders, temporal), ShotList(shot_list.fps, shot_list.frames, resolved), explain


def film_colour_notes(source: Path) -> list[str]:
    """What to tell the user about colour already in a film given to colorize, judged from its first
    COLOUR_CHECK_FRAMES frames (none when it is gray). Apart from the plan: a chunked job's workers
    rebuild the plan for every segment and have nothing to report."""
    from vidbw.colorize import colour_content
    from vidbw.shots.analysis import LowresFilm

    sample = [frame for _, frame in zip(range(COLOUR_CHECK_FRAMES), LowresFilm(source, as_float=True))]
    note = input_colour_note(*colour_content(np.stack(sample))) if sample else None
    return [note] if note else []


def explain_shots(shot_list) -> list[str]:
    return [f"shot {s.index}: frames {s.start_frame}-{s.end_frame - 1}, style {s.style}, proxy "
            f"{'-' if s.proxy is None else s.proxy}" for s in shot_list.shots]


def renders_film(source: Path, output: Path) -> bool:
    """Whether converting `source` to `output` renders a film: a film file, or a folder's numbered
    image sequence written to a film container (`vidbw.io.sequence`); not images or a folder of photos."""
    if is_image_path(source):
        return False
    return not source.is_dir() or output.suffix.lower() in MUXER_BY_SUFFIX


def default_output_for(source: Path, suffix: str = "bw") -> Path:
    if source.is_dir():
        return source.with_name(f"{source.name}_{suffix}")
    return source.with_name(f"{source.stem}_{suffix}{source.suffix}")


def convert(source, output=None, style: str | Style = "neutral", *, grain: float = 0.0, grain_size: float = 1.0,
            grain_seed: int = 0, toning: str | None = None, temporal: str | None = None, shots: Path | None = None,
            detector: str = "adaptive", encode: EncodeSettings | None = None, overwrite: bool = False,
            device: str = "auto", progress: ProgressCallback | None = None, colorize: bool = False,
            reference: Path | None = None) -> ConvertResult:
    """Convert a film, an image or a folder of images to black and white, or colorize it.

    `output` defaults to `<stem>_bw.<ext>` beside the input (`<stem>_color.<ext>` when colorizing;
    `<folder>_bw` for folders). `temporal` defaults to light smoothing of learned grids; when
    colorizing, see `colorize_render_plan`. Raises `VidbwError` subclasses for anything the user can fix; never
    leaves a partial output.
    """
    source = Path(source)
    output = Path(output) if output is not None else default_output_for(source, "color" if colorize else "bw")
    film = renders_film(source, output)
    if shots is not None and not film:
        raise OptionError("`shots` applies to films, not images", param="shots")
    if colorize:
        return _colorize(source, output, reference, temporal, shots, detector, encode, overwrite, device, progress)
    temporal = temporal or "light"
    look = Look.named(style, grain, grain_size, grain_seed, toning)
    if source.is_dir() and not film:
        return convert_folder(source, output, look, overwrite, progress)
    if is_image_path(source):
        return convert_image(source, output, look, overwrite)
    check_readable_source(source)
    check_output_path(output, (source,), overwrite)  # before the analysis pass, not after it
    # A learned style's shots are found while the film renders (one decode); else the plan comes first.
    stream = shot_stream_for(source, look, temporal, detector) if shots is None else None
    plan, shot_list = (stream.plan, None) if stream is not None else shot_render_plan(source, look, temporal, shots, detector)
    result = convert_video(source, output, plan, encode or EncodeSettings(), overwrite, device, progress,
                           shot_stream=stream)
    shot_list = stream.shot_list() if stream is not None else shot_list
    if shot_list is not None:
        result.explain = explain_shots(shot_list)
    return result


def shot_stream_for(source: Path, look: Look, temporal: str, detector: str):
    """A `ShotStream` for a style that chooses a proxy per shot (a learned style) with a detector that
    streams; else None (the analysis pass runs first)."""
    from vidbw.shots.streaming import STREAMING_DETECTOR, ShotStream

    if look.style.is_constant or not hasattr(look.style, "choose_proxy") or detector != STREAMING_DETECTOR:
        return None

    with open_input(source) as container:
        info = describe_video(container, source)
    return ShotStream(look, temporal, info.nominal_fps, info.width, info.height)


def _colorize(source: Path, output: Path, reference, temporal, shots, detector, encode, overwrite, device,
              progress) -> ConvertResult:
    from vidbw.colorize import ColorizeRequest

    request = ColorizeRequest(reference)
    if source.is_dir() and not renders_film(source, output):
        return convert_folder(source, output, request, overwrite, progress)
    if is_image_path(source):
        return convert_image(source, output, request, overwrite)
    check_readable_source(source)
    check_output_path(output, (source,), overwrite)
    with networks_warmed_up([request]):  # the colorizer loads beside the analysis pass
        plan, _, explain = colorize_render_plan(source, request, temporal, shots, detector)
        notes = film_colour_notes(source)
        result = convert_video(source, output, plan, encode or EncodeSettings(), overwrite, device, progress)
    result.notes = notes + result.notes
    result.explain = explain
    return result
