"""Chunked jobs: single process vs --workers N (local processes) vs --engine ray, and kill + resume.

    python benchmarks/bench_jobs.py                          # 60 s 720p source, 2 workers, veryfast, 3 rounds
    python benchmarks/bench_jobs.py --seconds 30 --workers 2 --preset medium --skip-ray

Every run is the real CLI in a subprocess, timed end to end (Ray's cluster start-up included).
The source is a synthetic 720p H.264 + AAC film from ffmpeg's testsrc2 (made once in .bench/).
Then a serial job is killed (SIGKILL) once half of its segments are done and resumed with
--resume: the job folder's state before and after, and the CLI's segment counts, show that only
the unfinished half is rendered again. Finally the per-segment times recorded in the job folder
give the throughput of one worker, from which the per-node scaling is estimated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDBW = [sys.executable, "-c", "from vidbw.cli import main; main()"]


def make_source(seconds: int, size: str) -> Path:
    path = WORK / f"jobs_source_{size}_{seconds}s.mp4"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "18", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
         str(path)],
        check=True,
    )
    return path


def run(args: list, check: bool = True) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*VIDBW, *map(str, args)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if check and proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): vidbw {' '.join(map(str, args))}\n{proc.stderr}")
    return wall, proc.stderr


def segment_counts(stderr: str) -> str:
    m = re.search(r"segments: .*", stderr)
    return m.group(0) if m else "?"


def job_state(job_dir: Path) -> dict:
    entries = json.loads((job_dir / "state.json").read_text())["segments"]
    return {"done": sum(e["state"] == "done" for e in entries.values()), "total": len(entries),
            "seconds": [e.get("seconds") for e in entries.values() if e["state"] == "done"],
            "frames": [e.get("frames") for e in entries.values() if e["state"] == "done"]}


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
    return {"killed_with_done": f"{before['done']}/{before['total']}", "resume_seconds": round(wall, 1),
            "resume_summary": segment_counts(err), "after": f"{after['done']}/{after['total']}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--style", default="tri-x")
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mode, round robin (the fastest counts)")
    ap.add_argument("--skip-ray", action="store_true")
    a = ap.parse_args()

    source = make_source(a.seconds, a.size)
    common = ["--style", a.style, "--preset", a.preset, "--overwrite"]
    out = WORK / "jobs_out.mp4"
    modes = {"single process": [], f"--workers {a.workers}": ["--workers", a.workers]}
    if not a.skip_ray:
        modes[f"--engine ray --workers {a.workers}"] = ["--engine", "ray", "--workers", a.workers]
    runs: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(a.repeat):  # round robin, so a burst of load on a shared machine hits every mode alike
        for name, extra in modes.items():
            wall, err = run(["convert", source, "-o", out, *common, *extra])
            runs[name].append(wall)
    times = {name: min(walls) for name, walls in runs.items()}
    frames = a.seconds * 25
    print(f"source: {source.name} ({frames} frames), style {a.style}, x264 {a.preset}, {os.cpu_count()} cores")
    base = times["single process"]
    for name, wall in times.items():
        print(f"  {name:32s} {wall:7.1f} s  {frames / wall:6.1f} fps  {100 * (wall / base - 1):+6.1f} % vs single"
              f"   (all runs: {', '.join(f'{w:.1f}' for w in runs[name])} s)")

    job_dir = WORK / "jobs_killed"
    resume = kill_at_half(source, common, job_dir, out)
    print(f"kill at 50 %: killed with {resume['killed_with_done']} segments done; resume took "
          f"{resume['resume_seconds']} s: {resume['resume_summary']}; now {resume['after']} done")

    st = job_state(job_dir)  # every segment of the resumed job, rendered by one worker at a time
    per_frame = sum(st["seconds"]) / sum(st["frames"])
    seg_len = sum(st["frames"]) / len(st["frames"])
    print(f"per segment (1 worker alone on the node): {seg_len:.0f} frames in {per_frame * seg_len:.2f} s "
          f"= {1 / per_frame:.1f} fps per worker")
    print(json.dumps({"times_s": {k: [round(v, 2) for v in runs[k]] for k in runs}, "resume": resume,
                      "worker_fps_alone": round(1 / per_frame, 2), "segment_frames": round(seg_len)}, indent=1))
    shutil.rmtree(job_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
