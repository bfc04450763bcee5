"""What a worker process does with one segment; shared by every engine.

A worker keeps the render plan (style, learned model) and the film's timestamp table in a
per-process cache, so a process that renders many segments loads them once.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidbw.jobs.state import file_sha256

# Test hook: "SEGMENT:FRAMES:MARKER" makes the worker rendering SEGMENT exit abruptly after FRAMES
# frames, once (MARKER is created so the retry survives). Simulates a crashed or killed worker.
CRASH_ENV = "VIDBW_JOBS_CRASH"


@dataclass(frozen=True)
class SegmentTask:
    index: int
    start: int
    stop: int
    source: str
    output: str  # the intermediate's final path
    settings_json: str  # the plan's settings (hashable, so the per-process cache can key on it)
    timestamps_path: str
    context: int
    shots_json: str | None = None  # the resolved shot list (styles and proxies per shot), if any


@dataclass
class SegmentDone:
    index: int
    frames: int
    sha256: str
    bytes: int
    seconds: float
    pid: int
    # builtins.bytes: in this class body `bytes` names the field above
    data: builtins.bytes | None = None  # the intermediate itself, when the worker cannot see the job folder


def look_for(settings: dict):
    from vidbw.render import Look

    look = settings["look"]
    return Look.named(look["style"], look["grain"], look["grain_size"], look["grain_seed"], look["toning"])


def colorize_request_for(settings: dict):
    from vidbw.colorize import ColorizeRequest

    return ColorizeRequest(settings["look"]["reference"])


@functools.lru_cache(maxsize=4)
def render_plan_for(settings_json: str, shots_json: str | None = None, source: str | None = None):
    """The RenderPlan for a settings record (and the job's resolved shot list), built once per
    process: loads the style's model, and the per-shot styles and proxies exactly as planned (or,
    when colorizing, each shot's key frame as resolved at planning, automatic where it has none)."""
    import tempfile

    from vidbw.render import RenderPlan

    s = json.loads(settings_json)
    colorize = s["look"].get("colorize", False)
    if shots_json is None:
        if colorize:  # warm-up only: a colorizing job always plans with its shot list
            from vidbw.models.colorizer import load_colorizer

            load_colorizer()
            return None
        return RenderPlan.single(look_for(s), s["temporal"])
    from vidbw.style_plan import shot_render_plan

    assert source is not None  # a shot list always comes with its source (render_task passes both)
    with tempfile.TemporaryDirectory(prefix="vidbw-shots-") as scratch:
        path = Path(scratch) / "shots.json"
        path.write_text(shots_json, encoding="utf-8")
        if colorize:
            from vidbw.colorize import ColorizeRequest
            from vidbw.colorize.plan import colorize_render_plan

            # The shot list names every key frame (absolute paths); the rest are automatic.
            plan, _, _ = colorize_render_plan(Path(source), ColorizeRequest(None), s["temporal"], path)
        else:
            plan, _ = shot_render_plan(Path(source), look_for(s), s["temporal"], path)
    return plan


def restoration_for(settings: dict):
    """The restoration a job's settings ask for, or None."""
    from vidbw.restore import Restoration

    return Restoration(tuple(settings["restore"])) if settings.get("restore") else None


@functools.lru_cache(maxsize=4)
def timestamps_for(path: str, _mtime_ns: int) -> list[int]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# Set by the executors to this worker's share of the cores, so N encoders do not each take them all.
ENCODER_THREADS_ENV = "VIDBW_ENCODER_THREADS"


def encode_settings_for(settings_json: str):
    from vidbw.io.encode import EncodeSettings

    threads = int(os.environ.get(ENCODER_THREADS_ENV, "0")) or None
    return EncodeSettings(**json.loads(settings_json)["encode"], threads=threads)


def _crash_hook(index: int):
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return None
    seg, after, marker = spec.split(":", 2)
    if int(seg) != index or os.path.exists(marker):
        return None

    def check(done: int, total: int) -> None:
        if done >= int(after):
            try:
                Path(marker).touch()
            except OSError:  # an uncreatable marker: die on every try
                pass
            os._exit(137)

    return check


def render_task(
    task: SegmentTask, progress=None, output_override: str | None = None, timestamps: list[int] | None = None
) -> SegmentDone:
    """Render one segment to its intermediate and return its frame count and checksum."""
    from vidbw.io.sequence import reading_rate
    from vidbw.pipeline import render_segment

    started = time.perf_counter()
    settings = json.loads(task.settings_json)
    crash = _crash_hook(task.index)

    def report(done: int, total: int) -> None:
        if crash:
            crash(done, total)
        if progress:
            progress(task.index, done)

    output = Path(output_override or task.output)
    # An image sequence is read at the rate the job was planned with (this may be another process).
    sequence_fps = settings.get("sequence_fps")
    with reading_rate(Fraction(sequence_fps) if sequence_fps else None):
        plan = render_plan_for(task.settings_json, task.shots_json, task.source if task.shots_json else None)
        encode = encode_settings_for(task.settings_json)
        if timestamps is None:
            timestamps = timestamps_for(task.timestamps_path, os.stat(task.timestamps_path).st_mtime_ns)
        result = render_segment(
            Path(task.source),
            output,
            plan,
            encode,
            range(task.start, task.stop),
            task.context,
            timestamps,
            settings.get("device", "cpu"),
            report,
            restoration_for(settings),
        )
    size = output.stat().st_size
    return SegmentDone(task.index, result.frames, file_sha256(output), size, time.perf_counter() - started, os.getpid())


def warm_up(settings_json: str) -> int:
    """Load the style/model in this process ahead of the first segment; returns the pid."""
    render_plan_for(settings_json)
    return os.getpid()
