"""Tiny real media for the tests, generated with PyAV + numpy (and the ffmpeg binary for subtitles).

Everything is synthetic and deterministic: a colourful moving pattern (75% colour bars, a moving
gradient, a moving square) with a saturated blue patch and a saturated red patch at fixed places,
so style tests can measure those regions. YUV is computed here in numpy (BT.709, limited range) and
written straight into the frames, so the fixtures do not depend on swscale's conventions.

Also: helpers to read media back (frame timestamps as exact fractions, planes, packets) that the
tests use to compare inputs with outputs.
"""

from __future__ import annotations

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Where the fixed patches are, as fractions of (width, height): x0, y0, x1, y1.
BLUE_PATCH = (0.06, 0.58, 0.36, 0.92)
RED_PATCH = (0.64, 0.58, 0.94, 0.92)

KR, KG, KB = 0.2126, 0.7152, 0.0722  # BT.709

# AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange numbers.
BT709_TAGS = {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}


# HDR10 static metadata of the hdr_mkv fixture: a P3 mastering display of 1000 cd/m² (0.005 min),
# as x264 / x265 parameters spell it, and (MaxCLL, MaxFALL).
HDR10_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
HDR10_LIGHT = (1000, 400)


def patch_box(box, width: int, height: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    return slice(round(y0 * height), round(y1 * height)), slice(round(x0 * width), round(x1 * width))


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """Float R'G'B' in [0, 1], shape (height, width, 3): bars, a moving gradient and square, two patches."""
    img = np.zeros((height, width, 3), np.float64)
    bars = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1], [0, 1, 0], [1, 0, 1], [1, 0, 0], [0, 0, 1]], np.float64) * 0.75
    top = max(1, height // 2)
    cols = np.minimum((np.arange(width) * len(bars)) // max(1, width), len(bars) - 1)
    img[:top] = bars[cols][None, :, :]
    # A gradient that slides right 3 px per frame, tinted, over the bottom half.
    x = (np.arange(width) + 3 * index) % max(1, width) / max(1, width - 1)
    y = np.arange(height - top) / max(1, height - top - 1)
    img[top:, :, 0] = 0.15 + 0.7 * x[None, :]
    img[top:, :, 1] = 0.2 + 0.6 * y[:, None]
    img[top:, :, 2] = 0.85 - 0.7 * x[None, :]
    # A moving white-ish square in the bars, so consecutive frames differ.
    side = max(2, min(width, height) // 8)
    sx = (5 * index) % max(1, width - side)
    img[2 : 2 + side, sx : sx + side] = (0.9, 0.85, 0.8)
    # Saturated patches the style tests measure.
    img[patch_box(BLUE_PATCH, width, height)] = (0.0, 0.0, 1.0)
    img[patch_box(RED_PATCH, width, height)] = (1.0, 0.0, 0.0)
    return img


def pattern_rgb8(index: int, width: int, height: int) -> np.ndarray:
    return np.round(pattern(index, width, height) * 255).astype(np.uint8)


def rgb_to_yuv(rgb: np.ndarray, bits: int, sub_x: int, sub_y: int, full_range: bool = False,
               luma: tuple[float, float, float] = (KR, KG, KB)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y'CbCr codes with these luma coefficients (BT.709's unless given; limited range unless
    `full_range`); chroma averaged over (sub_y, sub_x) blocks."""
    kr, kg, kb = luma
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = kr * r + kg * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    s = 2 ** (bits - 8)
    dtype = np.uint8 if bits <= 8 else np.uint16
    peak = 2**bits - 1
    y_codes = np.round(y * peak if full_range else (16 + 219 * y) * s).astype(dtype)

    def sub(c):
        h, w = c.shape
        ph, pw = (-h) % sub_y, (-w) % sub_x
        c = np.pad(c, ((0, ph), (0, pw)), mode="edge")
        c = c.reshape(c.shape[0] // sub_y, sub_y, c.shape[1] // sub_x, sub_x).mean(axis=(1, 3))
        return np.clip(np.round(2 ** (bits - 1) + peak * c if full_range else (128 + 224 * c) * s), 0, peak).astype(dtype)

    return y_codes, sub(cb), sub(cr)


def plane_view(plane, width: int, height: int, dtype) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype=dtype).reshape(height, plane.line_size // itemsize)[:, :width]


def yuv_frame(index: int, width: int, height: int, pix_fmt: str, full_range: bool = False) -> av.VideoFrame:
    """One pattern frame in a planar YUV pixel format (any subsampling, 8 to 16 bits)."""
    fmt = av.VideoFormat(pix_fmt)
    bits = fmt.components[0].bits
    cw, ch = fmt.chroma_width(width), fmt.chroma_height(height)
    sub_x, sub_y = (1 if cw == width else 2), (1 if ch == height else 2)
    planes = rgb_to_yuv(pattern(index, width, height), bits, sub_x, sub_y, full_range)
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = np.uint8 if bits <= 8 else np.uint16
    for i, values in enumerate(planes):
        plane_view(frame.planes[i], *values.shape[::-1], dtype)[...] = values
    if len(frame.planes) > 3:
        plane_view(frame.planes[3], width, height, dtype)[...] = alpha_pattern(index, width, height, bits)
    return frame


def alpha_pattern(index: int, width: int, height: int, bits: int) -> np.ndarray:
    """Frame `index`'s alpha: a ramp from clear to opaque that moves with the frame, and an opaque
    box, so that a lost, frozen or badly rescaled alpha channel shows."""
    peak = 2**bits - 1
    ramp = (np.arange(width) + 3 * index) % width / max(1, width - 1)
    alpha = np.round(np.tile(ramp, (height, 1)) * peak)
    alpha[height // 4: height // 2, width // 4: width // 2] = peak
    return alpha.astype(np.uint8 if bits <= 8 else np.uint16)


def alpha_planes(path: Path) -> list[np.ndarray]:
    """Every decoded frame's alpha plane, as a float in [0, 1] (bit depths differ between codecs)."""
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            component = frame.format.components[3]
            dtype = np.uint8 if component.bits <= 8 else np.uint16
            plane = plane_view(frame.planes[component.plane], frame.width, frame.height, dtype)
            out.append(plane.astype(np.float64) / (2**component.bits - 1))
    return out


def _add_audio(container, codec: str, seconds: float, rate: int = 48000):
    stream = container.add_stream(codec, rate=rate, layout="stereo")
    return stream, seconds, rate


def _audio_frames(stream, seconds: float, rate: int):
    ctx = stream.codec_context
    fmt = ctx.format.name if ctx.format else "fltp"
    chunk = ctx.frame_size or 1024
    total = int(round(seconds * rate))
    t = np.arange(total) / rate
    wave = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)])
    for start in range(0, total, chunk):
        part = wave[:, start : start + chunk]
        if fmt == "s16":
            arr = np.round(part.T * 32767).astype(np.int16).reshape(1, -1)
        elif fmt == "s16p":
            arr = np.round(part * 32767).astype(np.int16)
        elif fmt == "fltp":
            arr = part.astype(np.float32)
        elif fmt == "flt":
            arr = part.T.astype(np.float32).reshape(1, -1)
        else:
            raise ValueError(f"audio sample format {fmt} not handled")
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield frame


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (160, 90),
    frames: int = 24,
    rate: Fraction = Fraction(24),
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    fmt: str | None = None,
    options: dict | None = None,
    audio: str | None = None,
    metadata: dict | None = None,
    rotation: int | None = None,
    color_tags: dict | None = BT709_TAGS,
    container_options: dict | None = None,
    distinct_frames: int | None = None,
) -> Path:
    """Encode the pattern. `pts` (in `time_base`) gives irregular timestamps for variable frame rate.

    `distinct_frames` cycles through that many pattern frames (fast generation of long clips).
    """
    width, height = size
    full_range = (color_tags or {}).get("color_range") == 2  # AVCOL_RANGE_JPEG: write full-range codes
    options = dict(options or {})
    if codec in ("libx264", "libx265"):
        options.setdefault("preset", "ultrafast")
    if codec == "libx265":
        options.setdefault("x265-params", "log-level=error")
    with av.open(str(path), mode="w", format=fmt, options=container_options or {}) as out:
        if metadata:
            out.metadata.update(metadata)
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        for name, value in (color_tags or {}).items():
            setattr(stream.codec_context, name, value)
        if rotation:
            stream.set_display_rotation(rotation)
        astream = None
        if audio:
            astream, seconds, arate = _add_audio(out, audio, frames / float(rate))
        tb = time_base or Fraction(1, 1) / rate
        cache: dict[int, av.VideoFrame] = {}
        for i in range(frames):
            if distinct_frames:
                key = i % distinct_frames
                if key not in cache:
                    cache[key] = yuv_frame(key, width, height, pix_fmt, full_range)
                frame = av.VideoFrame.from_ndarray(cache[key].to_ndarray(), format=pix_fmt)  # a fresh frame
            else:
                frame = yuv_frame(i, width, height, pix_fmt, full_range)
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if astream is not None:
            for aframe in _audio_frames(astream, seconds, arate):
                out.mux(astream.encode(aframe))
            out.mux(astream.encode(None))
    return path


def write_bt2020_video(path: Path, frames: int = 6, size: tuple[int, int] = (96, 64)) -> Path:
    """Lossless 10-bit 4:4:4 FFV1 of the pattern's BT.709 colours re-expressed in BT.2020 primaries
    (inside BT.709's gamut, so nothing clips), coded with BT.2020's matrix and tagged BT.2020 / PQ."""
    from vidbw.kernels.colour import REC2020_LUMA, in_bt709_primaries

    to_709 = in_bt709_primaries(np.eye(3, 4, dtype=np.float32), "bt2020")[:, :3].astype(np.float64)
    width, height = size
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p10le"
        for name, value in {"color_primaries": 9, "color_trc": 16, "colorspace": 9, "color_range": 1}.items():
            setattr(stream.codec_context, name, value)
        for i in range(frames):
            rgb709 = 0.15 + 0.7 * pattern(i, width, height)
            rgb2020 = rgb709 @ np.linalg.inv(to_709).T
            frame = av.VideoFrame(width, height, "yuv444p10le")
            for k, values in enumerate(rgb_to_yuv(rgb2020, 10, 1, 1, luma=REC2020_LUMA)):
                plane_view(frame.planes[k], width, height, np.uint16)[...] = values
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# Image sequences (film scans): suffix, FFmpeg encoder, pixel format written, code bits, first frame
# number, digits.
SEQUENCE_KINDS = {
    "png": (".png", "png", "rgb24", 8, 1, 4),
    "tiff16": (".tif", "tiff", "rgb48le", 16, 0, 6),
    "dpx10": (".dpx", "dpx", "gbrp10le", 10, 86400, 7),  # scans are often numbered from their timecode
}
SEQUENCE_SIZE = (96, 64)


def write_sequence(folder: Path, kind: str, frames: int = 12, first_frame: int | None = None,
                   size: tuple[int, int] = SEQUENCE_SIZE) -> Path:
    """Numbered frames of `pattern` written by FFmpeg's own image encoders."""
    suffix, codec, pix_fmt, bits, first, digits = SEQUENCE_KINDS[kind]
    first = first if first_frame is None else first_frame
    folder.mkdir(parents=True, exist_ok=True)
    peak = 2**bits - 1
    for i in range(frames):
        rgb = np.round(pattern(i, *size) * peak).astype(np.uint8 if bits == 8 else np.uint16)
        if bits == 10:
            rgb = rgb << 6  # rgb48 codes of a 10-bit picture
        write_frame(folder / f"scan_{first + i:0{digits}d}{suffix}", rgb, codec, pix_fmt)
    return folder


def write_frame(path: Path, rgb: np.ndarray, codec: str = "png", pix_fmt: str = "rgb24") -> None:
    """One picture file, R'G'B' codes (uint8, or uint16 at 16 bits) written by FFmpeg's `codec` encoder."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
        out.mux(stream.encode(frame.reformat(format=pix_fmt)))
        out.mux(stream.encode(None))


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), mode="w") as out:
        stream, seconds, rate = _add_audio(out, "aac", seconds)
        for frame in _audio_frames(stream, seconds, rate):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


SRT_TEXT = """1
00:00:00,100 --> 00:00:00,400
First line

2
00:00:00,500 --> 00:00:00,800
Second line
"""


def add_subtitles(video: Path, out: Path, work: Path) -> Path:
    """`video` with an SRT subtitle stream added (streams copied unchanged)."""
    srt = work / "subs.srt"
    srt.write_text(SRT_TEXT, encoding="utf-8")
    ffmpeg("-i", str(video), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", str(out))
    return out


def add_tagged_tracks(video: Path, out: Path, work: Path) -> Path:
    """`video` (written as .mkv, its picture flagged default) with a French default audio track and a
    forced English subtitle track with a title, as a delivery master has them."""
    srt = work / "forced.srt"
    srt.write_text(SRT_TEXT, encoding="utf-8")
    ffmpeg("-i", str(video), "-f", "lavfi", "-i", "sine=duration=1", "-i", str(srt), "-map", "0:v", "-map", "1:a",
           "-map", "2", "-c:v", "copy", "-c:a", "flac", "-c:s", "srt", "-metadata:s:a:0", "language=fra",
           "-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=Forced narrative", "-disposition:v:0", "default",
           "-disposition:a:0", "default", "-disposition:s:0", "forced", str(out))
    return out


def stream_labels(path: Path) -> list[tuple[str, int, str | None, str | None]]:
    """(type, disposition flags, language, title) of every stream."""
    with av.open(str(path)) as container:
        return [(s.type, int(s.disposition), s.metadata.get("language"), s.metadata.get("title")) for s in container.streams]


def add_cover_art(video: Path, out: Path, work: Path) -> Path:
    """`video` (written as .mp4) with a PNG cover picture, the way tagging tools attach one."""
    cover = write_image(work / "cover.png", size=(32, 32))
    ffmpeg("-i", str(video), "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic",
           str(out))
    return out


def add_timecode(video: Path, out: Path) -> Path:
    """`video` (a .mov) with a QuickTime timecode (tmcd) data track."""
    ffmpeg("-i", str(video), "-map", "0", "-c", "copy", "-timecode", "01:00:00:00", str(out))
    return out


CHAPTERS = [(Fraction(0), Fraction(1, 2), "Opening"), (Fraction(1, 2), Fraction(1), "Second scene")]


def add_chapters(video: Path, out: Path, work: Path) -> Path:
    """`video` with the CHAPTERS marks, as FFmpeg writes them (an MP4/MOV gets a QuickTime chapter track)."""
    meta = work / f"{out.stem}.chapters.txt"
    meta.write_text(";FFMETADATA1\n" + "".join(
        f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={int(start * 1000)}\nEND={int(end * 1000)}\ntitle={title}\n"
        for start, end, title in CHAPTERS), encoding="utf-8")
    ffmpeg("-i", str(video), "-i", str(meta), "-map", "0", "-map_chapters", "1", "-c", "copy", str(out))
    return out


FONT_BYTES = bytes(range(256)) * 8  # stands in for a font file: only its bytes and name must survive


def add_attachment(video: Path, out: Path, work: Path) -> Path:
    """`video` (written as .mkv) with a font attached, as films with styled ASS subtitles carry one."""
    font = work / "title.ttf"
    font.write_bytes(FONT_BYTES)
    ffmpeg("-i", str(video), "-attach", str(font), "-metadata:s:t", "mimetype=font/ttf", "-map", "0", "-c", "copy", str(out))
    return out


def attachments(path: Path) -> list[tuple[str, str, bytes]]:
    with av.open(str(path)) as container:
        return [(s.name, s.mimetype, bytes(s.data)) for s in container.streams.attachments]


def chapters(path: Path) -> list[tuple[Fraction, Fraction, str]]:
    with av.open(str(path)) as container:
        return [(Fraction(c["start"]) * c["time_base"], Fraction(c["end"]) * c["time_base"], c["metadata"].get("title"))
                for c in container.chapters()]


# --------------------------------------------------------------------------- images


def write_image(path: Path, *, size=(64, 48), bits: int = 8, alpha: bool = False) -> Path:
    """The pattern as an image file (jpg, png, tif); 16-bit for png/tif on request; optional alpha."""
    import cv2
    import tifffile
    from PIL import Image

    width, height = size
    rgb = pattern(0, width, height)
    top = 2**bits - 1
    pixels = np.round(rgb * top).astype(np.uint8 if bits == 8 else np.uint16)
    if alpha:
        a = np.full((height, width, 1), top, pixels.dtype)
        a[:, : width // 2] = top // 2
        pixels = np.concatenate([pixels, a], axis=2)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, pixels, photometric="rgb")
    elif suffix == ".png":
        code = cv2.COLOR_RGBA2BGRA if alpha else cv2.COLOR_RGB2BGR
        assert cv2.imwrite(str(path), cv2.cvtColor(pixels, code))
    else:
        assert bits == 8 and not alpha
        Image.fromarray(pixels).save(path, quality=95, subsampling=0)
    return path


# --------------------------------------------------------------------------- reading back


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def frame_times(path: Path) -> list[Fraction]:
    """Every decoded video frame's timestamp as an exact fraction of a second (pts × time_base)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [Fraction(f.pts) * stream.time_base for f in c.decode(stream)]


def video_planes(path: Path, limit: int | None = None) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """(pix_fmt, copies of the planes) for the first `limit` decoded frames."""
    out = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            fmt = frame.format
            dtype = np.uint8 if fmt.components[0].bits <= 8 else np.uint16
            w, h = frame.width, frame.height
            planes = tuple(
                plane_view(p, w if i == 0 else fmt.chroma_width(w), h if i == 0 else fmt.chroma_height(h), dtype).copy()
                for i, p in enumerate(frame.planes[:3])
            )
            out.append((fmt.name, planes))
            if limit is not None and len(out) >= limit:
                break
    return out


def keyframe_hdr10(path: Path) -> list:
    """The HDR10 static metadata (`vidbw.io.hdr.Hdr10Metadata`, or None) of each keyframe, in order:
    the frames the x26x encoders write it with, the first frame among them."""
    from vidbw.io.hdr import hdr10_metadata

    with av.open(str(path)) as container:
        return [hdr10_metadata(frame) for frame in container.decode(video=0) if frame.key_frame]


def luma_levels(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """The first `limit` frames' luma as levels in [0, 1], read in the range the stream's tag says
    (what a player shows): limited (16-235 at 8 bits) unless tagged full."""
    with av.open(str(path)) as c:
        full = c.streams.video[0].codec_context.color_range == 2
    levels = []
    for fmt, (y, _, _) in video_planes(path, limit):
        bits = av.VideoFormat(fmt).components[0].bits
        y = y.astype(np.float64)
        levels.append(y / (2**bits - 1) if full else (y / 2 ** (bits - 8) - 16) / 219)
    return levels


def stream_packets(path: Path, kind: str) -> list[tuple[bytes, Fraction | None]]:
    """(bytes, pts in seconds) of every packet of the first stream of `kind`, in file order."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:
            return []
        stream = streams[0]
        return [
            (bytes(p), Fraction(p.pts) * stream.time_base if p.pts is not None else None)
            for p in c.demux(stream)
            if p.size
        ]


def video_info(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        ctx = s.codec_context
        first = next(c.decode(s), None)
        return {
            "codec": ctx.name,
            "pix_fmt": ctx.pix_fmt,
            "width": ctx.width,
            "height": ctx.height,
            "color_primaries": ctx.color_primaries,
            "color_trc": ctx.color_trc,
            "colorspace": ctx.colorspace,
            "color_range": ctx.color_range,
            "rotation": first.rotation if first is not None else None,
            "metadata": dict(c.metadata),
            "duration": c.duration,
            "stream_types": [st.type for st in c.streams],
            "frames": s.frames,
        }
