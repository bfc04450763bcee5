"""Encoding luma + neutral chroma: which codec, pixel format and options an output gets, and the writer.

`plan_encode` turns the user's `EncodeSettings` and the source's description into an `EncodePlan`
(codec policy: mastering codecs kept, the container's default otherwise, bit depth and chroma
layout); `VideoWriter` encodes frames with it and muxes the copied streams' packets beside them.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from vidbw.errors import OptionError, OutputError
from vidbw.io.frames import has_alpha, plane_view
from vidbw.io.hdr import Hdr10Metadata, with_encoder_params
from vidbw.io.hdr import encoder_options as hdr_encoder_options
from vidbw.io.muxers import (
    FIXED_RATE_MUXERS,
    ISO_MUXERS,
    NO_NEGATIVE_DTS_MUXERS,
    NO_REORDER_MUXERS,
    TIMECODE_MUXERS,
    frame_slot,
    muxer_codecs,
    muxer_for,
    open_output,
)
from vidbw.io.probe import VideoInfo
from vidbw.io.remux import add_copied_stream, copy_chapters, copy_stream_labels, copyable_metadata, source_timecode
from vidbw.kernels.colour import neutral_chroma

# ProRes profiles as FFmpeg's decoder names them -> prores_ks's profile numbers.
PRORES_PROFILES = {"Proxy": 0, "LT": 1, "Standard": 2, "HQ": 3, "4444": 4, "XQ": 5}
_PRORES_444_PROFILES = (4, 5)


def _full_chroma(pix_fmt: str) -> bool:
    return av.VideoFormat(pix_fmt).chroma_width(2) == 2  # 4:4:4


def _prores_profile(pix_fmt: str, source_profile: str | None) -> str:
    """The ProRes profile for this picture: the source's when it fits, else 422 HQ or 4444.

    The profile names the chroma layout in the file's own tag (apch is 422 HQ, ap4h is 4444), so a
    4:4:4 picture must be written as 4444 (or 4444 XQ) and a 4:2:2 one as a 422 profile."""
    wanted = PRORES_PROFILES.get(source_profile or "")
    if _full_chroma(pix_fmt):
        return str(wanted if wanted in _PRORES_444_PROFILES else 4)
    return str(wanted if wanted is not None and wanted not in _PRORES_444_PROFILES else 3)


# DNxHR's 8-bit 4:2:2 profiles as FFmpeg's decoder names them -> the encoder's profile names. HQX
# (10-bit 4:2:2) and 444 follow from the pixel format; legacy DNxHD (fixed sizes and bit rates)
# becomes DNxHR HQ/HQX, which takes any size.
DNXHR_8BIT_PROFILES = {"DNXHR LB": "dnxhr_lb", "DNXHR SQ": "dnxhr_sq", "DNXHR HQ": "dnxhr_hq"}


def _dnxhr_profile(pix_fmt: str, source_profile: str | None) -> str:
    if _full_chroma(pix_fmt):
        return "dnxhr_444"
    if av.VideoFormat(pix_fmt).components[0].bits > 8:
        return "dnxhr_hqx"
    return DNXHR_8BIT_PROFILES.get(source_profile or "", "dnxhr_hq")


@dataclass(frozen=True)
class CodecProfile:
    """What vidbw knows about an output codec: its pixel formats by bit depth and its options."""

    name: str
    pix_fmts: dict  # bit depth -> pixel format for 4:2:0-style delivery
    pix_fmts_444: dict  # bit depth -> 4:4:4 variant, used when the picture has odd dimensions
    default_crf: int | None = None
    presets: tuple[str, ...] = ()
    fixed_options: dict = field(default_factory=dict)
    frame_threads: bool = True
    mp4_tag: str | None = None  # the sample-entry tag in MP4/MOV, where FFmpeg's default is not the one players want
    alpha: bool = False  # stores an alpha channel (a yuva pixel format): a source's transparency is kept
    min_size: tuple[int, int] = (1, 1)  # the smallest picture (width, height) the encoder takes
    # The encoder's "profile" option for a pixel format and, when the source has this codec, the
    # source's profile as FFmpeg's decoder names it (so a master keeps its profile).
    profile_for: Callable[[str, str | None], str] | None = None


_X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

CODECS = {
    "libx264": CodecProfile(
        "libx264", {8: "yuv420p", 10: "yuv420p10le"}, {8: "yuv444p", 10: "yuv444p10le"}, 18, _X26X_PRESETS
    ),
    "libx265": CodecProfile(
        "libx265",
        {8: "yuv420p", 10: "yuv420p10le"},
        {8: "yuv444p", 10: "yuv444p10le"},
        20,
        _X26X_PRESETS,
        {"x265-params": "log-level=error"},
        # Apple's players and editors open HEVC only when it is tagged hvc1; FFmpeg writes hev1.
        mp4_tag="hvc1",
    ),
    # ProRes (422 HQ unless the source is another ProRes; 4444 for 4:4:4): the usual mastering
    # intermediate; it is 10-bit whatever the input.
    "prores_ks": CodecProfile(
        "prores_ks",
        {8: "yuv422p10le", 10: "yuv422p10le"},
        {8: "yuv444p10le", 10: "yuv444p10le"},
        fixed_options={"vendor": "apl0"},
        alpha=True,
        profile_for=_prores_profile,
    ),
    # FFV1 version 3 with slice CRCs: the archival lossless choice.
    "ffv1": CodecProfile(
        "ffv1",
        {8: "yuv420p", 10: "yuv420p10le"},
        {8: "yuv444p", 10: "yuv444p10le"},
        fixed_options={"level": "3", "slicecrc": "1", "slices": "4"},
        frame_threads=False,
        alpha=True,
    ),
    "libvpx-vp9": CodecProfile(
        "libvpx-vp9",
        {8: "yuv420p", 10: "yuv420p10le"},
        {8: "yuv444p", 10: "yuv444p10le"},
        31,
        fixed_options={"b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"},
        frame_threads=False,
    ),
    "mpeg2video": CodecProfile("mpeg2video", {8: "yuv422p"}, {8: "yuv422p"}, fixed_options={"qscale": "2", "g": "12"}),
    # Avid DNxHR (HQ, HQX at 10 bits, 444 for 4:4:4), the other mastering intermediate. Slice threads
    # only: FFmpeg's DNx encoder has no frame threads.
    "dnxhd": CodecProfile(
        "dnxhd",
        {8: "yuv422p", 10: "yuv422p10le"},
        {8: "yuv444p10le", 10: "yuv444p10le"},
        frame_threads=False,
        min_size=(256, 120),
        profile_for=_dnxhr_profile,
    ),
}

# The names people type for these codecs (FFmpeg's own encoder names are the keys of CODECS).
CODEC_ALIASES = {
    "h264": "libx264",
    "x264": "libx264",
    "avc": "libx264",
    "h265": "libx265",
    "hevc": "libx265",
    "x265": "libx265",
    "prores": "prores_ks",
    "vp9": "libvpx-vp9",
    "mpeg2": "mpeg2video",
    "dnxhr": "dnxhd",
}


# Mastering and archival codecs a source keeps when no --codec is given and the container can hold
# them: a ProRes or DNx master stays ProRes or DNxHR (in its own profile), an FFV1 archive stays
# lossless. Delivery codecs (H.264, HEVC, VP9, ...) are re-encoded with the container's default.
KEPT_SOURCE_CODECS = {"prores": "prores_ks", "ffv1": "ffv1", "dnxhd": "dnxhd"}
MASTERING_CODECS = frozenset(KEPT_SOURCE_CODECS.values())


def canonical_codec(name: str) -> str:
    """`--codec` as typed -> a key of CODECS ("prores" -> "prores_ks"); a clear error for unknown ones."""
    key = name.strip().lower()
    key = CODEC_ALIASES.get(key, key)
    if key not in CODECS:
        aliases = ", ".join(f"{a} = {c}" for a, c in CODEC_ALIASES.items())
        raise OptionError(f"unknown codec '{name}' (choose from {', '.join(CODECS)}; also {aliases})")
    return key


# Output frames the encoder is done with, kept for new_frame to reuse (a bound on idle memory; frames
# waiting in the render queue are not spares, so a deep queue allocates its fill once, then reuses).
SPARE_FRAMES = 8
# Encoders whose output cannot be marked full range (ProRes, DNx and MPEG-2 video carry no range flag, and
# neither MOV's 'nclc' colour atom nor MXF says it): full-range input is written as limited range.
LIMITED_RANGE_ONLY_CODECS = {"prores_ks", "mpeg2video", "dnxhd"}
_AVCOL_RANGE_MPEG = 1


@functools.lru_cache(maxsize=4)
def _full_to_limited_luts(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Code-to-code maps from full range (Y 0..peak, C centred with the same scale) to limited range."""
    peak = 2**bits - 1
    s = 2 ** (bits - 8)
    codes = np.arange(peak + 1, dtype=np.float64)
    dtype = np.uint8 if bits <= 8 else np.uint16
    y = np.round(16 * s + codes * (219 * s / peak))
    c = np.round(128 * s + (codes - 128 * s) * (224 * s / peak))
    return y.astype(dtype), np.clip(c, 16 * s, 240 * s).astype(dtype)


# Encoders that take only 1/frame-rate as time base, and the rates MPEG-2 video can signal.
FIXED_RATE_CODECS = {"mpeg2video"}
MPEG2_FRAME_RATES = {
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
}


# What a container gets when the user did not name a codec and libx264 cannot go in it.
CONTAINER_DEFAULT_CODEC = {"webm": "libvpx-vp9", "mxf": "mpeg2video"}


@dataclass(frozen=True)
class EncodeSettings:
    codec: str | None = None  # None: libx264, or the container's own when it cannot hold H.264
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    bit_depth: int | None = None  # None: keep the input's (8 stays 8, 10 and up become 10)
    threads: int | None = None  # encoder threads; None: as many as the machine has

    def __post_init__(self):
        if self.codec is not None:  # one spelling, so a job's settings compare equal however it was typed
            object.__setattr__(self, "codec", canonical_codec(self.codec))


@dataclass(frozen=True)
class EncodePlan:
    """The resolved choices, ready to open an encoder with."""

    muxer: str
    codec: str
    pix_fmt: str
    options: dict
    notes: tuple[str, ...]
    threads: int = 0  # 0: FFmpeg's automatic choice (every core)

    def for_neutral_chroma(self) -> EncodePlan:
        """This plan for pictures whose chroma planes are all neutral (a plain B&W look).

        x264's chroma motion search then finds every vector's chroma cost equal, so it is skipped: it
        would spend encoder time to choose among vectors it cannot tell apart."""
        if self.codec != "libx264":
            return self
        return replace(self, options=with_encoder_params(self.options, "x264-params", "chroma-me=0"))


def _can_keep(codec: str, muxable: frozenset, settings: EncodeSettings) -> bool:
    """Whether the source's own codec can be written as asked: the container holds it, and it writes
    the --bit-depth or --pix-fmt given (ProRes has no 8-bit form)."""
    if muxable and av.codec.Codec(codec, "w").name not in muxable:
        return False
    if settings.pix_fmt:
        return settings.pix_fmt in {f.name for f in av.codec.Codec(codec, "w").video_formats or []}
    if settings.bit_depth:
        pix_fmt = CODECS[codec].pix_fmts.get(settings.bit_depth)
        return pix_fmt is not None and av.VideoFormat(pix_fmt).components[0].bits == settings.bit_depth
    return True


def plan_encode(settings: EncodeSettings, info: VideoInfo, output: Path) -> EncodePlan:
    muxer = muxer_for(output)
    notes = []
    muxable = muxer_codecs(muxer)
    kept = KEPT_SOURCE_CODECS.get(info.codec) if settings.codec is None else None
    if kept is not None and not _can_keep(kept, muxable, settings):
        kept = None  # e.g. ProRes to .mp4, or --bit-depth 8: the container's delivery default instead
    codec = settings.codec or kept or CONTAINER_DEFAULT_CODEC.get(muxer, "libx264")
    profile = CODECS[codec]
    av_name = av.codec.Codec(codec, "w").name
    if muxable and av_name not in muxable:
        raise OptionError(
            f"{codec} cannot be stored in {output.suffix} files; choose another `codec` or output extension",
            param="codec",
        )

    if info.width < profile.min_size[0] or info.height < profile.min_size[1]:
        raise OptionError(
            f"{codec} needs a picture of at least {profile.min_size[0]}x{profile.min_size[1]} and this one "
            f"is {info.width}x{info.height}; choose another `codec`",
            param="codec",
        )
    if codec in FIXED_RATE_CODECS and info.frame_rate not in MPEG2_FRAME_RATES:
        rate = f"{float(info.frame_rate):.3f}".rstrip("0").rstrip(".") if info.frame_rate else "an unknown"
        raise OptionError(
            f"{codec} writes only standard frame rates (23.976, 24, 25, 29.97, 30, 50, 59.94, 60 fps) "
            f"and this clip is {rate} fps; choose another `codec` or output extension",
            param="codec",
        )
    depth = settings.bit_depth or (8 if info.bit_depth <= 8 else 10)
    if settings.pix_fmt:
        pix_fmt = settings.pix_fmt
    else:
        if depth not in profile.pix_fmts:
            depths = ", ".join(str(d) for d in profile.pix_fmts)
            raise OptionError(f"{codec} cannot write {depth}-bit video (it writes {depths}-bit)")
        pix_fmt = profile.pix_fmts[depth]
        source = av.VideoFormat(info.pix_fmt)
        full_chroma_source = len(source.components) >= 3 and not source.is_rgb and _full_chroma(info.pix_fmt)
        # R'G'B' scans and masters stay 4:4:4 in a mastering codec; a delivery codec gets 4:2:0, which
        # every player decodes (H.264 4:4:4 plays almost nowhere) and which loses nothing of a B&W picture.
        rgb_to_master = source.is_rgb and codec in MASTERING_CODECS
        if full_chroma_source or rgb_to_master or info.width % 2 or info.height % 2:
            if info.width % 2 or info.height % 2:
                notes.append(f"odd picture size {info.width}x{info.height}: writing 4:4:4 to keep every pixel")
            pix_fmt = profile.pix_fmts_444[depth]
    encoder_formats = {f.name for f in (av.codec.Codec(codec, "w").video_formats or [])}
    if not settings.pix_fmt and has_alpha(info.pix_fmt):
        # The same layout with alpha, else 4:4:4 with alpha (ProRes holds alpha only in 4444).
        with_alpha = [
            f for f in (pix_fmt, profile.pix_fmts_444[depth]) if f.replace("yuv", "yuva", 1) in encoder_formats
        ]
        if profile.alpha and with_alpha:
            pix_fmt = with_alpha[0].replace("yuv", "yuva", 1)
        else:
            notes.append(f"alpha channel not kept: {codec} cannot store one (--codec prores_ks or ffv1 keep it)")
    if pix_fmt not in encoder_formats:
        raise OptionError(
            f"{codec} cannot encode pixel format '{pix_fmt}' (it takes {', '.join(sorted(encoder_formats))})"
        )
    if av.VideoFormat(pix_fmt).is_rgb or len(av.VideoFormat(pix_fmt).components) < 3:
        raise OptionError(f"`pix_fmt` must be a planar YUV format, got '{pix_fmt}'", param="pix_fmt")

    options = dict(profile.fixed_options)
    if profile.profile_for is not None:
        same_codec = KEPT_SOURCE_CODECS.get(info.codec) == codec
        options["profile"] = profile.profile_for(pix_fmt, info.profile if same_codec else None)
    if kept is not None:
        notes.append(f"{codec} like the source (a mastering codec is kept; --codec chooses another)")
    if muxer in NO_REORDER_MUXERS | NO_NEGATIVE_DTS_MUXERS and codec in ("libx264", "libx265"):
        # AVI stores no presentation timestamps: reordered (B) frames would come back with scrambled times;
        # MPEG-TS would shift all timestamps by the B-frame delay.
        options["bf"] = "0"
    if settings.crf is not None and profile.default_crf is None:
        notes.append(f"--crf does not apply to {codec}; ignored")
    crf = settings.crf if settings.crf is not None else profile.default_crf
    if crf is not None:
        options["crf"] = str(crf)
    if settings.preset is not None:
        if not profile.presets:
            notes.append(f"--preset does not apply to {codec}; ignored")
        elif settings.preset not in profile.presets:
            raise OptionError(
                f"unknown preset '{settings.preset}' for {codec} (choose from {', '.join(profile.presets)})"
            )
        else:
            options["preset"] = settings.preset
    elif profile.presets:
        options["preset"] = "medium"
    return EncodePlan(muxer, codec, pix_fmt, options, tuple(notes), settings.threads or 0)


class VideoWriter:
    """Encodes luma planes with neutral chroma and muxes copied packets into one output file."""

    def __init__(
        self,
        path: Path,
        plan: EncodePlan,
        info: VideoInfo,
        source: av.container.InputContainer,
        copy_streams: list,
        rotation: int = 0,
        hdr: Hdr10Metadata | None = None,
    ):
        self.plan = plan
        self.info = info
        self.dropped: list[str] = []
        self.container = open_output(path, plan.muxer)
        self.container.metadata.update(copyable_metadata(source.metadata))
        copy_chapters(source, self.container)
        in_video = source.streams.video[0]
        rate = info.frame_rate or Fraction(25)
        options, hdr_dropped = hdr_encoder_options(plan.codec, plan.options, hdr)
        if hdr_dropped:
            self.dropped.append(hdr_dropped)
        stream = self.container.add_stream(plan.codec, rate=rate, options=options)
        assert isinstance(stream, av.video.stream.VideoStream)  # plan_encode chose a video encoder
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, plan.pix_fmt
        ctx = stream.codec_context
        # Timestamps pass through in the input's own time base, so every frame keeps its exact pts;
        # MPEG-2 and AVI only take 1/frame-rate (plan_encode checked MPEG-2's rate), so there pts
        # are rescaled to frame numbers.
        self._fixed_rate = (
            f"{plan.codec}'s"
            if plan.codec in FIXED_RATE_CODECS
            else f"{plan.muxer.upper()}'s"
            if plan.muxer in FIXED_RATE_MUXERS
            else None
        )
        self.encode_time_base = Fraction(1) / rate if self._fixed_rate else info.time_base
        ctx.time_base = self.encode_time_base
        stream.time_base = self.encode_time_base
        if in_video.sample_aspect_ratio:
            ctx.sample_aspect_ratio = in_video.sample_aspect_ratio
        # Codecs whose bitstream and container tags cannot say "full range": full-range pictures are
        # rescaled to limited range on write (see `write`) and tagged so.
        self._to_limited = info.full_range and plan.codec in LIMITED_RANGE_ONLY_CODECS
        for name, value in info.color_tags.items():
            if value:
                setattr(ctx, name, _AVCOL_RANGE_MPEG if name == "color_range" and self._to_limited else value)
        profile = CODECS[plan.codec]
        if profile.mp4_tag and plan.muxer in ISO_MUXERS:
            ctx.codec_tag = profile.mp4_tag
        if profile.frame_threads:
            # PyAV opens encoders with slice threads; frame threads are what make x264 fast
            # (benchmarks/bench_convert.py, benchmarks/thread_cpu.py).
            ctx.thread_type = "FRAME"
        ctx.thread_count = plan.threads  # a chunked job's worker takes only its share of the cores
        copy_stream_labels(in_video, stream)
        if plan.muxer in TIMECODE_MUXERS and "timecode" not in stream.metadata:
            # The muxer re-creates the timecode from this tag (see copyable_streams).
            timecode = source_timecode(source)
            if timecode is not None:
                stream.metadata["timecode"] = timecode
        if rotation:
            stream.set_display_rotation(rotation)
        self.video = stream
        self.out_format = av.VideoFormat(plan.pix_fmt)
        self.bit_depth = self.out_format.components[0].bits
        self.dtype = np.uint8 if self.bit_depth <= 8 else np.uint16
        self.neutral = neutral_chroma(self.bit_depth)
        self._alpha_dtype = self.dtype if has_alpha(plan.pix_fmt) else None  # see carry_alpha
        self.full_range = info.full_range  # the range of the codes callers write into new_frame()'s planes
        self._range_luts = _full_to_limited_luts(self.bit_depth) if self._to_limited else None
        self._copies = {}
        self._spare: deque = deque()  # frames the encoder is done with, for new_frame to reuse
        self._reuse = True
        for s in copy_streams:
            try:
                copied = add_copied_stream(self.container, s)
                if copied is not None:
                    self._copies[s.index] = copied
            except (ValueError, av.error.FFmpegError, NotImplementedError) as exc:
                self.dropped.append(
                    f"stream #{s.index} ({s.type}, {s.codec_context.name if s.codec_context else '?'}): {exc}"
                )
        self.frames_written = 0
        self._last_grid_pts: int | None = None
        # AVI has no presentation timestamps, only frame positions; FFmpeg reads a frame's time back as
        # its position plus the stream's decode delay. Write each frame at its input position (the
        # input pts less that delay, measured on the first frame) so it reads back at the input's time.
        self._position_base = in_video.start_time or 0
        self._position_shift: int | None = None if plan.muxer in NO_REORDER_MUXERS else 0

    def new_frame(self) -> tuple[av.VideoFrame, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """An output frame, its luma plane to write into, and its chroma planes (already neutral).

        Frames come back from `write` to be reused: a new frame's buffers cost a page fault on every
        page first written. An encoder may still hold the picture it was given (FFmpeg's frame-threaded ones,
        e.g. prores_ks, keep a reference until they are done); `make_writable` then copies it into
        a new buffer, and this writer stops reusing frames, since such copies cost more than new ones.
        """
        w, h = self.info.width, self.info.height
        frame = self._spare.popleft() if self._spare else None
        if frame is not None:
            buffer = frame.planes[0].buffer_ptr
            frame.make_writable()
            self._reuse = frame.planes[0].buffer_ptr == buffer
        else:
            frame = av.VideoFrame(w, h, self.plan.pix_fmt)
        fmt = self.out_format
        luma = plane_view(frame.planes[0], w, h, self.dtype)
        # plan_encode allows only planar YUV formats: planes 1 and 2 are the two chroma planes.
        chroma = cast(
            tuple[np.ndarray, np.ndarray],
            tuple(plane_view(p, fmt.chroma_width(w), fmt.chroma_height(h), self.dtype) for p in frame.planes[1:3]),
        )
        for plane in chroma:
            plane.fill(self.neutral)
        return frame, luma, chroma

    def carry_alpha(self, frame: av.VideoFrame, source: av.VideoFrame | None) -> None:
        """Copy the source picture's alpha plane into `frame` (rescaled between bit depths), when the
        output has one; a source picture without alpha makes the output opaque."""
        if self._alpha_dtype is None:
            return
        w, h = self.info.width, self.info.height
        alpha = plane_view(frame.planes[3], w, h, self._alpha_dtype)
        peak = 2**self.bit_depth - 1
        if source is None or not has_alpha(source.format.name):
            alpha.fill(peak)
            return
        component = next(c for c in source.format.components if c.is_alpha)  # planar, as read_media gives them
        bits = component.bits
        src = plane_view(source.planes[component.plane], w, h, np.uint8 if bits <= 8 else np.uint16)
        if bits == self.bit_depth:
            alpha[...] = src
        else:
            # Rounded to the nearest code (peaks are odd, so there are no ties): 12-bit 4095, opaque, stays
            # opaque at 10 bits. OpenCV scales straight into the plane, with no float temporaries as numpy needs.
            depth = cv2.CV_16U if alpha.itemsize == 2 else cv2.CV_8U
            cv2.addWeighted(src, peak / (2**bits - 1), src, 0.0, 0.0, dst=alpha, dtype=depth)

    def write(self, frame: av.VideoFrame, pts: int | None) -> None:
        if self._position_shift is None and pts is not None:
            self._position_shift = max(0, pts - self._position_base)
        frame.pts = pts - self._position_shift if pts is not None and self._position_shift else pts
        if frame.pts is not None and self.encode_time_base != self.info.time_base:
            frame.pts = frame_slot(frame.pts, self.info.time_base, self.encode_time_base)
            if self._last_grid_pts is not None and frame.pts <= self._last_grid_pts:
                assert pts is not None  # frame.pts was set from pts, and it is not None here
                raise OptionError(
                    f"variable frame rate input: frame at {float(pts * self.info.time_base):.3f}s does not "
                    f"fit {self._fixed_rate} fixed frame rate; choose another `codec` or output extension",
                    mentions=("codec",),
                )
            self._last_grid_pts = frame.pts
        frame.time_base = self.encode_time_base
        if self._range_luts is not None:
            self._rescale_to_limited(frame)
        self._mux(self.video.encode(frame))
        self.frames_written += 1
        if self._reuse and len(self._spare) < SPARE_FRAMES:
            self._spare.append(frame)  # a deque: new_frame pops from the render thread

    def _rescale_to_limited(self, frame: av.VideoFrame) -> None:
        w, h = self.info.width, self.info.height
        fmt = self.out_format
        assert self._range_luts is not None  # write() calls this only when there are LUTs
        y_lut, c_lut = self._range_luts
        luma = plane_view(frame.planes[0], w, h, self.dtype)
        luma[...] = y_lut[luma]
        for plane in frame.planes[1:3]:
            chroma = plane_view(plane, fmt.chroma_width(w), fmt.chroma_height(h), self.dtype)
            chroma[...] = c_lut[chroma]

    def copy_packet(self, packet: av.Packet) -> None:
        out_stream = self._copies.get(packet.stream.index)
        if out_stream is None:
            return
        packet.stream = out_stream
        self._mux([packet])

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:
            raise OutputError(f"cannot write output: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Flush the encoder and finish the file (writes the index)."""
        self._mux(self.video.encode(None))
        try:
            self.container.close()
        except OSError as exc:
            raise OutputError(f"cannot finish output: {exc.strerror or exc}") from None

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # the file is being thrown away; nothing useful to report
            pass
