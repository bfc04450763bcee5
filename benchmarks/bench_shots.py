"""Shot detection: accuracy on films with known cuts, and the analysis pass's speed vs a conversion.

    python benchmarks/bench_shots.py                    # accuracy (adaptive, content, transnet) + speed
    python benchmarks/bench_shots.py --skip-transnet    # TransNetV2 is slow on a CPU
    python benchmarks/bench_shots.py --speed-only --repeats 3

Accuracy (cut F1, ±1 frame):
* "known cuts": films built by joining segments of the real camera clips in ../shared/media (which
  have no cuts of their own) - hard cuts only, and the same joins with some of them turned into
  dissolves (a detector may put at most one cut in a dissolve; the dissolves are left out of the
  score, and cuts inside them are not counted as false);
* "hand-labelled": the three animated clips with cuts, labelled frame by frame by eye.

Speed: the analysis pass (threaded PyAV decode of every frame, planes area-averaged to 240 px,
adaptive detection) on 1080p and 720p H.264 clips of real footage, as frames per second and as time
added to a 1080p conversion (`vidbw convert`, x264 medium crf 18, style neutral, as in
bench_convert.py), both timed alternately in the same run (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import FFMPEG, MEDIA, WORK, make_source  # noqa: E402

from vidbw.eval.cuts import Segment, build_cut_film, cut_f1, dissolve_spans  # noqa: E402
from vidbw.shots import detect_shots  # noqa: E402

CAMERA_CLIPS = ["dog_park_720p.mp4", "juggler_park_720p.mp4", "cups_table_720p.mp4", "hands_blocks_720p.mp4",
                "flower_macro_540p.mp4", "bedroom_kids_540p.mp4", "airfield_sound_360p.mp4"]
LENGTHS = [20, 27, 34, 41, 23, 30, 37, 45, 25]
STARTS = [5, 55, 100]  # every clip has at least 150 frames; segments are at most 45 long

# Hand-labelled: the first frame of every new shot (checked frame by frame on contact sheets).
LABELLED = {
    "big_buck_bunny_cuts_720p.webm": [283, 376, 551],  # opens with a fade from black; a tilt at ~139
    "sintel_cuts_360p.mp4": [58, 76, 96, 118, 140, 176, 209],  # fast action, motion blur
    "caminandes_cuts_360p.mp4": [],  # one locked-off shot; cars whip past the lens at ~103-113, 210-226
}


def known_cut_films() -> list[tuple[str, Path, list[int], list[tuple[int, int]]]]:
    """(name, path, true hard cuts, dissolve spans) for the built films, made once in .bench/."""
    WORK.mkdir(exist_ok=True)
    segments = []
    for r, start in enumerate(STARTS):
        shift = (3 * r) % len(CAMERA_CLIPS)  # never the same clip on both sides of a join
        order = CAMERA_CLIPS[shift:] + CAMERA_CLIPS[:shift]
        for i, clip in enumerate(order):
            segments.append(Segment(MEDIA / clip, start, LENGTHS[(i + 2 * r) % len(LENGTHS)]))
    films = []
    hard = WORK / "cuts_hard_640x360.mp4"
    truth_file = hard.with_suffix(".json")
    if not truth_file.exists():
        truth = build_cut_film(hard, segments, size=(640, 360))
        truth_file.write_text(json.dumps(truth))
    films.append(("known cuts, hard (640x360)", hard, json.loads(truth_file.read_text()), []))
    dissolves = [24 if k % 4 == 1 else 0 for k in range(len(segments) - 1)]
    dissolves = [min(d, segments[k].frames - 2, segments[k + 1].frames - 2) for k, d in enumerate(dissolves)]
    mixed = WORK / "cuts_dissolves_640x360.mp4"
    truth_file = mixed.with_suffix(".json")
    if not truth_file.exists():
        truth = build_cut_film(mixed, segments, size=(640, 360), dissolves=dissolves)
        truth_file.write_text(json.dumps(truth))
    truth = json.loads(truth_file.read_text())
    spans = dissolve_spans(segments, dissolves)
    hard_truth = [c for c in truth if not any(a <= c <= b for a, b in spans)]
    films.append((f"known cuts + {len(spans)} dissolves (640x360)", mixed, hard_truth, spans))
    return films


def accuracy(detectors: list[str]) -> list[dict]:
    rows = []
    films = known_cut_films() + [(f"hand-labelled {name}", MEDIA / name, cuts, []) for name, cuts in LABELLED.items()]
    for detector in detectors:
        for name, path, truth, spans in films:
            started = time.perf_counter()
            cuts = detect_shots(path, detector).cuts()
            seconds = time.perf_counter() - started
            s = cut_f1(cuts, truth, tolerance=1, neutral_spans=spans)
            rows.append({"detector": detector, "film": name, "f1": s.f1, "precision": s.precision, "recall": s.recall,
                         "tp": s.true_positives, "fp": s.false_positives, "fn": s.false_negatives,
                         "true_cuts": len(truth), "seconds": seconds, "found": cuts})
            print(f"  {detector:9} {name:42} {s}  ({seconds:.1f}s)", flush=True)
    return rows


def make_720p(seconds: int) -> Path:
    path = WORK / f"source_720p_{seconds}s.mp4"
    if not path.exists():
        source = make_source(seconds)
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-vf",
                        "scale=1280:720:flags=lanczos", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                        "-c:a", "copy", str(path)], check=True)
    return path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def analysis_pass(path: Path, fast_decode: bool) -> tuple[float, float, int]:
    """(wall s, CPU s, frames) of the whole analysis pass with the default (adaptive) detector."""
    from vidbw.shots.analysis import LowresFilm
    from vidbw.shots.detect import detect_cuts

    wall, cpu = time.perf_counter(), _cpu_seconds()
    film = LowresFilm(path, fast_decode=fast_decode)
    detect_cuts(film, film.fps, "adaptive", 12)
    return time.perf_counter() - wall, _cpu_seconds() - cpu, film.frames


def conversion(path: Path) -> tuple[float, float]:
    """(wall s, CPU s) of `vidbw.convert` (x264 medium crf 18, neutral), in this process, without
    start-up and imports (bench_convert.py's "steady" figure)."""
    from vidbw.io.encode import EncodeSettings
    from vidbw.pipeline import convert

    out = WORK / "bench_shots_convert.mp4"
    wall, cpu = time.perf_counter(), _cpu_seconds()
    convert(path, out, style="neutral", encode=EncodeSettings(crf=18, preset="medium"), overwrite=True, device="cpu")
    return time.perf_counter() - wall, _cpu_seconds() - cpu


def speed(seconds: int, repeats: int) -> dict:
    clips = {"1080p": make_source(seconds), "720p": make_720p(seconds)}
    runs: dict[str, list[float]] = {}
    frames = 0
    conversion(clips["1080p"])  # warm-up: imports, numba compilation
    for _ in range(repeats):  # interleaved, so a busy machine slows every measurement alike
        wall, cpu = conversion(clips["1080p"])
        runs.setdefault("convert_1080p_wall_s", []).append(wall)
        runs.setdefault("convert_1080p_cpu_s", []).append(cpu)
        for res, clip in clips.items():
            for fast in (False, True):
                wall, cpu, frames = analysis_pass(clip, fast)
                key = f"analysis_{res}{'_fast' if fast else ''}"
                runs.setdefault(f"{key}_wall_s", []).append(wall)
                runs.setdefault(f"{key}_cpu_s", []).append(cpu)
    result: dict = {key: statistics.median(values) for key, values in runs.items()}
    result["frames"] = frames
    result["load_average"] = os.getloadavg()
    result["convert_1080p_fps"] = frames / result["convert_1080p_wall_s"]
    for res in ("1080p", "720p"):
        for variant in ("", "_fast"):
            key = f"analysis_{res}{variant}"
            result[f"{key}_fps"] = frames / result[f"{key}_wall_s"]
            result[f"{key}_cpu_ms_per_frame"] = 1000 * result[f"{key}_cpu_s"] / frames
            if res == "1080p":
                result[f"{key}_added_wall_pct"] = 100 * result[f"{key}_wall_s"] / result["convert_1080p_wall_s"]
                result[f"{key}_added_cpu_pct"] = 100 * result[f"{key}_cpu_s"] / result["convert_1080p_cpu_s"]
    result["runs"] = runs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-transnet", action="store_true", help="Leave out TransNetV2 (slow on a CPU).")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--accuracy-only", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"shared media missing: {MEDIA}")
    results: dict = {}
    if not args.speed_only:
        detectors = ["adaptive", "content"] + ([] if args.skip_transnet else ["transnet"])
        print("cut detection F1 (±1 frame):")
        results["accuracy"] = accuracy(detectors)
    if not args.accuracy_only:
        print(f"analysis pass speed ({args.seconds} s clips, median of {args.repeats}):", flush=True)
        s = results["speed"] = speed(args.seconds, args.repeats)
        print(f"  1080p conversion (x264 medium crf 18, neutral): {s['convert_1080p_fps']:.1f} fps, "
              f"{1000 * s['convert_1080p_cpu_s'] / s['frames']:.0f} CPU-ms per frame")
        for res in ("1080p", "720p"):
            print(f"  analysis {res}: {s[f'analysis_{res}_fps']:.0f} fps ({s[f'analysis_{res}_cpu_ms_per_frame']:.1f} CPU-ms "
                  f"per frame) exact decode; {s[f'analysis_{res}_fast_fps']:.0f} fps "
                  f"({s[f'analysis_{res}_fast_cpu_ms_per_frame']:.1f} CPU-ms) with fast_decode")
        for variant, label in (("", "exact decode"), ("_fast", "fast_decode")):
            print(f"  added to a 1080p conversion, {label}: {s[f'analysis_1080p{variant}_added_wall_pct']:.1f} % of its "
                  f"wall time, {s[f'analysis_1080p{variant}_added_cpu_pct']:.1f} % of its CPU time")
        print(f"  (load average during the run: {' '.join(f'{x:.1f}' for x in s['load_average'])} on "
              f"{os.cpu_count()} cores)")
    (WORK / "shots_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
