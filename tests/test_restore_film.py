"""Restoration end to end: a damaged real clip with sound through `convert --restore` and
`vidbw restore`, and as a chunked job that must equal the single pass."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import media
import numpy as np
import pytest
from conftest import assert_ok, run_inprocess, temp_files

from vidbw.eval.brightness import brightness_flicker_index
from vidbw.eval.damage import Damager, DamageSpec
from vidbw.io.encode import EncodeSettings
from vidbw.restore import Restoration

FRAMES = 36
SIZE = (320, 180)
DAMAGE = DamageSpec(flicker=0.07, regional_flicker=0.08, dust=5.0, scratches=1, seed=3)


@pytest.fixture(scope="module")
def damaged_film(shared_media, tmp_path_factory) -> Path:
    """36 frames of a real handheld clip (juggler_park), gray, 320x180, with flicker, dust and a
    scratch, as H.264 (crf 4) with an AAC track: what an archive transfer looks like."""
    path = tmp_path_factory.mktemp("restore") / "damaged.mp4"
    with av.open(str(shared_media / "video" / "juggler_park_720p.mp4")) as source:
        clean = [
            cv2.resize(frame.to_ndarray(format="gray"), SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            for _, frame in zip(range(FRAMES), source.decode(video=0))
        ]
    damager = Damager(DAMAGE, clean[0].shape)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=24, options={"crf": "4"})
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        audio_stream, seconds, rate = media._add_audio(out, "aac", FRAMES / 24)
        for index, picture in enumerate(clean):
            y = np.rint(damager(index, picture).y * 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.stack([y] * 3, axis=-1), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, 24)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for audio_frame in media._audio_frames(audio_stream, seconds, rate):
            for packet in audio_stream.encode(audio_frame):
                out.mux(packet)
        for packet in audio_stream.encode():
            out.mux(packet)
    return path


def lumas(path: Path) -> list[np.ndarray]:
    return [planes[0].astype(np.float32) / 255 for _, planes in media.video_planes(path)]


def test_convert_restores_before_the_look_and_keeps_time_and_sound(capsys, tmp_path, damaged_film):
    plain, restored = tmp_path / "plain.mp4", tmp_path / "restored.mp4"
    assert_ok(run_inprocess(["convert", damaged_film, "-o", plain, "--style", "tri-x"], capsys))
    assert_ok(run_inprocess(["convert", damaged_film, "-o", restored, "--style", "tri-x", "--restore"], capsys))
    assert media.frame_times(restored) == media.frame_times(damaged_film)
    audio = media.stream_packets(restored, "audio")
    assert audio and audio == media.stream_packets(damaged_film, "audio")
    before, after = brightness_flicker_index(lumas(plain)), brightness_flicker_index(lumas(restored))
    assert after < 0.5 * before, (before, after)
    assert temp_files(tmp_path) == []


def test_restore_keeps_the_picture_and_steadies_it(capsys, tmp_path, damaged_film):
    out = tmp_path / "restored.mkv"
    run = run_inprocess(["restore", damaged_film, "-o", out, "--codec", "ffv1"], capsys)
    assert_ok(run)
    assert "restored" in run.err
    run = run_inprocess(["eval", "restore", damaged_film, out, "--json"], capsys)
    assert_ok(run)
    report = json.loads(run.out)
    assert report["frames"] == FRAMES and report["flicker_reduction"] > 0.5, report
    # Colour is kept: the film is gray, so its chroma stays neutral (not tinted by restoration).
    for _, (_, u, v) in media.video_planes(out):
        assert abs(int(u.mean()) - 128) <= 1 and abs(int(v.mean()) - 128) <= 1


@pytest.mark.slow
def test_a_chunked_restoration_equals_the_single_pass(tmp_path, damaged_film):
    from vidbw.jobs import run_job
    from vidbw.pipeline import convert

    restoration = Restoration.parse("all")
    single, chunked = tmp_path / "single.mkv", tmp_path / "chunked.mkv"
    encode = EncodeSettings(codec="ffv1")
    convert(damaged_film, single, style="original", restore=restoration, encode=encode, device="cpu")
    result = run_job(
        damaged_film,
        chunked,
        job_dir=tmp_path / "job",
        style="original",
        restore=restoration,
        encode=encode,
        device="cpu",
        segment_frames=12,
        context=0,  # only what the smoother and the restoration need: the test fails if either is short
    )
    assert result.segments >= 3
    a, b = media.video_planes(single), media.video_planes(chunked)
    assert len(a) == len(b) == FRAMES
    for index, ((_, pa), (_, pb)) in enumerate(zip(a, b)):
        assert all(np.array_equal(x, y) for x, y in zip(pa, pb)), f"frame {index} differs"
