"""Plan, resume and run a chunked conversion, then join the segments into the output."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidbw.errors import InputError, OptionError, OutputError, VidbwError
from vidbw.io.atomic import check_output_path, describe_os_error
from vidbw.io.encode import EncodeSettings, plan_encode
from vidbw.io.probe import describe_video, is_image_path, open_input
from vidbw.io.sequence import current_rate
from vidbw.jobs.concat import concat_segments
from vidbw.jobs.executors import Callbacks, RayCluster, import_ray, run_processes, run_ray, run_serial
from vidbw.jobs.plan import (
    DEFAULT_CONTEXT,
    JobPlan,
    SourceFingerprint,
    load_cuts,
    plan_segments,
    scan_frames,
    segment_length,
)
from vidbw.jobs.state import JobDir, JobMismatch, file_sha256
from vidbw.jobs.worker import SegmentDone, SegmentTask
from vidbw.restore import Restoration
from vidbw.temporal import MODES

ENGINES = ("local", "ray")


@dataclass
class JobResult:
    output: Path
    job_dir: Path
    frames: int = 0
    seconds: float = 0.0
    segments: int = 0
    rendered: int = 0  # segments rendered by this run
    reused: int = 0  # segments already done in the job folder (a resumed job)
    retried: int = 0  # segment attempts repeated after a worker died
    frames_rendered: int = 0
    segment_seconds: list[float] = field(default_factory=list)  # this run's time per rendered segment
    notes: list[str] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)  # per shot: style and proxy, or key frame (as planned)

    @property
    def fps(self) -> float:
        return self.frames_rendered / self.seconds if self.seconds > 0 else 0.0


def job_settings(
    style: str = "neutral",
    grain: float = 0.0,
    grain_size: float = 1.0,
    grain_seed: int = 0,
    toning: str | None = None,
    temporal: str | None = "light",
    encode: EncodeSettings | None = None,
    device: str = "cpu",
    context: int = DEFAULT_CONTEXT,
    shots_sha256: str | None = None,
    colorize: bool = False,
    reference: str | os.PathLike | None = None,
    sequence_fps: Fraction | None = None,
    restore: Restoration | None = None,
) -> dict:
    """Everything that decides the output's pictures and encoding (a job folder must match it).

    With `colorize` the look is the key frames (`reference`, a file or a folder, by path and content)
    instead of a style; `temporal` None then lets the job pick it as a single pass does.
    `sequence_fps`, for an image sequence, is the rate its workers read it at (see vidbw.io.sequence).
    `restore`: the restoration parts run before the look; a segment then decodes their reach more.
    """
    if not isinstance(style, str):
        raise OptionError("chunked jobs take a style by name (workers load it themselves)")
    encode = encode or EncodeSettings()
    # Never less context than the temporal smoother looks back and ahead (the widest, when the job picks).
    reach = MODES[temporal][1] if temporal in MODES else max(radius for _, radius in MODES.values())
    if colorize:
        look: dict[str, Any] = {
            "colorize": True,
            "reference": None if reference is None else str(Path(reference).resolve()),
            "reference_sha256": None if reference is None else _reference_sha256(Path(reference)),
        }
    else:
        look = {
            "style": style,
            "grain": float(grain),
            "grain_size": float(grain_size),
            "grain_seed": int(grain_seed),
            "toning": toning if toning not in ("none", "") else None,
        }
    settings: dict[str, Any] = {
        "look": look,
        "temporal": temporal,
        "encode": {
            "codec": encode.codec,
            "crf": encode.crf,
            "preset": encode.preset,
            "pix_fmt": encode.pix_fmt,
            "bit_depth": encode.bit_depth,
        },
        "device": device,
        # Restored frames feed the smoother, and each is restored from its own neighbours: the two add.
        "context": max(int(context), int(reach)) + (restore.reach if restore is not None else 0),
        "shots_sha256": shots_sha256,  # the --shots file as given (None: none, or detected by the job)
    }
    if sequence_fps is not None:  # only then: job folders of film files keep the settings they were planned with
        settings["sequence_fps"] = str(sequence_fps)
    if restore is not None and restore.parts:  # likewise
        settings["restore"] = list(restore.parts)
    return settings


def _shots_sha256(shots_file: Path, colorize: bool) -> str:
    """A --shots file as given; when colorizing, with the content of the key frames it names."""
    digest = hashlib.sha256(shots_file.read_bytes())
    if colorize:
        from vidbw.shots import read_shots

        for shot in read_shots(shots_file).shots:
            for key in shot.key_frames(shots_file):
                digest.update(_reference_sha256(Path(key.path)).encode())
    return digest.hexdigest()


def _reference_sha256(reference: Path) -> str:
    """The key frames' content: one image, or every file of a key-frame folder by name."""
    if not reference.exists():
        raise InputError(f"reference not found: {reference}")
    if reference.is_file():
        return file_sha256(reference)
    digest = hashlib.sha256()
    for path in sorted(p for p in reference.iterdir() if p.is_file()):
        digest.update(f"{path.name}\0{file_sha256(path)}\0".encode())
    return digest.hexdigest()


def _differences(planned: dict, wanted: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(planned) | set(wanted)):
        a, b = planned.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key} {a!r} vs {b!r}")
    return out


def default_job_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.vidbw-job"


def open_job(
    source: Path,
    output: Path,
    settings: dict,
    job_dir: Path,
    resume: bool,
    workers: int = 1,
    shots=None,
    segment_frames: int | None = None,
    detector: str = "adaptive",
    checked=None,
) -> tuple[JobDir, bool]:
    """Load the job in `job_dir` (checking it was planned for this input and these settings), or
    plan a new one there. Returns the job and whether it was resumed. `checked()` is called once
    the input and options have passed their checks, before the planning work (the demux scan and
    the shot analysis), so that slow set-up (Ray) can overlap the planning but not an early refusal."""
    job = JobDir(job_dir)
    try:
        return _open_job(
            job,
            source,
            output,
            settings,
            job_dir,
            resume,
            workers,
            shots,
            segment_frames,
            detector,
            checked or (lambda: None),
        )
    except BaseException:
        job.unlock()
        raise


def _open_job(
    job: JobDir,
    source: Path,
    output: Path,
    settings: dict,
    job_dir: Path,
    resume: bool,
    workers: int,
    shots,
    segment_frames,
    detector,
    checked,
) -> tuple[JobDir, bool]:
    fingerprint = SourceFingerprint.of(source)
    if job.exists():
        job.lock()
        plan = job.load()
        what = fingerprint.differences(plan.source)
        if what:
            raise JobMismatch(
                f"job folder {job_dir} was planned for another input ({plan.source.path}; "
                f"differs in {', '.join(what)}); use a new `job_dir`",
                mentions=("job_dir",),
            )
        diff = _differences(plan.settings, settings)
        if diff:
            raise JobMismatch(
                f"job folder {job_dir} was planned with other settings ({'; '.join(diff[:3])}); "
                "use the same options or a new `job_dir`",
                mentions=("job_dir",),
            )
        if plan.suffix != output.suffix.lower():
            raise JobMismatch(
                f"job folder {job_dir} renders {plan.suffix} segments, not {output.suffix}; "
                "use the same output container or a new `job_dir`",
                mentions=("job_dir",),
            )
        if not all(job.is_done(s, verify=False) for s in plan.segments):  # else only the join is left
            checked()
        return job, True
    if resume:
        raise JobMismatch(f"nothing to resume: no vidbw job in {job_dir}")
    with open_input(source) as container:
        info = describe_video(container, source)
        plan_encode(EncodeSettings(**settings["encode"]), info, output)  # bad options fail before any work
        fps = info.nominal_fps
    checked()
    timestamps, keyframes = scan_frames(source)
    resolved = _resolve_shots(source, settings, shots, detector)
    if info.interlaced:  # the segments' own notes are not kept: say it once, from the plan
        from vidbw.results import interlaced_note

        resolved.notes.append(interlaced_note(settings["look"].get("colorize", False)))
    length = segment_frames or segment_length(len(timestamps), fps, workers, settings["context"])
    segments = plan_segments(len(timestamps), length, keyframes, resolved.cuts)
    plan = JobPlan(
        fingerprint,
        settings,
        len(timestamps),
        segments,
        output.suffix.lower(),
        notes=resolved.notes,
        explain=resolved.explain,
    )
    job.create(plan, timestamps, resolved.shots_json)
    return job, False


@dataclass
class ResolvedShots:
    """What the planning decides once for every worker (see `_resolve_shots`)."""

    cuts: list[int] = field(default_factory=list)
    shots_json: str | None = None  # the shot list the workers render with; None: one constant look
    notes: list[str] = field(default_factory=list)  # for the user: colour input, interlacing
    explain: list[str] = field(default_factory=list)  # per shot: style and proxy, or key frame


def _resolve_shots(source: Path, settings: dict, shots, detector: str) -> ResolvedShots:
    """Cuts for the segment plan, and the shot list every worker renders with (styles and proxies
    per shot, or each shot's key frame when colorizing), resolved once here exactly as a single pass
    would (`style_plan.shot_render_plan`, `colorize.plan.colorize_render_plan`): a --shots file as edited,
    or the analysis pass."""
    from vidbw.jobs.worker import colorize_request_for, look_for
    from vidbw.results import explain_shots
    from vidbw.style_plan import shot_render_plan

    if shots is not None and not isinstance(shots, (str, os.PathLike)):
        return ResolvedShots(load_cuts(shots))  # bare cut positions: segment boundaries only
    shots_file = Path(shots) if shots is not None else None
    if settings["look"].get("colorize"):
        from vidbw.colorize.plan import colorize_render_plan, film_colour_notes

        _, shot_list, explain = colorize_render_plan(
            source, colorize_request_for(settings), settings["temporal"], shots_file, detector
        )
        return ResolvedShots(shot_list.cuts(), shot_list.to_json(), film_colour_notes(source), explain)
    _, shot_list = shot_render_plan(
        source, look_for(settings), settings["temporal"], shots_file, detector, cuts_needed="restore" in settings
    )
    if shot_list is None:
        return ResolvedShots()
    return ResolvedShots(shot_list.cuts(), shot_list.to_json(), explain=explain_shots(shot_list))


def run_job(
    source,
    output=None,
    *,
    job_dir=None,
    resume: bool = False,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    overwrite: bool = False,
    max_retries: int = 2,
    shots=None,
    segment_frames: int | None = None,
    keep_job: bool | None = None,
    progress=None,
    **look,
) -> JobResult:
    """Convert a film as a chunked, resumable job.

    `look` takes convert()'s look and encode keywords (style, grain, ..., temporal, encode, device,
    detector), or `colorize=True` with an optional `reference` (a key frame or a folder of them).
    `progress(done, total)` counts frames over the whole film, resumed segments included.
    A job folder given by the caller is kept after success (delete it when you are done); an
    automatic one (beside the output) is removed.
    """
    from vidbw.results import default_output_for, renders_film

    source = Path(source)
    if engine not in ENGINES:
        raise OptionError(f"unknown engine '{engine}' (use local or ray)")
    if workers < 1:
        raise OptionError("`workers` must be at least 1", param="workers")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        import_ray()  # fail early, with the install hint (Ray itself is imported in the background)
    if is_image_path(source):
        raise OptionError(
            "chunked jobs (`job_dir`, `resume`, `workers`, `engine`) are for films, not images",
            param="job_dir",
            mentions=("resume", "workers", "engine"),
        )
    output = Path(output) if output is not None else default_output_for(source)
    if source.is_dir() and not renders_film(source, output):
        raise OptionError(
            "a chunked job renders a film: give the image sequence's output file with -o (e.g. reel.mov); "
            "a folder of photographs is converted in one pass"
        )
    check_output_path(output, (source,), overwrite)
    if look.get("restore") is not None:
        from vidbw.pipeline import check_restorable

        check_restorable(source)
    device = look.pop("device", "cpu")
    detector = look.pop("detector", "adaptive")
    shots_file = Path(shots) if isinstance(shots, (str, os.PathLike)) else None
    shots_hash = _shots_sha256(shots_file, look.get("colorize", False)) if shots_file and shots_file.is_file() else None
    settings = job_settings(
        device="cpu" if device == "auto" else device,
        shots_sha256=shots_hash,
        sequence_fps=current_rate() if source.is_dir() else None,
        **look,
    )
    explicit = job_dir is not None
    job_dir = Path(job_dir) if explicit else default_job_dir(output)
    started = time.perf_counter()
    cluster: list[RayCluster] = []

    def start_ray() -> None:  # in the background, while the film is scanned and the shots resolved
        if engine == "ray":
            cluster.append(RayCluster(workers, address, json.dumps(settings, sort_keys=True)))

    try:
        job, resumed = open_job(
            source, output, settings, job_dir, resume, workers, shots, segment_frames, detector, checked=start_ray
        )
        try:
            result = _run(
                job,
                source,
                output,
                overwrite,
                workers,
                engine,
                address,
                max_retries,
                progress,
                started,
                keep=explicit if keep_job is None else keep_job,
                cluster=cluster[0] if cluster else None,
            )
        finally:
            job.unlock()
        for c in cluster:  # wait until a local Ray cluster has stopped: part of the job's time
            c.close()
        result.seconds = time.perf_counter() - started
        return result
    finally:
        for c in cluster:
            c.close()


def _run(
    job: JobDir,
    source: Path,
    output: Path,
    overwrite: bool,
    workers: int,
    engine: str,
    address,
    max_retries,
    progress,
    started,
    keep: bool,
    cluster: RayCluster | None = None,
) -> JobResult:
    plan = job.plan
    assert plan is not None  # open_job returns a job it loaded or created, plan included
    job.clean_partials()
    result = JobResult(output, job.root, segments=len(plan.segments), frames=plan.frame_count, explain=plan.explain)
    todo = []
    for segment in plan.segments:
        if job.is_done(segment):
            result.reused += 1
        else:
            job.mark_pending(segment)
            todo.append(segment)
    frames_before = sum(len(s.frames) for s in plan.segments) - sum(len(s.frames) for s in todo)
    live: dict[int, int] = {}
    attempts: dict[int, int] = {}

    def report() -> None:
        if progress:
            progress(frames_before + sum(live.values()), plan.frame_count)

    finished: set[int] = set()

    def on_start(index: int) -> None:
        attempts[index] = attempts.get(index, 0) + 1
        if attempts[index] > 1:
            result.retried += 1
        if index in finished:  # a start reported after the segment's result (Ray's progress is asynchronous)
            return
        live[index] = 0
        try:
            job.count_attempt(plan.segments[index])
        except OSError as exc:
            raise _state_error(job, exc) from None
        report()

    def on_progress(index: int, frames: int) -> None:
        if index in finished:
            return
        live[index] = frames
        report()

    def on_done(done: SegmentDone) -> None:
        segment = plan.segments[done.index]
        if done.frames != len(segment.frames):
            raise VidbwError(f"segment {done.index}: rendered {done.frames} of {len(segment.frames)} frames")
        try:
            job.mark_done(segment, done.frames, done.sha256, done.bytes, done.seconds)
        except OSError as exc:
            raise _state_error(job, exc) from None
        live[done.index] = done.frames
        finished.add(done.index)
        result.rendered += 1
        result.frames_rendered += done.frames
        result.segment_seconds.append(done.seconds)
        report()

    settings_json = json.dumps(plan.settings, sort_keys=True)
    shots_json = job.shots_json()
    tasks = [
        SegmentTask(
            s.index,
            s.start,
            s.stop,
            str(source.resolve()),
            str(job.segment_path(s)),
            settings_json,
            str(job.timestamps_path.resolve()),
            plan.settings["context"],
            shots_json,
        )
        for s in todo
    ]
    callbacks = Callbacks(on_start, on_progress, on_done)
    timestamps = job.timestamps()  # read once: sent to Ray's workers, and used by the join
    try:
        if engine == "ray":
            run_ray(tasks, callbacks, workers, address, max_retries, timestamps, cluster)
        elif workers > 1 and len(tasks) > 1:
            run_processes(tasks, callbacks, workers, max_retries)
        else:
            run_serial(tasks, callbacks)
    except OutputError as exc:
        raise OutputError(
            f"{exc}; the job folder keeps {job.summary()['done']} of {len(plan.segments)} finished "
            f"segments: fix it and run again with `resume` {job.root}",
            mentions=(*exc.params, "resume"),
        ) from None
    except OSError as exc:
        raise OutputError(
            f"cannot write segments: {describe_os_error(exc)}; fix it and run again with `resume` {job.root}",
            mentions=("resume",),
        ) from None
    missing = [s.index for s in plan.segments if not job.is_done(s, verify=False)]
    if missing:
        raise VidbwError(
            f"segments {missing[:5]} are not done; run again with `resume` {job.root}", mentions=("resume",)
        )
    result.notes.extend(plan.notes)  # what the planning found (colour input, interlacing), on every run
    if cluster is not None:
        if tasks:
            result.notes.append(cluster.describe())
        cluster.close(wait=False)  # a local cluster stops while the segments are joined
    result.notes.extend(
        concat_segments(
            source,
            [job.segment_path(s) for s in plan.segments],
            output,
            timestamps,
            [s.frames for s in plan.segments],
            overwrite,
        )
    )
    result.seconds = time.perf_counter() - started
    if not keep:
        job.unlock()
        shutil.rmtree(job.root, ignore_errors=True)
    return result


def _state_error(job: JobDir, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot update the job state in {job.root}: {describe_os_error(exc)}; the last saved state "
        f"is intact: fix it and run again with `resume` {job.root}",
        mentions=("resume",),
    )
