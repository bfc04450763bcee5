"""Films in, films out: every container/codec/bit depth, exact timing, copied streams, tags, options, looks."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import media
from conftest import assert_ok, run_inprocess, temp_files

KR, KG, KB = media.KR, media.KG, media.KB


# --------------------------------------------------------------------------- helpers


def convert(capsys, src: Path, out: Path, *extra) -> "object":
    run = run_inprocess(["convert", src, "-o", out, *extra], capsys)
    assert_ok(run)
    assert run.out.strip().splitlines()[-1] == str(out), run.out
    assert out.is_file() and out.stat().st_size > 0
    assert temp_files(out.parent) == []
    return run


def read_tags(path: Path) -> dict:
    """Colour tags as the container/stream header says them (read before any decoding)."""
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return {k: getattr(ctx, k) for k in ("color_primaries", "color_trc", "colorspace", "color_range")}


def container_duration(path: Path) -> Fraction | None:
    with av.open(str(path)) as c:
        return Fraction(c.duration, av.time_base) if c.duration else None


def neutral_code(pix_fmt: str) -> int:
    return 128 << (av.VideoFormat(pix_fmt).components[0].bits - 8)


def assert_neutral_chroma(path: Path) -> str:
    """Every frame's chroma planes are exactly neutral (128 at 8 bits, 512 at 10). Returns the pix_fmt."""
    frames = media.video_planes(path)
    assert frames
    fmts = {fmt for fmt, _ in frames}
    assert len(fmts) == 1, fmts
    fmt = fmts.pop()
    neutral = neutral_code(fmt)
    for n, (_, (_, u, v)) in enumerate(frames):
        assert (u == neutral).all() and (v == neutral).all(), (
            f"frame {n}: chroma not neutral ({neutral}): U {u.min()}..{u.max()}, V {v.min()}..{v.max()}")
    return fmt


def x264_settings(path: Path) -> str:
    """The options string x264 writes into its SEI in the first packet."""
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            data = bytes(packet)
            start = data.find(b"x264 - core")
            if start >= 0:
                return data[start : data.find(b"\x00", start)].decode("ascii", "replace")
    raise AssertionError(f"no x264 SEI in {path}")


def rec709_luma_codes(planes, bits_in: int, bits_out: int) -> np.ndarray:
    """The expected output: Rec.709 luma of the decoded input (limited range, BT.709 matrix), in codes."""
    y, u, v = (p.astype(np.float64) for p in planes)
    h, w = y.shape

    def up(c):
        ry, rx = -(-h // c.shape[0]), -(-w // c.shape[1])
        return np.repeat(np.repeat(c, ry, axis=0), rx, axis=1)[:h, :w]

    s = 2.0 ** (bits_in - 8)
    Y = (y / s - 16) / 219
    cb, cr = (up(u) / s - 128) / 224, (up(v) / s - 128) / 224
    r = Y + 2 * (1 - KR) * cr
    b = Y + 2 * (1 - KB) * cb
    g = (Y - KR * r - KB * b) / KG
    rgb = np.clip(np.stack([r, g, b]), 0, 1)
    luma = KR * rgb[0] + KG * rgb[1] + KB * rgb[2]
    return np.round((16 + 219 * luma) * 2.0 ** (bits_out - 8))


def chroma_flat_mask(u: np.ndarray, v: np.ndarray, shape, step: int = 8) -> np.ndarray:
    """Full-resolution mask of pixels whose chroma sample is within `step` codes of its 8 neighbours."""
    c = np.stack([u, v]).astype(np.int64)
    pad = np.pad(c, ((0, 0), (1, 1), (1, 1)), mode="edge")
    flat = np.ones(u.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            flat &= (np.abs(pad[:, 1 + dy : 1 + dy + u.shape[0], 1 + dx : 1 + dx + u.shape[1]] - c) <= step).all(axis=0)
    h, w = shape
    ry, rx = -(-h // u.shape[0]), -(-w // u.shape[1])
    return np.repeat(np.repeat(flat, ry, axis=0), rx, axis=1)[:h, :w]


def patch_mean(luma: np.ndarray, box) -> float:
    ys, xs = media.patch_box(box, luma.shape[1], luma.shape[0])
    inner = luma[ys, xs][2:-2, 2:-2]  # away from the edges, where chroma subsampling blurs
    return float(inner.mean())


# --------------------------------------------------------------------------- every input kind

# fixture, output suffix, output codec, output pixel format (input bit depth kept; 4:4:4 kept or forced by odd size)
CASES = [
    ("clip_mp4", ".mp4", "h264", "yuv420p"),
    ("clip10_mkv", ".mkv", "h264", "yuv420p10le"),
    ("prores422_mov", ".mov", "prores", "yuv422p10le"),  # a mastering codec is kept (see below)
    ("prores4444_mov", ".mov", "prores", "yuv444p12le"),
    ("odd_mkv", ".mkv", "ffv1", "yuv444p"),  # odd sizes through H.264: test_a_444_picture_gets_a_444_profile
    ("vfr_mkv", ".mkv", "h264", "yuv420p"),
    ("subs_mkv", ".mkv", "h264", "yuv420p"),
    ("clip_webm", ".webm", "vp9", "yuv420p"),
    ("clip_avi", ".avi", "h264", "yuv420p"),
    ("clip_mxf", ".mxf", "mpeg2video", "yuv422p"),
    ("clip_ts", ".ts", "h264", "yuv420p"),
]


@pytest.mark.parametrize("fixture, suffix, codec, pix_fmt", CASES, ids=[c[0] for c in CASES])
def test_every_container_keeps_frames_timing_and_size(request, capsys, tmp_path, fixture, suffix, codec, pix_fmt):
    src = request.getfixturevalue(fixture)
    before = media.sha256(src)
    out = tmp_path / f"out{suffix}"
    convert(capsys, src, out)

    assert media.sha256(src) == before, "input was modified"
    info_in, info_out = media.video_info(src), media.video_info(out)
    assert (info_out["width"], info_out["height"]) == (info_in["width"], info_in["height"])
    assert info_out["codec"] == codec
    # Every frame, same count, same exact timestamp.
    times_in, times_out = media.frame_times(src), media.frame_times(out)
    assert len(times_out) == len(times_in) == 24
    assert times_out == times_in
    # The container's duration: equal, up to one tick of Matroska's millisecond clock (the remuxed
    # subtitle fixture stores its last frame's duration rounded down by FFmpeg).
    d_in, d_out = container_duration(src), container_duration(out)
    assert d_in is not None and d_out is not None
    tolerance = Fraction(1, 1000) if fixture == "subs_mkv" else 0
    assert abs(d_out - d_in) <= tolerance, f"duration {float(d_out)} s != input {float(d_in)} s"
    # Luma only, chroma exactly neutral, bit depth kept.
    assert assert_neutral_chroma(out) == pix_fmt


def test_mp4_to_avi_writes_a_stream_at_the_films_frame_rate(capsys, tmp_path, clip_mp4):
    """AVI counts frames: written in the MP4's 1/12288 time base, its header claimed 600 frames a
    second and 600 frames for this 24-frame clip, most of them empty placeholders."""
    out = tmp_path / "clip.avi"
    convert(capsys, clip_mp4, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 24) and stream.average_rate == 24
        assert sum(1 for _ in container.decode(video=0)) == 24
        assert stream.frames in (24, 25)  # at most one leading position: the decode delay the README names
    # AVI keeps positions, not times: every frame one frame period apart, none missing.
    times = media.frame_times(out)
    assert len(times) == 24 and all(abs((b - a) - 1 / 24) < 1e-6 for a, b in zip(times, times[1:]))


def test_mp4_to_mxf_uses_mpeg2_and_keeps_timing(capsys, tmp_path, clip_mp4):
    out = tmp_path / "clip.mxf"
    run = convert(capsys, clip_mp4, out)
    assert media.video_info(out)["codec"] == "mpeg2video"
    assert media.frame_times(out) == media.frame_times(clip_mp4)
    assert "aac" in run.err and "dropped" in run.err  # MXF holds PCM only: the user is told
    assert_neutral_chroma(out)


def test_vfr_timestamps_are_irregular_and_kept(capsys, tmp_path, vfr_mkv):
    out = tmp_path / "vfr_bw.mkv"
    convert(capsys, vfr_mkv, out)
    steps = np.diff([float(t) for t in media.frame_times(out)])
    assert len(set(np.round(steps, 3))) > 3, "fixture is not variable frame rate"
    assert media.frame_times(out) == media.frame_times(vfr_mkv)


def test_ten_bit_input_gives_ten_bit_output_with_real_precision(capsys, tmp_path, clip10_mkv):
    out = tmp_path / "ten.mkv"
    convert(capsys, clip10_mkv, out, "--codec", "ffv1")
    fmt, (y, u, v) = media.video_planes(out, limit=1)[0]
    assert fmt == "yuv420p10le"
    assert (u == 512).all() and (v == 512).all()
    assert y.max() > 255, "10-bit luma codes expected"
    assert np.unique(y % 4).size > 1, "the two extra bits carry information, not just a shifted 8-bit picture"


# --------------------------------------------------------------------------- copied streams, tags


@pytest.mark.parametrize("fixture, suffix", [("clip_mp4", ".mp4"), ("clip_mp4", ".mkv"), ("prores422_mov", ".mov"),
                                             ("clip_ts", ".ts")])
def test_audio_is_copied_bit_exact(request, capsys, tmp_path, fixture, suffix):
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"out{suffix}"
    convert(capsys, src, out)
    packets_in, packets_out = media.stream_packets(src, "audio"), media.stream_packets(out, "audio")
    assert len(packets_in) > 10
    assert [p for p, _ in packets_out] == [p for p, _ in packets_in], "audio packets differ"
    if suffix == src.suffix:
        assert [t for _, t in packets_out] == [t for _, t in packets_in], "audio packet timestamps differ"
    else:  # another container's time base (Matroska: 1 ms) rounds the times, and must not shift them:
        # an AAC track's priming packet at -21 ms used to move every stream of a .mkv 21 ms later
        tick = Fraction(1, 1000)
        assert all(abs(a - b) <= tick / 2 for (_, a), (_, b) in zip(packets_out, packets_in)), "audio times shifted"
        assert all(abs(a - b) <= tick / 2 for a, b in zip(media.frame_times(out), media.frame_times(src))), \
            "frame times shifted"


def test_real_mp3_audio_is_copied_bit_exact(capsys, tmp_path, shared_media):
    src = shared_media / "video" / "airfield_sound_360p.mp4"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    # A short cut of the real clip keeps this fast: the first 2 seconds, streams copied.
    short = tmp_path / "airfield_2s.mp4"
    media.ffmpeg("-i", str(src), "-t", "2", "-map", "0", "-c", "copy", str(short))
    with av.open(str(short)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name.startswith("mp3")
    out = tmp_path / "airfield_bw.mp4"
    convert(capsys, short, out, "--preset", "ultrafast")
    assert [p for p, _ in media.stream_packets(out, "audio")] == [p for p, _ in media.stream_packets(short, "audio")]
    assert media.frame_times(out) == media.frame_times(short)


def test_subtitles_are_copied_bit_exact(capsys, tmp_path, subs_mkv):
    out = tmp_path / "subs_bw.mkv"
    convert(capsys, subs_mkv, out)
    subs_in, subs_out = media.stream_packets(subs_mkv, "subtitle"), media.stream_packets(out, "subtitle")
    assert len(subs_in) == 2 and b"First line" in subs_in[0][0]
    assert subs_out == subs_in


def test_timecode_data_track_is_kept(capsys, tmp_path, timecode_mov):
    out = tmp_path / "tc_bw.mov"
    run = convert(capsys, timecode_mov, out)
    data_in, data_out = media.stream_packets(timecode_mov, "data"), media.stream_packets(out, "data")
    assert len(data_in) == 1
    assert data_out == data_in, f"timecode track not carried; stderr: {run.err}"
    with av.open(str(out)) as c:
        assert c.streams.data[0].metadata.get("timecode") == "01:00:00:00"
    assert [p for p, _ in media.stream_packets(out, "audio")] == [p for p, _ in media.stream_packets(timecode_mov, "audio")]


def decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def test_an_mxf_master_keeps_the_films_timecode(capsys, tmp_path, timecode_mov):
    """MXF holds no QuickTime timecode track (copying it stopped the muxer: "unsupported data type");
    it writes its own timecode from the video stream's tag, and reads it back as the file's."""
    out = tmp_path / "master.mxf"
    run = convert(capsys, timecode_mov, out)
    assert "dropped" not in run.err, run.err
    with av.open(str(out)) as c:
        assert c.metadata.get("timecode") == "01:00:00:00"
        assert [s.type for s in c.streams] == ["video", "audio"]
    assert len(media.video_planes(out)) == 24
    assert np.array_equal(decoded_audio(out), decoded_audio(timecode_mov))  # MXF re-wraps PCM: compare samples
    back = tmp_path / "back.mov"  # and from MXF to MOV the timecode comes back as a tmcd track
    convert(capsys, out, back)
    with av.open(str(back)) as c:
        assert c.streams.data[0].metadata.get("timecode") == "01:00:00:00"


def test_metadata_rotation_and_colour_tags_are_kept(capsys, tmp_path, clip_mp4):
    out = tmp_path / "tagged.mp4"
    convert(capsys, clip_mp4, out)
    info_in, info_out = media.video_info(clip_mp4), media.video_info(out)
    assert info_in["metadata"]["title"] == "vidbw test clip"
    assert info_out["metadata"].get("title") == "vidbw test clip"
    assert info_in["rotation"] == 90
    assert info_out["rotation"] == 90
    assert read_tags(clip_mp4) == media.BT709_TAGS
    assert read_tags(out) == read_tags(clip_mp4)


@pytest.mark.parametrize("fixture, suffix, codec", [
    ("full_range_mkv", ".mkv", "libx264"), ("full_range_mkv", ".mkv", "ffv1"),
    ("hdr_mkv", ".mkv", "libx264"), ("hdr_mkv", ".mkv", "libx265"), ("hdr_mkv", ".mov", "prores_ks"),
])
def test_colour_tags_primaries_transfer_matrix_range_are_kept(request, capsys, tmp_path, fixture, suffix, codec):
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"out{suffix}"
    convert(capsys, src, out, "--codec", codec)
    assert read_tags(out) == read_tags(src)
    assert_neutral_chroma(out)


@pytest.mark.parametrize("suffix, codec", [(".mkv", "libx264"), (".mp4", "libx265"), (".mov", "prores_ks")])
def test_hdr10_static_metadata_is_kept(capsys, tmp_path, hdr_mkv, suffix, codec):
    """The mastering display and light levels reach every H.264 / HEVC output; other codecs say they drop them."""
    source = media.keyframe_hdr10(hdr_mkv)[0]
    assert source.display_parameter() == media.HDR10_DISPLAY
    assert (source.max_cll, source.max_fall) == media.HDR10_LIGHT
    out = tmp_path / f"out{suffix}"
    run = convert(capsys, hdr_mkv, out, "--codec", codec, "--style", "landscape-master")
    if codec == "prores_ks":
        assert media.keyframe_hdr10(out)[0] is None
        assert "not copied: HDR10 mastering display and light levels (prores_ks cannot store them" in run.err
    else:
        assert media.keyframe_hdr10(out)[0] == source
        assert "HDR10" not in run.err
    assert read_tags(out) == read_tags(hdr_mkv)


def test_a_bt2020_picture_is_seen_in_bt709_primaries(capsys, tmp_path):
    """Styles and networks are defined on BT.709 R'G'B': a BT.2020 picture is converted to it, so
    `neutral` (BT.709's luma of that) gives the picture's own BT.2020 Y' back. Read as if its R'G'B'
    were BT.709, this pattern's colours came out up to 21 code values (of 1023) off."""
    source = media.write_bt2020_video(tmp_path / "bt2020.mkv")
    out = tmp_path / "out.mkv"
    convert(capsys, source, out, "--codec", "ffv1")
    assert read_tags(out) == read_tags(source)
    before, after = media.luma_levels(source), media.luma_levels(out)
    assert len(after) == len(before) == 6
    # 0.2126 / 0.7152 / 0.0722 are BT.709's luma weights rounded: a 1e-4 difference at most.
    assert max(np.abs(a - b).max() for a, b in zip(before, after)) <= 1.5 / 1023


def test_full_range_input_gives_full_range_rec709_luma(capsys, tmp_path, full_range_mkv):
    out = tmp_path / "full_bw.mkv"
    convert(capsys, full_range_mkv, out, "--codec", "ffv1")
    assert read_tags(out)["color_range"] == 2
    _, (y_in, u, v) = media.video_planes(full_range_mkv, limit=1)[0]
    _, (y_out, _, _) = media.video_planes(out, limit=1)[0]
    # Full range: black 0 and white 255, so the 75% white bar sits at 191, not limited range's 180.
    assert abs(int(y_in[30, 2]) - 191) <= 1
    flat = chroma_flat_mask(u, v, y_in.shape)
    assert np.abs(y_out.astype(int) - y_in.astype(int))[flat].max() <= 2


@pytest.mark.parametrize("codec, suffix", [("prores_ks", ".mov"), ("mpeg2video", ".mxf")])
def test_full_range_to_a_limited_range_only_codec_keeps_the_picture(capsys, tmp_path, full_range_mkv, codec, suffix):
    """ProRes and MPEG-2 cannot be marked full range: the picture must be rescaled, not mislabelled."""
    out = tmp_path / f"out{suffix}"
    convert(capsys, full_range_mkv, out, "--codec", codec)
    src, res = media.luma_levels(full_range_mkv, limit=1)[0], media.luma_levels(out, limit=1)[0]
    _, (_, u, v) = media.video_planes(full_range_mkv, limit=1)[0]
    flat = chroma_flat_mask(u, v, src.shape)
    error = np.abs(res - src)[flat]
    # Mislabelled range is off by up to 0.1 (mean ~0.05); MPEG-2's own coding error is far smaller.
    assert error.mean() < 0.01 and np.percentile(error, 99) < 0.03, (error.mean(), np.percentile(error, 99))


@pytest.mark.parametrize("typed, decoded_as", [("prores", "prores"), ("HEVC", "hevc"), ("h264", "h264")])
def test_codecs_are_known_by_the_names_people_type(capsys, tmp_path, clip_mkv, typed, decoded_as):
    out = tmp_path / "out.mov"
    convert(capsys, clip_mkv, out, "--codec", typed)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == decoded_as


def stream_codec(path: Path) -> tuple[str, str | None, str]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.name, ctx.profile, ctx.codec_tag


@pytest.mark.parametrize("source, suffix, expected", [
    (("prores_ks", "yuv422p10le", "1"), ".mov", ("prores", "LT", "apcs")),
    (("prores_ks", "yuv422p10le", "3"), ".mov", ("prores", "HQ", "apch")),
    (("prores_ks", "yuv444p10le", "4"), ".mov", ("prores", "4444", "ap4h")),
    (("prores_ks", "yuv422p10le", "2"), ".mkv", ("prores", "Standard", "apcn")),
    (("ffv1", "yuv420p", None), ".mkv", ("ffv1", None, None)),
    (("prores_ks", "yuv422p10le", "3"), ".mp4", ("h264", None, "avc1")),  # MP4 holds no ProRes: delivery codec
    (("libx264", "yuv420p", None), ".mov", ("h264", None, "avc1")),
    (("dnxhd", "yuv422p10le", "dnxhr_hqx"), ".mov", ("dnxhd", "DNXHR HQX", "AVdh")),
    (("dnxhd", "yuv422p", "dnxhr_sq"), ".mxf", ("dnxhd", "DNXHR SQ", None)),
])
def test_a_mastering_source_keeps_its_codec_and_profile(capsys, tmp_path, source, suffix, expected):
    """A ProRes or DNxHR master converted without --codec stays ProRes or DNxHR in its own profile, an
    FFV1 archive stays lossless; delivery codecs are re-encoded with the container's default, as before."""
    codec, pix_fmt, profile = source
    src = media.write_video(tmp_path / f"src{'.mkv' if codec == 'ffv1' else '.mov'}", codec=codec, pix_fmt=pix_fmt,
                            options={"profile": profile} if profile else None, frames=6,
                            size=(320, 180) if codec == "dnxhd" else (160, 90))  # DNxHR's smallest is 256x120
    out = tmp_path / f"out{suffix}"
    run = convert(capsys, src, out)
    name, out_profile, tag = stream_codec(out)
    assert name == expected[0]
    if expected[1]:
        assert out_profile == expected[1]
    if expected[2]:  # the MOV/MP4 sample-entry tag (Matroska and MXF have none)
        assert tag == expected[2]
    kept = expected[0] == media.video_info(src)["codec"] and codec != "libx264"
    assert ("like the source" in run.err) == kept, run.err
    assert len(media.video_planes(out)) == 6


@pytest.mark.parametrize("asked, expected", [(("--bit-depth", "8"), ("h264", "yuv420p")),
                                             (("--pix-fmt", "yuv420p10le"), ("h264", "yuv420p10le")),
                                             (("--bit-depth", "10"), ("prores", "yuv422p10le"))])
def test_a_kept_codec_gives_way_to_what_was_asked(capsys, tmp_path, prores422_mov, asked, expected):
    """ProRes is 10-bit 4:2:2 or 4:4:4 only: asking for 8 bits or 4:2:0 gets the container's default codec,
    not a ProRes file that ignores the request."""
    out = tmp_path / "out.mov"
    convert(capsys, prores422_mov, out, *asked)
    info = media.video_info(out)
    assert (info["codec"], info["pix_fmt"]) == expected


@pytest.mark.parametrize("source, expected", [(("libx264", "yuv420p"), "DNXHR HQ"), (("ffv1", "yuv420p10le"), "DNXHR HQX")])
def test_dnxhr_is_written_in_the_profile_the_picture_needs(capsys, tmp_path, source, expected):
    src = media.write_video(tmp_path / "src.mkv", codec=source[0], pix_fmt=source[1], size=(320, 180), frames=4)
    out = tmp_path / "out.mxf"
    convert(capsys, src, out, "--codec", "dnxhr")
    assert stream_codec(out)[:2] == ("dnxhd", expected)
    assert len(media.video_planes(out)) == 4


def test_dnxhr_refuses_a_picture_below_its_smallest_size_before_writing(capsys, tmp_path, clip_mkv):
    out = tmp_path / "out.mov"
    run = run_inprocess(["convert", clip_mkv, "-o", out, "--codec", "dnxhr"], capsys)
    assert run.code != 0 and "dnxhd needs a picture of at least 256x120 and this one is 160x90" in run.err
    assert "Traceback" not in run.err and not out.exists() and temp_files(tmp_path) == []


@pytest.mark.parametrize("typed, expected", [("prores", ("prores", "4444", "ap4h")),
                                             ("h264", ("h264", "High 4:4:4 Predictive", "avc1"))])
def test_a_444_picture_gets_a_444_profile(capsys, tmp_path, odd_mkv, typed, expected):
    """An odd-sized picture cannot be subsampled, so it is written 4:4:4, in a profile that says so:
    ProRes names its chroma layout in the file's tag (4:4:4 written as 422 HQ, apch, is mislabelled)."""
    out = tmp_path / "out.mov"
    run = convert(capsys, odd_mkv, out, "--codec", typed)
    assert stream_codec(out) == expected
    assert media.video_info(out)["pix_fmt"].startswith("yuv444")
    assert "odd picture size 65x49" in run.err


@pytest.mark.parametrize("fixture, suffix, tolerance", [("prores_alpha_mov", ".mov", 1 / 1023),
                                                         ("ffv1_alpha_mkv", ".mkv", 0.0)])
def test_the_alpha_channel_is_carried(request, capsys, tmp_path, fixture, suffix, tolerance):
    """A film with transparency (ProRes 4444, FFV1 with alpha) keeps it, frame by frame."""
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"out{suffix}"
    convert(capsys, src, out, "--style", "tri-x")
    before, after = media.alpha_planes(src), media.alpha_planes(out)
    assert len(after) == len(before) == 12
    for n, (a, b) in enumerate(zip(before, after)):
        assert np.abs(a - b).max() <= tolerance + 1e-9, f"frame {n}: alpha off by {np.abs(a - b).max()}"
    assert not np.array_equal(before[0], before[5])  # the ramp moves: a frozen alpha would fail above
    assert_neutral_chroma(out)


def test_packed_rgba_alpha_is_carried_into_prores_4444(capsys, tmp_path):
    """Motion graphics often come as PNG-in-MOV (packed RGBA): ProRes keeps alpha only in 4444, so a
    4:2:2 plan must turn 4:4:4 rather than drop it."""
    src = tmp_path / "titles.mov"
    ramp = np.tile(np.linspace(0, 255, 96).round().astype(np.uint8), (64, 1))
    with av.open(str(src), "w") as container:
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "rgba"
        for i in range(4):
            rgba = np.dstack([np.full((64, 96), 200, np.uint8), np.full((64, 96), 40 * i, np.uint8),
                              np.zeros((64, 96), np.uint8), np.roll(ramp, 7 * i, axis=1)])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")))
        container.mux(stream.encode(None))
    out = tmp_path / "out.mov"
    convert(capsys, src, out, "--codec", "prores")
    assert stream_codec(out) == ("prores", "4444", "ap4h")
    for i, alpha in enumerate(media.alpha_planes(out)):
        assert np.abs(alpha - np.roll(ramp, 7 * i, axis=1) / 255).max() < 0.5 / 255 + 1e-6


def test_a_codec_without_alpha_says_the_alpha_is_dropped(capsys, tmp_path, prores_alpha_mov):
    out = tmp_path / "out.mp4"
    run = convert(capsys, prores_alpha_mov, out, "--codec", "h264")
    assert "alpha channel not kept: libx264" in run.err
    assert len(av.VideoFormat(media.video_info(out)["pix_fmt"]).components) == 3


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1_for_apple_players(capsys, tmp_path, clip_mkv, suffix):
    out = tmp_path / f"out{suffix}"
    convert(capsys, clip_mkv, out, "--codec", "libx265")
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"  # FFmpeg's default is hev1
        assert sum(1 for _ in container.decode(video=0)) == 24


@pytest.mark.parametrize("source_suffix, suffix", [(".mkv", ".mkv"), (".mkv", ".mp4"), (".mp4", ".mov"), (".mp4", ".mp4")])
def test_chapter_marks_are_kept(capsys, tmp_path, clip_mkv, source_suffix, suffix):
    """An MP4/MOV source holds its chapters in a QuickTime chapter track, which FFmpeg reads into chapters:
    it is carried as chapters, not copied as a data stream as well (the muxer then refused to start)."""
    source = media.add_chapters(clip_mkv, tmp_path / f"chaptered{source_suffix}", tmp_path)
    assert media.chapters(source) == media.CHAPTERS
    out = tmp_path / f"out{suffix}"
    convert(capsys, source, out)
    assert media.chapters(out) == media.CHAPTERS
    assert len(media.frame_times(out)) == 24


def test_attached_files_are_kept_in_matroska_and_named_where_they_cannot_go(capsys, tmp_path, clip_mkv):
    source = media.add_attachment(clip_mkv, tmp_path / "with_font.mkv", tmp_path)
    assert media.attachments(source) == [("title.ttf", "font/ttf", media.FONT_BYTES)]
    out = tmp_path / "out.mkv"
    convert(capsys, source, out)
    assert media.attachments(out) == media.attachments(source)
    run = convert(capsys, source, tmp_path / "out.mp4")
    assert "attachment title.ttf cannot be stored in mp4" in run.err


def test_copied_tracks_keep_their_language_title_and_flags(capsys, tmp_path, clip_mkv):
    source = media.add_tagged_tracks(clip_mkv, tmp_path / "master.mkv", tmp_path)
    labels = media.stream_labels(source)
    assert labels == [("video", 1, None, None), ("audio", 1, "fra", None),  # default
                      ("subtitle", 64, "eng", "Forced narrative")]  # forced
    out = tmp_path / "out.mkv"
    convert(capsys, source, out)
    assert media.stream_labels(out) == labels
    assert media.stream_packets(out, "audio") == media.stream_packets(source, "audio")


def test_cover_art_is_named_as_such_and_the_film_is_converted(capsys, tmp_path, clip_mkv):
    source = media.add_cover_art(clip_mkv, tmp_path / "with_cover.mp4", tmp_path)
    out = tmp_path / "out.mp4"
    run = convert(capsys, source, out)
    assert "cover art (stream #1, png) not carried" in run.err
    assert len(media.frame_times(out)) == 24


def test_colour_tags_survive_a_codec_change(capsys, tmp_path, clip_mkv):
    out = tmp_path / "tagged.mov"
    convert(capsys, clip_mkv, out, "--codec", "prores_ks")
    assert read_tags(out) == media.BT709_TAGS


@pytest.mark.parametrize("codec, suffix", [("libx264", ".mkv"), ("prores_ks", ".mov")])
def test_no_frame_shows_another_frames_picture_when_output_frames_are_reused(capsys, tmp_path, clip_mkv, codec, suffix):
    """The writer reuses an output frame once the encoder is done with it. x264 copies the picture
    when it is given; prores_ks (FFmpeg frame threads) holds on to it, so reuse must not touch it."""
    lossless, out = tmp_path / "lossless.mkv", tmp_path / f"out{suffix}"
    convert(capsys, clip_mkv, lossless, "--codec", "ffv1")
    convert(capsys, clip_mkv, out, "--codec", codec, *(["--crf", "0"] if codec == "libx264" else []))

    def lumas(path):
        return [y.astype(np.float64) / 2.0 ** (av.VideoFormat(fmt).components[0].bits - 8)
                for fmt, (y, _, _) in media.video_planes(path)]

    expected, got = lumas(lossless), lumas(out)
    assert len(got) == len(expected) == 24
    for index, (want, have) in enumerate(zip(expected, got)):
        assert np.abs(have - want).max() <= 2.0, f"frame {index}"
        if index:  # the moving square: a neighbour's picture would be off by 20 codes or more
            assert np.abs(have - expected[index - 1]).max() > 20.0, f"frame {index}"


# --------------------------------------------------------------------------- encoder options


@pytest.mark.parametrize("codec, suffix, av_name, pix_fmt", [
    ("libx264", ".mkv", "h264", "yuv420p"),
    ("libx265", ".mkv", "hevc", "yuv420p"),
    ("prores_ks", ".mov", "prores", "yuv422p10le"),
    ("ffv1", ".mkv", "ffv1", "yuv420p"),
])
def test_codec_option(capsys, tmp_path, clip_mkv, codec, suffix, av_name, pix_fmt):
    out = tmp_path / f"out{suffix}"
    convert(capsys, clip_mkv, out, "--codec", codec, "--preset", "ultrafast") if codec in ("libx264", "libx265") \
        else convert(capsys, clip_mkv, out, "--codec", codec)
    assert media.video_info(out)["codec"] == av_name
    assert assert_neutral_chroma(out) == pix_fmt
    assert media.frame_times(out) == media.frame_times(clip_mkv)


def test_crf_and_preset_reach_x264(capsys, tmp_path, clip_mkv):
    default, coarse, fast = tmp_path / "default.mkv", tmp_path / "coarse.mkv", tmp_path / "fast.mkv"
    convert(capsys, clip_mkv, default)
    convert(capsys, clip_mkv, coarse, "--crf", "40")
    convert(capsys, clip_mkv, fast, "--crf", "30", "--preset", "ultrafast")
    d, c, f = x264_settings(default), x264_settings(coarse), x264_settings(fast)
    assert "crf=18.0" in d and "subme=7" in d and "me=hex" in d  # documented defaults: crf 18, preset medium
    assert "crf=40.0" in c and "subme=7" in c
    assert "crf=30.0" in f and "subme=0" in f and "me=dia" in f
    assert coarse.stat().st_size < default.stat().st_size


def test_x264_skips_chroma_motion_search_only_when_the_chroma_is_neutral(capsys, tmp_path, hdr_mkv):
    plain, toned = tmp_path / "plain.mkv", tmp_path / "toned.mkv"
    convert(capsys, hdr_mkv, plain)
    convert(capsys, hdr_mkv, toned, "--toning", "sepia")
    assert "chroma_me=0" in x264_settings(plain)
    assert "chroma_me=1" in x264_settings(toned)  # toned chroma moves with the picture: its search pays
    # The option joins the source's HDR10 parameters rather than replacing them.
    assert media.keyframe_hdr10(plain) == media.keyframe_hdr10(hdr_mkv)


@pytest.mark.parametrize("args, expected", [
    (["--bit-depth", "10"], "yuv420p10le"),
    (["--pix-fmt", "yuv444p"], "yuv444p"),
    (["--pix-fmt", "yuv422p10le"], "yuv422p10le"),
])
def test_pixel_format_and_bit_depth_options(capsys, tmp_path, clip_mkv, args, expected):
    out = tmp_path / "out.mkv"
    convert(capsys, clip_mkv, out, *args)
    assert assert_neutral_chroma(out) == expected


def test_bit_depth_8_from_10_bit_input(capsys, tmp_path, clip10_mkv):
    out = tmp_path / "eight.mkv"
    convert(capsys, clip10_mkv, out, "--bit-depth", "8")
    assert assert_neutral_chroma(out) == "yuv420p"


# --------------------------------------------------------------------------- looks


def test_neutral_style_is_rec709_luma(capsys, tmp_path, clip_mkv, odd_mkv, clip10_mkv):
    for src, bits in ((clip_mkv, 8), (odd_mkv, 8), (clip10_mkv, 10)):
        out = tmp_path / f"{src.stem}_neutral.mkv"
        convert(capsys, src, out, "--style", "neutral", "--codec", "ffv1")  # lossless, so we see the render itself
        frames_in, frames_out = media.video_planes(src), media.video_planes(out)
        assert len(frames_in) == len(frames_out)
        for (_, planes_in), (_, (y_out, _, _)) in zip(frames_in, frames_out):
            expected = rec709_luma_codes(planes_in, bits, bits)
            diff = np.abs(y_out.astype(np.float64) - expected)
            tol = 2 ** (bits - 8)  # codes of the output's depth
            assert diff.mean() < 0.5 * tol, f"{src.name}: mean error {diff.mean():.2f}"
            assert np.percentile(diff, 99) <= 2 * tol, f"{src.name}: 99th percentile error {np.percentile(diff, 99)}"
            # Every pixel within two codes, except (for subsampled chroma) next to a chroma edge, where the
            # upsampling filter decides how much of a saturated neighbour clips into the pixel.
            flat = chroma_flat_mask(planes_in[1], planes_in[2], y_out.shape, 8 * tol)
            assert flat.mean() > 0.7
            assert diff[flat].max() <= 2 * tol, f"{src.name}: max error {diff[flat].max()} away from chroma edges"
            if src == odd_mkv:
                assert diff.max() <= 2 * tol, f"{src.name}: max error {diff.max()} (4:4:4, no upsampling)"


def test_red_filter_darkens_blue_and_brightens_red(capsys, tmp_path, clip_mkv):
    neutral, red = tmp_path / "neutral.mkv", tmp_path / "red.mkv"
    convert(capsys, clip_mkv, neutral, "--style", "neutral", "--codec", "ffv1")
    convert(capsys, clip_mkv, red, "--style", "red", "--codec", "ffv1")
    y_neutral = media.video_planes(neutral, limit=1)[0][1][0]
    y_red = media.video_planes(red, limit=1)[0][1][0]
    assert patch_mean(y_red, media.BLUE_PATCH) < patch_mean(y_neutral, media.BLUE_PATCH) - 10
    assert patch_mean(y_red, media.RED_PATCH) > patch_mean(y_neutral, media.RED_PATCH) + 30


def test_toning_colours_chroma_and_keeps_luma(capsys, tmp_path, clip_mkv):
    plain, toned = tmp_path / "plain.mkv", tmp_path / "sepia.mkv"
    convert(capsys, clip_mkv, plain, "--codec", "ffv1")
    convert(capsys, clip_mkv, toned, "--codec", "ffv1", "--toning", "sepia")
    _, (y0, u0, v0) = media.video_planes(plain, limit=1)[0]
    _, (y1, u1, v1) = media.video_planes(toned, limit=1)[0]
    assert (u0 == 128).all() and (v0 == 128).all()
    assert not (u1 == 128).all() and not (v1 == 128).all(), "sepia toning left the chroma neutral"
    # Sepia is warm: Cr above neutral, Cb below, on the bright parts.
    assert v1.mean() > 128 and u1.mean() < 128
    assert np.abs(y1.astype(int) - y0.astype(int)).max() <= 1, "toning changed the luma"


# --------------------------------------------------------------------------- naming, overwrite, pipelines


def test_default_output_name_beside_input(capsys, copy_in, clip_mp4):
    src = copy_in(clip_mp4, "holiday.film.mp4")
    run = run_inprocess(["convert", src], capsys)
    assert_ok(run)
    expected = src.with_name("holiday.film_bw.mp4")
    assert run.out.strip().splitlines()[-1] == str(expected)
    assert expected.is_file()
    assert sorted(p.name for p in src.parent.iterdir()) == ["holiday.film.mp4", "holiday.film_bw.mp4"]
    assert media.sha256(src) == media.sha256(clip_mp4)


def test_existing_output_needs_overwrite(capsys, tmp_path, clip_mkv):
    out = tmp_path / "out.mkv"
    out.write_bytes(b"precious")
    run = run_inprocess(["convert", clip_mkv, "-o", out], capsys)
    assert run.code != 0 and "--overwrite" in run.err
    assert out.read_bytes() == b"precious"
    assert temp_files(tmp_path) == []
    convert(capsys, clip_mkv, out, "--overwrite")
    assert len(media.frame_times(out)) == 24


def test_quiet_prints_only_the_output_path(capsys, tmp_path, clip_mkv):
    out = tmp_path / "quiet.mkv"
    run = run_inprocess(["convert", clip_mkv, "-o", out, "-q"], capsys)
    assert_ok(run)
    assert run.out == f"{out}\n"
    assert run.err.strip() == ""


@pytest.mark.parametrize("recipe, codec, crf", [("web-bw", "h264", "crf=20.0"), ("archive-lossless", "ffv1", None),
                                                ("remaster-bw", "prores", None)])
def test_pipeline_recipes(capsys, tmp_path, clip_mkv, recipe, codec, crf):
    out = tmp_path / ("out.mov" if codec == "prores" else "out.mkv")
    convert(capsys, clip_mkv, out, "--pipeline", recipe)
    assert media.video_info(out)["codec"] == codec
    if crf:
        assert crf in x264_settings(out)
    if recipe == "archive-lossless":  # neutral look, lossless: the luma is exactly what the kernel wrote
        assert_neutral_chroma(out)


def test_flags_override_the_pipeline(capsys, tmp_path, clip_mkv):
    out = tmp_path / "out.mkv"
    convert(capsys, clip_mkv, out, "--pipeline", "web-bw", "--crf", "28", "--codec", "libx264", "--bit-depth", "10")
    settings = x264_settings(out)
    assert "crf=28.0" in settings
    assert assert_neutral_chroma(out) == "yuv420p10le"
    out2 = tmp_path / "out2.mkv"
    convert(capsys, clip_mkv, out2, "--pipeline", "archive-lossless", "--codec", "libx264")
    assert media.video_info(out2)["codec"] == "h264"


def test_pipeline_from_a_toml_path(capsys, tmp_path, clip_mkv):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('description = "mine"\n[look]\nstyle = "red"\n[encode]\ncodec = "ffv1"\n', encoding="utf-8")
    out, ref = tmp_path / "out.mkv", tmp_path / "ref.mkv"
    convert(capsys, clip_mkv, out, "--pipeline", recipe)
    convert(capsys, clip_mkv, ref, "--style", "red", "--codec", "ffv1")
    assert media.video_info(out)["codec"] == "ffv1"
    y = media.video_planes(out, limit=1)[0][1][0]
    y_ref = media.video_planes(ref, limit=1)[0][1][0]
    assert np.array_equal(y, y_ref)


# --------------------------------------------------------------------------- damaged streams


def corrupt_copy(src: Path, dst: Path, packet_indexes=(6, 12)) -> int:
    """Copy `src`, flipping the bits of half of some mid-stream video packets' payloads.

    The container's own structure is left alone (MPEG-TS packet headers are skipped), so the demuxer
    still finds every packet and only the decoder sees damage. Returns the video packet count.
    """
    shutil.copy(src, dst)
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(dst.read_bytes())
    is_ts = src.suffix == ".ts"
    for i in packet_indexes:
        pos, size = packets[i]
        for k in range(pos + size // 4, pos + size // 4 + max(16, size // 2)):
            if is_ts and k % 188 < 4:
                continue
            data[k] ^= 0xFF
    dst.write_bytes(bytes(data))
    return len(packets)


@pytest.mark.parametrize("fixture", ["clip_mkv", "clip_ts", "clip_mp4"])
def test_corrupt_packets_mid_stream_are_survived_and_reported(request, capsys, tmp_path, fixture):
    clean = request.getfixturevalue(fixture)
    damaged = tmp_path / f"damaged{clean.suffix}"
    count = corrupt_copy(clean, damaged)
    assert count == 24
    out = tmp_path / f"damaged_bw{clean.suffix}"
    run = convert(capsys, damaged, out)
    assert re.search(r"concealed|failed", run.err), run.err
    assert len(media.frame_times(out)) == len(media.frame_times(clean)) == 24
    assert media.frame_times(out) == media.frame_times(clean)
