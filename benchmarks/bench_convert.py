"""Throughput and peak memory of `vidbw convert` against ffmpeg's own gray transcode, in the same run.

    python benchmarks/bench_convert.py                       # 10 s and 60 s 1080p clips, medium, crf 18
    python benchmarks/bench_convert.py --seconds 10 --style tri-x --preset veryfast
    python benchmarks/bench_convert.py --seconds 60 --style landscape-master --decompose
    python benchmarks/bench_convert.py --seconds 60 --style landscape-master --repeat 3

The reference is `ffmpeg -i IN -vf hue=s=0 -c:v libx264 -preset P -crf Q -c:a copy OUT` with the same
preset and crf (ffmpeg from imageio-ffmpeg, so no system ffmpeg is needed). The 1080p H.264 source
is made once from real footage in ../shared/media (upscaled, looped to length, real sound) and kept
in .bench/. Peak memory is each process's maximum RSS (wait4), so 10 s vs 60 s shows whether memory
grows with the film's length. This shared 2-core machine's speed drifts by several percent between
minutes (ffmpeg alone: 46-50 fps on the 60 s clip), so `--repeat N` alternates the two N times and
reports the pair with the median ratio.

`--decompose` also times, in the same run, what the end-to-end ratio is made of:
- the analysis pass alone (`vidbw shots --style S`: cut detection and proxies; a classic style has
  none, 0 s). `vidbw convert` no longer runs it: it finds cuts and proxies inside its render pass
  (`vidbw.shots.streaming`); chunked jobs and `vidbw shots` still do, and this is what it costs them;
- x264 alone on the look's own picture against x264 alone on ffmpeg's gray: both pictures written
  losslessly (FFV1: vidbw's look, ffmpeg's hue=s=0), then each encoded by ffmpeg with the same
  settings and no filter. A look with more local contrast than ffmpeg's gray costs the encoder more
  bits and time whoever renders it; `ffmpeg time / (ffmpeg time + the difference)` bounds the ratio
  any renderer of this look could reach with these encoder settings. (Re-encoding vidbw's H.264
  output instead would understate it: x264's own coding has smoothed that picture.);
- for a learned style, the render pass with its grids free: every frame sliced with the one grid
  the style predicts for the clip's middle frame, no analysis pass (timed in this process, like
  the render pass's own time): what the look costs when predicting grids costs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media" / "video"
WORK = ROOT / ".bench"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDBW = [sys.executable, "-c", "from vidbw.cli import main; main()"]


def make_source(seconds: int) -> Path:
    """A 1080p H.264 + AAC clip of real footage, `seconds` long (looped), made once."""
    path = WORK / f"source_1080p_{seconds}s.mp4"
    if path.exists():
        return path
    picture, sound = MEDIA / "juggler_park_720p.mp4", MEDIA / "airfield_sound_360p.mp4"
    for needed in (picture, sound):
        if not needed.exists():
            sys.exit(f"benchmark source missing: {needed} (the shared media folder must sit beside the repo)")
    WORK.mkdir(exist_ok=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(picture),
         "-stream_loop", "-1", "-i", str(sound), "-map", "0:v", "-map", "1:a", "-t", str(seconds),
         "-vf", "scale=1920:1080:flags=lanczos", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", str(path)],
        check=True,
    )
    return path


class Timed(NamedTuple):
    wall: float  # seconds
    rss_mib: int  # peak resident memory
    stderr: str
    cpu: float  # user + system CPU seconds of all its threads: far steadier than wall on a shared machine


def timed(cmd: list[str]) -> Timed:
    """Wall seconds, peak RSS, stderr and CPU seconds of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr}")
    return Timed(wall, usage.ru_maxrss // 1024, stderr, usage.ru_utime + usage.ru_stime)


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.demux(container.streams.video[0]) if _.size)


def render_with_free_grids(source: Path, style_name: str, preset: str, crf: int) -> float:
    """Seconds for the render pass of `style_name`'s look with one frozen grid (see the module doc)."""
    import numpy as np

    from vidbw.io.probe import describe_video, open_input
    from vidbw.io.decode import DecodeStats, read_media
    from vidbw.io.encode import EncodeSettings
    from vidbw.pipeline import convert_video
    from vidbw.render import Look, RenderPlan, lowres_rgb
    from vidbw.styles import get_style
    from vidbw.styles.base import Style

    learned = get_style(style_name)
    with open_input(source) as container:
        info = describe_video(container, source)
        middle = next(item for item in read_media(container, info, [], DecodeStats()) if item.index == info.frame_count // 2)
        grid = learned.grids_for(lowres_rgb(middle.planes, middle.to_rgb)[None])[0]

    class FrozenGrid(Style):
        name, description, kind = f"{learned.name}-frozen", "one grid for every frame", "classic"
        tone_lut = learned.tone_lut
        is_constant = True

        def grids_for(self, batch):
            return np.repeat(grid[None], len(batch), 0)

    start = time.perf_counter()
    convert_video(source, WORK / "free_grids.mp4", RenderPlan.single(Look(FrozenGrid())),
                  EncodeSettings(preset=preset, crf=crf), overwrite=True)
    return time.perf_counter() - start


def x264_on_look_and_gray(source: Path, style: str, preset: str, crf: int) -> tuple[float, float]:
    """Seconds x264 takes on the look's exact picture, and on ffmpeg's gray one (see the module doc)."""
    look, gray = WORK / "look_lossless.mkv", WORK / "gray_lossless.mkv"
    timed([*VIDBW, "convert", str(source), "-o", str(look), "--overwrite", "--style", style, "--codec", "ffv1"])
    timed([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:v", "-vf", "hue=s=0",
           "-c:v", "ffv1", str(gray)])
    walls = []
    for picture in (look, gray):
        walls.append(timed([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(picture), "-c:v", "libx264",
                            "-preset", preset, "-crf", str(crf), str(WORK / "x264_alone.mp4")])[0])
    for picture in (look, gray):
        picture.unlink()  # about 1.7 GB each for the 60 s film
    return walls[0], walls[1]


def bench(seconds: int, preset: str, crf: int, style: str, decompose: bool = False, repeat: int = 1) -> dict:
    source = make_source(seconds)
    frames = frame_count(source)
    ff_out, vb_out = WORK / f"ffmpeg_{seconds}s.mp4", WORK / f"vidbw_{seconds}s.mp4"
    pairs = []
    for _ in range(repeat):  # alternated, so that a slow spell of the machine hits both sides of a pair
        ff = timed([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-vf", "hue=s=0",
                    "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-c:a", "copy", str(ff_out)])
        vb = timed([*VIDBW, "convert", str(source), "-o", str(vb_out), "--overwrite", "--style", style,
                    "--preset", preset, "--crf", str(crf)])
        # vidbw's own summary line gives the conversion time without Python start-up and imports.
        match = re.search(r"in ([0-9.]+)s", vb.stderr)
        pairs.append((ff, vb, float(match.group(1)) if match else vb.wall))
    # The pair with the median ratio stands for the run; every pair's ratio is kept in the results.
    ff, vb, vb_convert = sorted(pairs, key=lambda p: p[0].wall / p[1].wall)[len(pairs) // 2]
    ff_wall, vb_wall = ff.wall, vb.wall
    row = {
        "seconds": seconds, "frames": frames, "preset": preset, "crf": crf, "style": style,
        "ffmpeg_fps": frames / ff_wall, "vidbw_fps": frames / vb_wall, "vidbw_fps_steady": frames / vb_convert,
        "ratio": ff_wall / vb_wall, "ratio_steady": ff_wall / vb_convert,
        "ffmpeg_peak_rss_mib": ff.rss_mib, "vidbw_peak_rss_mib": vb.rss_mib,
        "ffmpeg_mib": ff_out.stat().st_size / 2**20, "vidbw_mib": vb_out.stat().st_size / 2**20,
        "ratios": [round(f.wall / v.wall, 3) for f, v, _ in pairs],
        # CPU seconds of each side, every pair: what a change to vidbw's work moves even when the
        # machine's speed drifts more than the change between minutes.
        "ffmpeg_cpu_seconds": [round(f.cpu, 1) for f, _, _ in pairs],
        "vidbw_cpu_seconds": [round(v.cpu, 1) for _, v, _ in pairs],
    }
    if decompose:
        from vidbw.styles import get_style

        shots_out = WORK / f"shots_{seconds}s.json"
        analysis = [*VIDBW, "shots", str(source), "--style", style, "-o", str(shots_out), "--overwrite"]
        constant = get_style(style).is_constant
        analysis_wall = 0.0 if constant else timed(analysis)[0]
        free_grids_wall = vb_convert if constant else render_with_free_grids(source, style, preset, crf)
        look_wall, gray_wall = x264_on_look_and_gray(source, style, preset, crf)
        row.update({"analysis_seconds": analysis_wall, "x264_on_look_seconds": look_wall, "x264_on_gray_seconds": gray_wall,
                    "free_grids_render_seconds": free_grids_wall, "ratio_free_grids": ff_wall / free_grids_wall,
                    "ratio_bound_x264_on_look": ff_wall / (ff_wall + look_wall - gray_wall), "ffmpeg_seconds": ff_wall,
                    "vidbw_seconds": vb_wall, "vidbw_convert_seconds": vb_convert})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--style", default="neutral")
    parser.add_argument("--decompose", action="store_true",
                        help="also time the analysis pass alone, x264 alone on the look's picture and the render with its grids free")
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate ffmpeg and vidbw this many times and report the pair with the median ratio")
    args = parser.parse_args()
    rows = [bench(s, args.preset, args.crf, args.style, args.decompose, args.repeat) for s in args.seconds]
    print(f"{'clip':>6} {'frames':>6} {'ffmpeg fps':>10} {'vidbw fps':>9} {'steady':>7} {'ratio':>6} {'steady':>7} "
          f"{'ffmpeg RSS':>10} {'vidbw RSS':>9}")
    for r in rows:
        print(f"{r['seconds']:>5}s {r['frames']:>6} {r['ffmpeg_fps']:>10.1f} {r['vidbw_fps']:>9.1f} {r['vidbw_fps_steady']:>7.1f} "
              f"{r['ratio']:>6.2f} {r['ratio_steady']:>7.2f} {r['ffmpeg_peak_rss_mib']:>8} MiB {r['vidbw_peak_rss_mib']:>5} MiB"
              + (f"  (ratios of the {len(r['ratios'])} pairs: {', '.join(f'{x:.2f}' for x in r['ratios'])})" if len(r["ratios"]) > 1 else ""))
    print(f"(1080p H.264, x264 preset {args.preset} crf {args.crf}, style {args.style}; ratio = vidbw fps / ffmpeg fps, "
          "'steady' excludes vidbw's Python start-up)")
    for r in rows:
        print(f"{r['seconds']}s CPU seconds (user + system), each pair: ffmpeg {', '.join(map(str, r['ffmpeg_cpu_seconds']))}; "
              f"vidbw {', '.join(map(str, r['vidbw_cpu_seconds']))}")
    for r in rows if args.decompose else []:
        print(f"{r['seconds']}s decomposed: ffmpeg {r['ffmpeg_seconds']:.1f} s ({r['ffmpeg_mib']:.1f} MiB); vidbw "
              f"{r['vidbw_seconds']:.1f} s ({r['vidbw_mib']:.1f} MiB), of which converting {r['vidbw_convert_seconds']:.1f} s; "
              f"a separate analysis pass (jobs, vidbw shots) {r['analysis_seconds']:.1f} s; x264 alone on the look's picture "
              f"{r['x264_on_look_seconds']:.1f} s, on ffmpeg's gray {r['x264_on_gray_seconds']:.1f} s (both from FFV1) -> "
              f"no renderer of this look can pass ratio "
              f"{r['ratio_bound_x264_on_look']:.2f} with these encoder settings; the render pass with the "
              f"grids free (one frozen grid, no analysis) {r['free_grids_render_seconds']:.1f} s -> ratio "
              f"{r['ratio_free_grids']:.2f}")
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
