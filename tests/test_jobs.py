"""Chunked, resumable jobs (vidbw.jobs): planning, the job folder, resume, workers, Ray, faults.

Every end-to-end test compares with a single-pass render of the same film written with the
lossless FFV1 codec: decoded frames, frame timestamps and audio packets must be identical.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import media
from conftest import assert_ok, assert_one_line_error, run_inprocess, run_subprocess, temp_files

from vidbw.io.encode import EncodeSettings
from vidbw.jobs import JobDir, JobMismatch, plan_segments, run_job, scan_frames, segment_length
from vidbw.jobs.plan import DEFAULT_CONTEXT
from vidbw.jobs.state import write_json_atomic
from vidbw.jobs.worker import CRASH_ENV

HAS_RAY = importlib.util.find_spec("ray") is not None
# Every test here renders a film in segments, in worker processes or on Ray.
pytestmark = pytest.mark.slow

needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray not installed (pip install 'vidbw[ray]')")

FRAMES = 120
LOOK = {"style": "tri-x", "grain": 0.05, "toning": "sepia"}  # grain depends on the film's frame index
FFV1 = EncodeSettings(codec="ffv1")


# --------------------------------------------------------------------------- media


@pytest.fixture(scope="session")
def film(media_dir) -> Path:
    """64x48, 120 frames at 24 fps (keyframe every 24), AAC stereo."""
    return media.write_video(media_dir / "jobs_film.mp4", size=(64, 48), frames=FRAMES, audio="aac",
                             options={"g": "24", "keyint_min": "24", "sc_threshold": "0"})


@pytest.fixture(scope="session")
def reference(media_dir, film) -> Path:
    """The single-pass render of `film` (lossless)."""
    from vidbw.pipeline import convert

    out = media_dir / "jobs_reference.mkv"
    convert(film, out, **LOOK, encode=FFV1, device="cpu")
    return out


def assert_same_film(out: Path, reference: Path) -> None:
    got, want = media.video_planes(out), media.video_planes(reference)
    assert len(got) == len(want) == FRAMES
    for i, ((fmt_a, a), (fmt_b, b)) in enumerate(zip(got, want)):
        assert fmt_a == fmt_b
        for pa, pb in zip(a, b):
            assert np.array_equal(pa, pb), f"frame {i} differs from the single-pass render"
    assert media.frame_times(out) == media.frame_times(reference)
    audio = media.stream_packets(out, "audio")
    assert audio and audio == media.stream_packets(reference, "audio")


def job(film, out, job_dir, **kwargs):
    kwargs.setdefault("segment_frames", 24)
    return run_job(film, out, job_dir=job_dir, encode=FFV1, device="cpu", **LOOK, **kwargs)


def state(job_dir: Path) -> dict:
    return json.loads((Path(job_dir) / "state.json").read_text())["segments"]


# --------------------------------------------------------------------------- planning


def test_segments_cover_every_frame_once_and_snap_to_keyframes():
    segs = plan_segments(1000, 100, keyframes=range(0, 1000, 48))
    assert segs[0].start == 0 and segs[-1].stop == 1000
    assert all(a.stop == b.start for a, b in zip(segs, segs[1:]))
    assert [s.index for s in segs] == list(range(len(segs)))
    inner = [s.start for s in segs[1:]]
    assert all(b % 48 == 0 for b in inner), inner  # a keyframe lies within a quarter length of every ideal cut
    assert all(60 <= len(s.frames) <= 150 for s in segs)


def test_segments_split_at_shot_cuts_and_group_short_shots():
    cuts = [10, 20, 30, 200, 450]
    segs = plan_segments(600, 100, cuts=cuts)
    bounds = {s.start for s in segs} | {segs[-1].stop}
    assert {200, 450} <= bounds  # long shots start a segment
    assert not {10, 20} & bounds  # short shots are grouped
    assert segs[0].start == 0 and segs[-1].stop == 600
    for s in segs:  # no segment spans a shot boundary that is also a segment boundary elsewhere
        assert not any(s.start < c < s.stop for c in (200, 450))
    # a long shot (200..450) is split near 100-frame parts; a shot shorter than 1.5 x length stays whole
    assert len([s for s in segs if 200 <= s.start < 450]) == 2


def test_segment_length_scales_with_workers_within_bounds():
    assert segment_length(100_000, 24, 1, 16) == 30 * 24  # long films: 30 s segments
    assert segment_length(100, 24, 8, 16) == 48  # short films: at least 2 s
    assert segment_length(24 * 300, 24, 4, 16) == 24 * 300 // 16  # in between: 4 segments per worker


def test_scan_frames_finds_pts_and_keyframes(film):
    pts, keys = scan_frames(film)
    assert len(pts) == FRAMES and pts == sorted(pts)
    assert keys[:3] == [0, 24, 48]


# --------------------------------------------------------------------------- job folder


def test_state_writes_are_atomic(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})  # fails mid-write
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_job_folder_is_locked_while_in_use(tmp_path, film):
    from vidbw.errors import OutputError

    first = JobDir(tmp_path)
    first.root.mkdir(exist_ok=True)
    first.lock()
    try:
        with pytest.raises(OutputError, match="in use"):
            JobDir(tmp_path).lock()
    finally:
        first.unlock()
    JobDir(tmp_path).lock()  # free again


# --------------------------------------------------------------------------- end to end


def test_serial_job_is_identical_to_single_pass(tmp_path, film, reference):
    out = tmp_path / "out.mkv"
    result = job(film, out, tmp_path / "job")
    assert (result.segments, result.rendered, result.reused, result.retried) == (5, 5, 0, 0)
    assert_same_film(out, reference)
    entries = state(tmp_path / "job")
    assert [e["state"] for e in entries.values()] == ["done"] * 5
    assert sum(e["frames"] for e in entries.values()) == FRAMES
    plan = json.loads((tmp_path / "job" / "job.json").read_text())
    assert plan["segments"] == [[0, 24], [24, 48], [48, 72], [72, 96], [96, 120]]
    assert plan["settings"]["look"]["grain"] == 0.05 and plan["source"]["size"] == film.stat().st_size


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_joined_output_keeps_the_single_pass_timestamps_and_audio(tmp_path, film, suffix):
    """MP4 intermediates store a rounded start offset: the join restores the source's exact pts.
    AVI counts frames: the join writes frame positions at the film's rate, as the single pass does."""
    import av

    from vidbw.pipeline import convert

    single = tmp_path / f"single{suffix}"
    convert(film, single, **LOOK, encode=FFV1, device="cpu")
    out = tmp_path / f"out{suffix}"
    job(film, out, tmp_path / "job", segment_frames=17)
    assert_same_film(out, single)
    if suffix == ".avi":
        with av.open(str(out)) as container:
            assert container.streams.video[0].time_base == Fraction(1, 24)


def test_joined_hevc_mp4_keeps_the_hvc1_tag_its_segments_have(tmp_path, film):
    """Apple's players open HEVC only when tagged hvc1; copying the segments into the output must keep it."""
    import av

    out = tmp_path / "out.mp4"
    run_job(film, out, job_dir=tmp_path / "job", encode=EncodeSettings(codec="hevc", preset="ultrafast"), device="cpu",
            segment_frames=24, **LOOK)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"
        assert sum(1 for _ in container.decode(video=0)) == FRAMES


def test_joined_output_keeps_the_films_chapter_marks(tmp_path, film):
    source = media.add_chapters(film, tmp_path / "chaptered.mp4", tmp_path)
    out = tmp_path / "out.mp4"
    job(source, out, tmp_path / "job")
    assert media.chapters(out) == media.CHAPTERS
    assert len(media.frame_times(out)) == FRAMES


def test_joined_output_keeps_track_labels(tmp_path, film):
    source = media.add_tagged_tracks(film, tmp_path / "master.mkv", tmp_path)
    out = tmp_path / "out.mkv"
    job(source, out, tmp_path / "job")
    assert media.stream_labels(out) == media.stream_labels(source)
    assert len(media.frame_times(out)) == FRAMES


def test_joined_output_keeps_the_films_attached_files(tmp_path, film):
    source = media.add_attachment(film, tmp_path / "with_font.mkv", tmp_path)
    out = tmp_path / "out.mkv"
    job(source, out, tmp_path / "job")
    assert media.attachments(out) == [("title.ttf", "font/ttf", media.FONT_BYTES)]
    assert len(media.frame_times(out)) == FRAMES


def test_joined_prores_master_keeps_its_codec_and_alpha(tmp_path, prores_alpha_mov):
    """No --codec: the ProRes 4444 master's segments and the joined film stay ProRes 4444 with its alpha."""
    import av

    out = tmp_path / "out.mov"
    run_job(prores_alpha_mov, out, job_dir=tmp_path / "job", encode=EncodeSettings(), device="cpu", segment_frames=5,
            **LOOK)
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.name, ctx.profile, ctx.codec_tag) == ("prores", "4444", "ap4h")
    before, after = media.alpha_planes(prores_alpha_mov), media.alpha_planes(out)
    assert len(after) == len(before) == 12
    assert max(np.abs(a - b).max() for a, b in zip(before, after)) <= 1 / 1023 + 1e-9


def test_joined_hdr10_film_keeps_its_static_metadata(tmp_path, hdr_mkv):
    """Each segment's encoder writes the source's HDR10 metadata, so the joined film has it from every
    segment's first frame on (a player that starts or seeks there tone-maps it right)."""
    out = tmp_path / "out.mkv"
    run_job(hdr_mkv, out, job_dir=tmp_path / "job", encode=EncodeSettings(), device="cpu", segment_frames=10, **LOOK)
    source = media.keyframe_hdr10(hdr_mkv)[0]
    assert len(media.frame_times(out)) == 24
    at_segment_starts = media.keyframe_hdr10(out)
    assert len(at_segment_starts) >= 2  # each segment begins with its own keyframe
    assert at_segment_starts == [source] * len(at_segment_starts)
    assert source.display_parameter() == media.HDR10_DISPLAY


def film_seconds(path: Path) -> float:
    """The length the container says (what players show), from the last packet's end."""
    import av

    with av.open(str(path)) as container:
        return container.duration / av.time_base


def test_an_image_sequence_renders_as_a_job_like_a_single_pass(tmp_path, capsys):
    """Scans read at --fps 25 in the planning process and in two worker processes alike: the joined film
    is the single pass's, frame for frame and time for time. Resuming at another rate is refused."""
    from vidbw.io.sequence import reading_rate
    from vidbw.pipeline import convert

    scans = media.write_sequence(tmp_path / "scans", "png", frames=40, first_frame=1001, size=(64, 48))
    single, joined = tmp_path / "single.mkv", tmp_path / "joined.mkv"
    with reading_rate(25):
        convert(scans, single, **LOOK, encode=FFV1, device="cpu")
        result = run_job(scans, joined, job_dir=tmp_path / "job", encode=FFV1, device="cpu", workers=2,
                         segment_frames=12, keep_job=True, **LOOK)
    assert result.segments == 3 and result.frames == 40  # frames 0-12, 13-26, 27-39
    assert [np.array_equal(a, b) for (_, pa), (_, pb) in zip(media.video_planes(joined), media.video_planes(single))
            for a, b in zip(pa, pb)] == [True] * 120
    assert media.frame_times(joined) == media.frame_times(single) == [Fraction(i, 25) for i in range(40)]
    assert film_seconds(joined) == film_seconds(single) == pytest.approx(40 / 25, abs=0.002)
    run = run_inprocess(["convert", scans, "-o", joined, "--style", "tri-x", "--resume", tmp_path / "job",
                         "--fps", "24", "--overwrite"], capsys)
    assert_one_line_error(run, "planned with other settings")


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_a_joined_film_keeps_its_length_when_the_segments_count_time_finer(tmp_path, suffix):
    """An AVI counts 1/24 s; segments in MOV count 1/12288 s (Matroska 1/1000). The join used to keep
    the last packet's duration in the segment's clock, read in the film's: a 3 s film said 24.3 s
    in .mov, 4.7 s in .mkv."""
    source = media.write_video(tmp_path / "film.avi", codec="mpeg4", frames=72, size=(64, 48))
    single, joined = tmp_path / f"single{suffix}", tmp_path / f"joined{suffix}"
    from vidbw.pipeline import convert

    convert(source, single, style="tri-x", device="cpu")
    result = run_job(source, joined, job_dir=tmp_path / "job", segment_frames=24, style="tri-x", device="cpu")
    assert result.segments == 3
    assert film_seconds(joined) == film_seconds(single) == pytest.approx(3.0, abs=0.002)
    assert media.frame_times(joined) == media.frame_times(single)


def test_a_chunked_job_of_a_sequence_needs_a_film_output(tmp_path, capsys):
    scans = media.write_sequence(tmp_path / "scans", "png", frames=3)
    run = run_inprocess(["convert", scans, "--job-dir", tmp_path / "job"], capsys)
    assert_one_line_error(run, "a chunked job renders a film")
    assert not (tmp_path / "job").exists() and not (tmp_path / "scans_bw").exists()


@pytest.mark.parametrize("codec", [None, "mpeg2"])
def test_joined_mxf_master(tmp_path, timecode_mov, codec):
    """MXF's header needs the frame rate, which a stream copied from the segments does not carry: the
    join used to fail at its first packet ("Unsupported frame rate 0/0") for every codec but MPEG-2,
    whose own bitstream says it. The film's timecode is MXF's own, not a copied track."""
    import av

    out = tmp_path / "out.mxf"
    run_job(timecode_mov, out, job_dir=tmp_path / "job", encode=EncodeSettings(codec=codec, bit_depth=8 if codec else None),
            device="cpu", segment_frames=10, **LOOK)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == ("mpeg2video" if codec else "prores")
        assert sum(1 for _ in container.decode(video=0)) == 24
        assert container.metadata.get("timecode") == "01:00:00:00"
    assert len(media.stream_packets(out, "audio")) > 0


def test_resume_renders_only_unfinished_segments(tmp_path, film, reference):
    out = tmp_path / "out.mkv"
    job(film, out, tmp_path / "job")
    # Lose two segments: one intermediate deleted, one corrupted (its checksum no longer matches).
    (tmp_path / "job" / "segments" / "seg-00001.mkv").unlink()
    with open(tmp_path / "job" / "segments" / "seg-00003.mkv", "r+b") as f:
        f.seek(200)
        f.write(b"\0" * 16)
    out.unlink()
    result = job(film, out, tmp_path / "job", resume=True)
    assert (result.rendered, result.reused, result.frames_rendered) == (2, 3, 48)
    assert_same_film(out, reference)


def test_killed_mid_segment_then_resumed(tmp_path, film, reference, capsys):
    """The whole process dies abruptly in segment 2 (like kill -9); --resume renders segments 2-4 only."""
    out, job_dir = tmp_path / "out.mkv", tmp_path / "job"
    env = dict(os.environ, **{CRASH_ENV: f"2:5:{tmp_path / 'crashed'}"})
    code = ("from vidbw.io.encode import EncodeSettings; from vidbw.jobs import run_job; "
            f"run_job({str(film)!r}, {str(out)!r}, job_dir={str(job_dir)!r}, segment_frames=24, "
            f"encode=EncodeSettings(codec='ffv1'), device='cpu', **{LOOK!r})")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    assert not out.exists()
    assert [e["state"] for e in state(job_dir).values()] == ["done", "done", "pending", "pending", "pending"]
    assert temp_files(job_dir / "segments")  # the killed segment's half-written file is still there
    run = run_inprocess(["convert", film, "-o", out, "--resume", job_dir, "--codec", "ffv1", "--style", "tri-x",
                         "--grain", "0.05", "--toning", "sepia"], capsys)
    assert_ok(run)
    assert "5 total, 3 rendered, 2 reused" in run.err
    assert not temp_files(job_dir / "segments")
    assert_same_film(out, reference)


def test_workers_output_is_identical_and_a_dead_worker_is_retried(tmp_path, film, reference, monkeypatch):
    monkeypatch.setenv(CRASH_ENV, f"1:3:{tmp_path / 'crashed'}")
    out = tmp_path / "out.mkv"
    result = job(film, out, tmp_path / "job", workers=2)
    assert (tmp_path / "crashed").exists()  # the worker of segment 1 did die mid-segment
    assert result.rendered == 5 and result.retried >= 1
    assert state(tmp_path / "job")["1"]["attempts"] == 2
    assert_same_film(out, reference)


def test_worker_that_keeps_dying_fails_the_job_and_keeps_it_resumable(tmp_path, film, reference, monkeypatch):
    from vidbw.jobs.executors import WorkerDied

    monkeypatch.setenv(CRASH_ENV, f"4:2:{tmp_path / 'no' / 'such' / 'marker'}")  # uncreatable marker: dies every time
    with pytest.raises(WorkerDied, match="segment 4"):
        job(film, tmp_path / "out.mkv", tmp_path / "job", workers=2, max_retries=1)
    entries = state(tmp_path / "job")
    assert entries["4"]["state"] == "pending" and entries["4"]["attempts"] == 2
    done = sum(e["state"] == "done" for e in entries.values())
    assert done >= 3  # a segment in flight beside the dying one may have been stopped with it
    monkeypatch.delenv(CRASH_ENV)
    result = job(film, tmp_path / "out.mkv", tmp_path / "job", resume=True)
    assert (result.rendered, result.reused) == (5 - done, done)
    assert_same_film(tmp_path / "out.mkv", reference)


def test_full_disk_fails_with_a_clear_message_and_stays_resumable(tmp_path, film, reference, monkeypatch):
    from vidbw.errors import OutputError
    from vidbw.io import encode

    real_mux = encode.VideoWriter._mux

    def mux(self, packets):
        if self.frames_written >= 3 and "seg-00002" in self.container.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mux(self, packets)

    monkeypatch.setattr(encode.VideoWriter, "_mux", mux)
    out, job_dir = tmp_path / "out.mkv", tmp_path / "job"
    with pytest.raises(OutputError) as err:
        job(film, out, job_dir)
    message = str(err.value)
    assert "disk full" in message and f"`resume` {job_dir}" in message and "\n" not in message
    assert "resume" in err.value.params  # the CLI shows it as --resume
    assert [e["state"] for e in state(job_dir).values()] == ["done", "done", "pending", "pending", "pending"]
    assert not temp_files(job_dir / "segments") and not out.exists()
    monkeypatch.setattr(encode.VideoWriter, "_mux", real_mux)
    result = job(film, out, job_dir, resume=True)
    assert (result.rendered, result.reused) == (3, 2)
    assert_same_film(out, reference)


def test_job_folder_of_other_input_or_settings_is_refused(tmp_path, film, clip_mkv, capsys):
    out, job_dir = tmp_path / "out.mkv", tmp_path / "job"
    base = ["convert", film, "-o", out, "--codec", "ffv1", "--job-dir", job_dir]
    assert_ok(run_inprocess(base, capsys))
    line = assert_one_line_error(run_inprocess(base + ["--overwrite", "--grain", "0.1"], capsys), "other settings", "grain")
    assert str(job_dir) in line
    assert_one_line_error(run_inprocess(["convert", clip_mkv, "-o", out, "--overwrite", "--codec", "ffv1", "--resume",
                                         job_dir], capsys), "another input")
    assert_one_line_error(run_inprocess(["convert", film, "-o", out, "--overwrite", "--resume", tmp_path / "nothing"], capsys),
                          "nothing to resume")
    with pytest.raises(JobMismatch):
        run_job(film, out, job_dir=job_dir, resume=True, overwrite=True, encode=EncodeSettings(codec="libx264"))


def test_cli_workers_summary_and_automatic_job_folder(tmp_path, film, reference, capsys):
    out = tmp_path / "out.mkv"
    run = run_inprocess(["convert", film, "-o", out, "--workers", "2", "--codec", "ffv1", "--style", "tri-x",
                         "--grain", "0.05", "--toning", "sepia"], capsys)
    assert_ok(run)
    assert run.out.strip() == str(out)
    assert "rendered, 0 reused" in run.err
    assert not list(tmp_path.glob(".*vidbw-job*"))  # the automatic job folder is removed after success
    assert_same_film(out, reference)


def test_ray_engine_missing_gives_install_hint(tmp_path, film, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    run = run_inprocess(["convert", film, "-o", tmp_path / "o.mkv", "--engine", "ray"], capsys)
    assert_one_line_error(run, "pip install", "vidbw[ray]")


@needs_ray
def test_ray_engine_is_identical_and_retries_a_dead_worker(tmp_path, film, reference, monkeypatch):
    monkeypatch.setenv(CRASH_ENV, f"2:4:{tmp_path / 'crashed'}")  # Ray workers inherit the driver's environment
    out = tmp_path / "out.mkv"
    result = job(film, out, tmp_path / "job", workers=2, engine="ray")
    assert (tmp_path / "crashed").exists()
    assert result.rendered == 5 and result.retried >= 1
    assert state(tmp_path / "job")["2"]["attempts"] >= 2
    assert_same_film(out, reference)


@needs_ray
def test_ray_starts_after_this_process_converted_frames_in_another_thread(tmp_path, film, reference):
    """PyAV keeps a multi-threaded swscale context per thread; Ray's process start (a fork that runs
    Python in the child) must not hang on the one the main thread made before the job."""
    out = tmp_path / "out.mkv"
    code = ("import av\n"
            f"with av.open({str(film)!r}) as c: next(c.decode(video=0)).to_ndarray(format='rgb24')\n"
            "from vidbw.io.encode import EncodeSettings; from vidbw.jobs import run_job\n"
            f"run_job({str(film)!r}, {str(out)!r}, job_dir={str(tmp_path / 'job')!r}, segment_frames=24, "
            f"workers=2, engine='ray', encode=EncodeSettings(codec='ffv1'), device='cpu', **{LOOK!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert_same_film(out, reference)


def test_ray_cluster_choice_follows_ray_address(monkeypatch):
    """Without --address a job joins what RAY_ADDRESS names, as ray.init() would; 'local' asks for a
    private cluster (no Ray is started here)."""
    from vidbw.jobs.executors import running_cluster_address

    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert running_cluster_address() == "10.1.2.3:6379"
    monkeypatch.setenv("RAY_ADDRESS", "local")
    assert running_cluster_address() is None


@pytest.fixture
def running_ray(tmp_path_factory):
    """A Ray cluster started the way a user starts one (`ray start --head`, 2 CPUs), with its own
    temp dir (so nothing else here joins it) and its own token; stopped by signalling its process."""
    import secrets
    import signal
    import socket
    import tempfile
    import time
    from types import SimpleNamespace

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="vbr-", dir="/tmp")  # short: Ray's socket paths live in it
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    log = Path(temp) / "head.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                                 f"--port={port}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                                 "--disable-usage-stats", f"--temp-dir={temp}"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                env={**os.environ, **env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        yield SimpleNamespace(address=f"127.0.0.1:{port}", env=env, proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


@needs_ray
def test_ray_engine_joins_a_running_cluster_and_leaves_it_running(tmp_path, film, reference, monkeypatch, running_ray):
    """The CLI in its own process, as a user runs it (a Ray driver caches its token per process)."""
    for name, value in running_ray.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RAY_ADDRESS", running_ray.address)  # as `ray start` tells the user to
    look = ["--style", LOOK["style"], "--grain", LOOK["grain"], "--toning", LOOK["toning"], "--codec", "ffv1",
            "--device", "cpu"]
    run = run_subprocess(["convert", film, "-o", tmp_path / "out.mkv", *look, "--engine", "ray", "--workers", 2])
    assert_ok(run)  # no --address: the running cluster, not a private one
    assert f"joined the running cluster at {running_ray.address} (2 CPUs)" in run.err, run.err
    assert_same_film(tmp_path / "out.mkv", reference)
    assert running_ray.proc.poll() is None  # only disconnected from, not stopped

    monkeypatch.delenv("RAY_ADDRESS")
    run = run_subprocess(["convert", film, "-o", tmp_path / "out2.mkv", *look, "--engine", "ray",
                          "--address", running_ray.address])
    assert_ok(run)
    assert "joined the running cluster" in run.err, run.err
    assert_same_film(tmp_path / "out2.mkv", reference)
    assert running_ray.proc.poll() is None


def test_ray_worker_without_the_job_folder_sends_the_segment_back(tmp_path, film, monkeypatch):
    """Object-store mode: a worker that cannot see the job folder returns the intermediate's bytes,
    and the driver publishes them (run here without Ray: the task function is plain Python)."""
    import dataclasses
    import hashlib

    import numba

    from vidbw.jobs import job_settings
    from vidbw.jobs.executors import ENCODER_THREADS_ENV, _ray_render, _write_returned
    from vidbw.jobs.worker import SegmentTask

    # _ray_render narrows the process's thread pools as it would in a Ray worker; undo that here.
    for name in ("NUMBA_NUM_THREADS", ENCODER_THREADS_ENV):
        monkeypatch.setenv(name, "0")
        monkeypatch.delenv(name)
    threads = numba.get_num_threads()

    calls = []

    class Method:
        def __init__(self, name):
            self.name = name

        def remote(self, *args):
            calls.append((self.name, args))

    actor = type("Actor", (), {"start": Method("start"), "update": Method("update")})()
    settings = json.dumps(job_settings(**LOOK, encode=FFV1), sort_keys=True)
    task = SegmentTask(1, 24, 48, str(film), str(tmp_path / "not-mounted" / "seg-00001.mkv"), settings,
                       str(tmp_path / "not-mounted" / "timestamps.json"), 16)
    try:
        result = _ray_render(task, actor, scan_frames(film)[0])
    finally:
        numba.set_num_threads(threads)
    assert result.frames == 24 and result.data and hashlib.sha256(result.data).hexdigest() == result.sha256
    assert calls[0] == ("start", (1,))
    (tmp_path / "job").mkdir()
    published = dataclasses.replace(task, output=str(tmp_path / "job" / "seg-00001.mkv"))
    _write_returned(published, result)
    assert hashlib.sha256(Path(published.output).read_bytes()).hexdigest() == result.sha256
    assert result.data is None and not temp_files(tmp_path / "job")
    assert len(media.video_planes(Path(published.output))) == 24


def test_shot_list_cuts_are_segment_boundaries_and_shot_styles_apply(tmp_path, film, reference):
    """--shots: cuts become segment boundaries, and each shot's own style is rendered, as in a single pass."""
    import dataclasses

    from vidbw.pipeline import convert
    from vidbw.shots import ShotList

    shot_list = ShotList.from_cuts([30, 70], FRAMES, 24.0, style=None)
    shot_list.shots[1] = dataclasses.replace(shot_list.shots[1], style="red")  # the middle shot: another look
    shots = shot_list.save(tmp_path / "film.shots.json")
    single = tmp_path / "single.mkv"
    single_pass = convert(film, single, **LOOK, shots=shots, encode=FFV1, device="cpu")
    out = tmp_path / "out.mkv"
    result = job(film, out, tmp_path / "job", shots=shots)
    assert result.explain == single_pass.explain and "style red" in result.explain[1]
    plan = json.loads((tmp_path / "job" / "job.json").read_text())
    # cuts at 30 and 70; the longer shots split at the source keyframes 48 and 96
    assert plan["segments"] == [[0, 30], [30, 48], [48, 70], [70, 96], [96, 120]]
    assert plan["settings"]["shots_sha256"]
    assert json.loads((tmp_path / "job" / "shots.json").read_text())["shots"][1]["style"] == "red"
    assert result.rendered == 5
    assert_same_film(out, single)
    got, everywhere_trix = media.video_planes(out), media.video_planes(reference)
    assert np.array_equal(got[29][1][0], everywhere_trix[29][1][0])  # shot 0: the film's style
    assert not np.array_equal(got[30][1][0], everywhere_trix[30][1][0])  # shot 1: its own style
    # another shot list is another job
    shot_list.shots[1] = dataclasses.replace(shot_list.shots[1], style="green")
    other = shot_list.save(tmp_path / "other.shots.json")
    with pytest.raises(JobMismatch, match="shots_sha256"):
        job(film, out, tmp_path / "job", shots=other, overwrite=True)


@pytest.mark.parametrize("temporal, context, reach", [("strong", DEFAULT_CONTEXT, 12), ("light", 0, 4)])
def test_learned_style_with_smoothing_is_identical_across_segments(tmp_path, film, temporal, context, reach):
    """A learned style: per-shot proxies from the analysis pass and grids smoothed over ±12 (strong)
    or ±4 frames (light). Segments of 24 frames decode context frames on each side, so every grid is
    smoothed as in one pass; with no more context than the smoother's reach (light, context 0), also
    the last frames of a segment's last block, interpolated towards the block after it."""
    from vidbw.pipeline import convert
    from vidbw.styles import list_styles

    learned = [s.name for s in list_styles() if not s.is_constant]
    if not learned:
        pytest.skip("no learned style installed")
    single = tmp_path / "single.mkv"
    convert(film, single, learned[0], temporal=temporal, encode=FFV1, device="cpu")
    out = tmp_path / "out.mkv"
    result = run_job(film, out, job_dir=tmp_path / "job", style=learned[0], temporal=temporal, encode=FFV1,
                     device="cpu", segment_frames=24, context=context)
    assert result.rendered == 5
    assert json.loads((tmp_path / "job" / "job.json").read_text())["settings"]["context"] == max(context, reach)
    assert_same_film(out, single)


def test_segment_ending_where_a_block_does_renders_its_last_frames_as_one_pass(tmp_path, film):
    """A window whose decoding would end on a block boundary: its last block's frames after the last
    key lean on the next block's first key, which must be decoded too, or the last written frames
    are smoothed towards other grids (context = the smoother's reach, no more)."""
    from vidbw.pipeline import FrameWindow, render_segment
    from vidbw.render import PREDICT_BATCH, Look, RenderPlan, ShotRender
    from vidbw.styles import list_styles

    learned = [s for s in list_styles() if not s.is_constant]
    if not learned:
        pytest.skip("no learned style installed")
    plan = RenderPlan([ShotRender(0, None, Look(learned[0]), proxy=0)], temporal="light")
    start, stop, context = 20, 44, 4
    assert (stop + context) % PREDICT_BATCH == 0 and FrameWindow(start, stop, context, dict.fromkeys(range(FRAMES))).decode_stop > stop + context
    whole, part = tmp_path / "whole.mkv", tmp_path / "part.mkv"
    render_segment(film, whole, plan, FFV1, range(0, FRAMES))
    render_segment(film, part, plan, FFV1, range(start, stop), context)
    want = media.video_planes(whole)[start:stop]
    got = media.video_planes(part)
    assert len(got) == stop - start
    for i, ((_, a), (_, b)) in enumerate(zip(got, want)):
        assert np.array_equal(a[0], b[0]), f"frame {start + i} differs from the single-pass render"


def test_colorizing_job_is_identical_to_a_single_pass_and_refuses_changed_key_frames(tmp_path, film, capsys):
    """--colorize as a job: shot 0 from two key frames (a folder named by frame number; the frames
    between them blend both, across a segment boundary), shot 1 automatic; strong smoothing across
    24-frame segments; the key frames are part of the settings."""
    import av

    from vidbw.io.images import write_image
    from vidbw.pipeline import convert
    from vidbw.shots import ShotList

    keys = tmp_path / "keys"
    keys.mkdir()
    with av.open(str(film)) as container:
        pictures = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(41), container.decode(video=0))]
    first = pictures[0]
    write_image(keys / "key_0000.png", first)
    write_image(keys / "key_0040.png", pictures[40])
    shots = ShotList.from_cuts([60], FRAMES, 24.0, style=None).save(tmp_path / "film.shots.json")
    single = tmp_path / "single.mkv"
    single_pass = convert(film, single, colorize=True, reference=keys, shots=shots, temporal="strong", encode=FFV1,
                          device="cpu")
    out = tmp_path / "out.mkv"
    result = run_job(film, out, job_dir=tmp_path / "job", colorize=True, reference=keys, shots=shots,
                     temporal="strong", encode=FFV1, device="cpu", segment_frames=24, workers=2)
    segments = json.loads((tmp_path / "job" / "job.json").read_text())["segments"]
    assert result.rendered == len(segments) >= 4 and [60, 96] in segments  # split at the cut, and inside shots
    assert_same_film(out, single)
    assert result.explain == single_pass.explain  # --explain, as planned
    assert "key_0000.png (frame 0), key_0040.png (frame 40)" in result.explain[0]
    planned = json.loads((tmp_path / "job" / "shots.json").read_text())["shots"]
    assert planned[0]["reference"] == [{"frame": f, "path": str(keys.resolve() / f"key_{f:04d}.png")} for f in (0, 40)]
    assert "reference" not in planned[1]
    settings = json.loads((tmp_path / "job" / "job.json").read_text())["settings"]
    assert settings["look"]["colorize"] and settings["context"] >= 12

    # A retouched key frame is another job: resuming the old folder is refused, in one line.
    write_image(keys / "key_0000.png", first[:, ::-1].copy())
    run = run_inprocess(["convert", film, "-o", out, "--colorize", "--reference", keys, "--shots", shots,
                         "--temporal", "strong", "--codec", "ffv1", "--resume", tmp_path / "job", "--overwrite"], capsys)
    assert_one_line_error(run, "other settings")


def test_colorizing_job_refuses_a_retouched_key_frame_named_in_the_shot_list(tmp_path, film, capsys):
    import dataclasses

    from vidbw.io.images import write_image
    from vidbw.shots import ShotList

    key = np.zeros((48, 64, 3), np.uint8)
    key[..., 0] = 200  # a red key frame
    write_image(tmp_path / "key.png", key)
    shot_list = ShotList.from_cuts([60], FRAMES, 24.0, style=None)
    shot_list.shots[1] = dataclasses.replace(shot_list.shots[1], reference="key.png")  # relative to the list
    shots = shot_list.save(tmp_path / "film.shots.json")
    args = ["convert", film, "-o", tmp_path / "out.mkv", "--colorize", "--shots", shots, "--codec", "ffv1"]
    assert_ok(run_inprocess(args + ["--job-dir", tmp_path / "job"], capsys))
    key[..., 2] = 200  # retouched: magenta
    write_image(tmp_path / "key.png", key)
    run = run_inprocess(args + ["--resume", tmp_path / "job", "--overwrite"], capsys)
    assert_one_line_error(run, "other settings")


def test_interlaced_input_is_noted_by_single_passes_and_jobs_alike(tmp_path, capsys):
    """The planning's notes reach the user on a job too (they used to be lost with the plan)."""
    film = media.write_video(tmp_path / "interlaced.mp4", size=(64, 48), frames=48,
                             options={"flags": "+ilme+ildct", "x264-params": "interlaced=1:tff=1"})
    for extra, words in (([], "converted together"), (["--colorize"], "colorized together")):
        for job_args in ([], ["--workers", "2"]):
            out = tmp_path / f"out{len(extra)}{len(job_args)}.mkv"
            run = run_inprocess(["convert", film, "-o", out, "--codec", "ffv1", *extra, *job_args], capsys)
            assert_ok(run)
            assert "input is interlaced" in run.err and words in run.err, (extra, job_args, run.err)
