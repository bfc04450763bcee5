"""Chunked jobs: single process vs --workers N (local processes) vs --engine ray, per-segment figures,
and kill + resume.

    python benchmarks/bench_jobs.py                          # 12 s and 60 s films, 2 workers, veryfast, 2 rounds
    python benchmarks/bench_jobs.py --seconds 60 --repeat 3 --preset medium --skip-resume

Every run is the real CLI in a subprocess, timed end to end (Python start-up, Ray's cluster start
and stop included), and compared with the single-process run (plain `vidbw convert`) of the same
film in the same benchmark run, so every mode sees the same machine. The modes run round robin,
`--repeat` times, and the fastest run of each counts (a shared machine only ever slows a run down).

Sources: 720p H.264 + AAC films made once in .bench/ from real footage in ../shared/media (four
720p clips at 25 fps, joined and looped to length, with the airfield clip's real sound).

Modes:
  single process                  vidbw convert (one streaming pass, no job)
  --workers N                     a job on N local processes
  --engine ray --workers N        a job on a private local Ray cluster of N CPUs (started and stopped)
  --engine ray, running cluster   a job on a Ray cluster started once by the benchmark
                                  (`ray start --head --num-cpus N`, its own --temp-dir), joined with --address

Per-segment figures come from each job's folder (state.json: frames and render seconds of every
segment, timed in the worker): a segment's fps is one worker's speed with its share of the cores.
The render makespan is the segments' times scheduled in order on N workers (each free worker takes
the next segment, as the engines do); the fixed overhead of an engine is the wall time minus that
(Python start-up, planning, worker start, Ray start/stop, the join). From the per-segment fps and
the overheads the script prints the expected time per node with more cores (an estimate).
Finally a serial job of the longest film is killed (SIGKILL) once half of its segments are done and
resumed with --resume: only the unfinished half is rendered again.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media" / "video"
WORK = ROOT / ".bench"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDBW = [sys.executable, "-c", "from vidbw.cli import main; main()"]
CLIPS = ["dog_park_720p.mp4", "cups_table_720p.mp4", "hands_blocks_720p.mp4", "juggler_park_720p.mp4"]
SOUND = "airfield_sound_360p.mp4"
FPS = 25


def make_source(seconds: int) -> Path:
    """A 720p H.264 + AAC film of real footage, `seconds` long, made once."""
    path = WORK / f"jobs_footage_720p_{seconds}s.mp4"
    if path.exists():
        return path
    for name in (*CLIPS, SOUND):
        if not (MEDIA / name).exists():
            sys.exit(f"benchmark source missing: {MEDIA / name} (the shared media folder must sit beside the repo)")
    WORK.mkdir(exist_ok=True)
    reel = WORK / "jobs_footage_720p_reel.mp4"  # the clips joined once (about 39 s), then looped to length
    if not reel.exists():
        inputs = [arg for name in CLIPS for arg in ("-i", str(MEDIA / name))]
        chains = "".join(f"[{i}:v]scale=1280:720:flags=lanczos,fps={FPS},setsar=1,format=yuv420p[v{i}];"
                         for i in range(len(CLIPS)))
        graph = chains + "".join(f"[v{i}]" for i in range(len(CLIPS))) + f"concat=n={len(CLIPS)}:v=1:a=0[v]"
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph,
                        "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-g", str(2 * FPS),
                        str(reel)], check=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(reel),
         "-stream_loop", "-1", "-i", str(MEDIA / SOUND), "-map", "0:v", "-map", "1:a", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", str(2 * FPS), "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", str(path)],
        check=True,
    )
    return path


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


def run(args: list, check: bool = True, env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*VIDBW, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)
    wall = time.perf_counter() - start
    if check and proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): vidbw {' '.join(map(str, args))}\n{proc.stderr}")
    return wall, proc.stderr


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def segment_counts(stderr: str) -> str:
    m = re.search(r"segments: .*", stderr)
    return m.group(0) if m else "?"


def job_state(job_dir: Path) -> dict:
    entries = json.loads((job_dir / "state.json").read_text())["segments"]
    done = [entries[k] for k in sorted(entries, key=int) if entries[k]["state"] == "done"]
    return {"done": len(done), "total": len(entries), "seconds": [e.get("seconds") for e in done],
            "frames": [e.get("frames") for e in done]}


def makespan(seconds: list[float], workers: int) -> float:
    """The segments' render times scheduled in order on `workers` workers (each free worker takes the next)."""
    free = [0.0] * max(1, workers)
    for s in seconds:
        heapq.heapreplace(free, free[0] + s)
    return max(free)


def segment_figures(job_dir: Path, workers: int, wall: float) -> dict:
    st = job_state(job_dir)
    fps = [f / s for f, s in zip(st["frames"], st["seconds"]) if s]
    span = makespan(st["seconds"], workers)
    return {"segments": st["total"], "segment_frames": round(statistics.mean(st["frames"])),
            "segment_fps": [round(x, 1) for x in fps], "segment_fps_median": round(statistics.median(fps), 1),
            "render_seconds_sum": round(sum(st["seconds"]), 2), "render_makespan": round(span, 2),
            "fixed_overhead": round(wall - span, 2)}


class RunningCluster:
    """`ray start --head --block` with its own temp dir (so nothing else on this machine joins it by
    accident), stopped by signalling that one process (never `ray stop`, which stops every cluster here).
    Token authentication on, with a token of its own: a driver given the address needs `env` too.
    No draining on SIGTERM (nothing to drain)."""

    def __init__(self, cpus: int):
        import secrets

        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.temp = tempfile.mkdtemp(prefix="vbr-", dir="/tmp")  # short: Ray's socket paths live in it
        self.address = f"127.0.0.1:{self.port}"
        ray = Path(sys.executable).parent / "ray"
        self.log = open(Path(self.temp) / "head.log", "w+")
        self.proc = subprocess.Popen([str(ray), "start", "--head", "--block", f"--port={self.port}",
                                      f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false",
                                      "--disable-usage-stats", f"--temp-dir={self.temp}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **self.env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in Path(self.log.name).read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"ray start failed:\n{Path(self.log.name).read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)


def kill_at_half(source: Path, common: list, job_dir: Path, out: Path) -> dict:
    shutil.rmtree(job_dir, ignore_errors=True)
    out.unlink(missing_ok=True)
    proc = subprocess.Popen([*VIDBW, "convert", source, "-o", out, "--job-dir", job_dir, *common],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    while True:
        time.sleep(0.2)
        if proc.poll() is not None:
            sys.exit("the job finished before it could be killed; use a longer --seconds")
        try:
            st = job_state(job_dir)
        except (OSError, ValueError, KeyError):
            continue
        if st["done"] >= st["total"] / 2:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
    before = job_state(job_dir)
    wall, err = run(["convert", source, "-o", out, "--resume", job_dir, *common])
    after = job_state(job_dir)
    alone = job_state(job_dir)  # every segment rendered by one worker with all the cores
    fps_alone = sum(alone["frames"]) / sum(alone["seconds"])
    shutil.rmtree(job_dir, ignore_errors=True)
    return {"killed_with_done": f"{before['done']}/{before['total']}", "resume_seconds": round(wall, 1),
            "resume_summary": segment_counts(err), "after": f"{after['done']}/{after['total']}",
            "worker_fps_all_cores": round(fps_alone, 1)}


def bench_film(seconds: int, a, common: list, cluster: RunningCluster | None) -> dict:
    source = make_source(seconds)
    frames = frame_count(source)
    out = WORK / "jobs_out.mp4"
    n = a.workers
    modes: dict[str, list] = {"single process": [], f"--workers {n}": ["--workers", n]}
    env: dict[str, dict] = {}
    if not a.skip_ray:
        modes[f"--engine ray --workers {n}"] = ["--engine", "ray", "--workers", n, "--address", "local"]
        if cluster is not None:
            name = "--engine ray, running cluster"
            modes[name] = ["--engine", "ray", "--workers", n, "--address", cluster.address]
            env[name] = cluster.env
    runs: dict[str, list[dict]] = {name: [] for name in modes}
    load_before = load()
    for _ in range(a.repeat):  # round robin, so a burst of load on a shared machine hits every mode alike
        for name, extra in modes.items():
            job_dir = WORK / "jobs_bench_job"
            shutil.rmtree(job_dir, ignore_errors=True)
            args = ["convert", source, "-o", out, *common, *extra] + (["--job-dir", job_dir] if extra else [])
            wall, err = run(args, env=env.get(name))
            entry = {"wall": round(wall, 2), "load": load()}
            if extra:
                entry.update(segment_figures(job_dir, n, wall))
                m = re.search(r"started a local cluster .*? in ([0-9.]+)s", err)
                if m:
                    entry["ray_init"] = float(m.group(1))
            runs[name].append(entry)
            shutil.rmtree(job_dir, ignore_errors=True)
    best = {name: min(r, key=lambda e: e["wall"]) for name, r in runs.items()}
    base = best["single process"]["wall"]
    print(f"\nfilm: {source.name} ({frames} frames, 720p real footage), style {a.style}, x264 {a.preset}, "
          f"{os.cpu_count()} cores; load avg (1/5/15 min) before {load_before}, after {load()}")
    print(f"  {'mode':30s} {'best':>7s} {'fps':>6s} {'vs single':>9s}   {'seg fps med':>11s} {'makespan':>8s} "
          f"{'overhead':>8s}   all runs (s)")
    for name, e in best.items():
        seg = (f"{e['segment_fps_median']:11.1f} {e['render_makespan']:7.1f}s {e['fixed_overhead']:7.1f}s"
               if "segments" in e else f"{'':11s} {'':8s} {'':8s}")
        print(f"  {name:30s} {e['wall']:6.1f}s {frames / e['wall']:6.1f} {100 * (e['wall'] / base - 1):+8.1f}%   {seg}   "
              f"{', '.join(str(r['wall']) for r in runs[name])}")
    return {"film_seconds": seconds, "frames": frames, "load_before": load_before, "load_after": load(),
            "runs": runs, "best": best, "ratio_vs_single": {k: round(v["wall"] / base, 3) for k, v in best.items()}}


def estimate(results: list[dict], workers: int) -> None:
    """Expected time per node from the per-segment figures: an estimate, not a measurement."""
    seg_fps, overheads = [], {}
    for r in results:
        for name, e in r["best"].items():
            if "segment_fps" in e:
                seg_fps.extend(e["segment_fps"])
                overheads.setdefault(name, []).append(e["fixed_overhead"])
    if not seg_fps:
        return
    f1 = statistics.median(seg_fps)  # one worker with 1 core (workers = cores on this machine)
    print(f"\nestimate per node: one worker with one core renders {f1:.1f} fps (median segment); "
          f"a node of C cores with C workers ~ C x {f1:.1f} fps, plus each engine's fixed overhead:")
    for name, values in overheads.items():
        print(f"  {name:30s} fixed overhead {min(values):.1f}-{max(values):.1f} s")
    for film in (60, 600, 7200):
        frames = film * FPS
        cells = []
        for cores in (2, 8, 16, 32):
            render = frames / (cores * f1)
            cells.append(f"{cores} cores {render:7.1f} s")
        print(f"  {film:5d} s film ({frames} frames), render only: " + ", ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, nargs="+", default=[12, 60], help="film lengths (default 12 60)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--style", default="tri-x")
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each mode, round robin (the fastest counts)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-running-cluster", action="store_true", help="no `ray start` cluster mode")
    ap.add_argument("--skip-resume", action="store_true", help="no kill at 50 %% and resume")
    a = ap.parse_args()

    common = ["--style", a.style, "--preset", a.preset, "--overwrite"]
    cluster = None
    if not a.skip_ray and not a.skip_running_cluster:
        started = time.perf_counter()
        cluster = RunningCluster(a.workers)
        print(f"ray start --head --num-cpus {a.workers}: up in {time.perf_counter() - started:.1f} s at {cluster.address}")
    try:
        results = [bench_film(s, a, common, cluster) for s in a.seconds]
    finally:
        if cluster is not None:
            cluster.stop()
    estimate(results, a.workers)
    report = {"results": results}
    if not a.skip_resume:
        longest = make_source(max(a.seconds))
        resume = kill_at_half(longest, common, WORK / "jobs_killed", WORK / "jobs_out.mp4")
        print(f"\nkill at 50 % ({longest.name}): killed with {resume['killed_with_done']} segments done; resume took "
              f"{resume['resume_seconds']} s: {resume['resume_summary']}; now {resume['after']} done; "
              f"one worker with all {os.cpu_count()} cores: {resume['worker_fps_all_cores']} fps")
        report["resume"] = resume
    (WORK / "jobs_results.json").write_text(json.dumps(report, indent=1))
    print(f"\n(all figures in {WORK / 'jobs_results.json'})")


if __name__ == "__main__":
    main()
