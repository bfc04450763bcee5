"""Engines that render a job's pending segments: in this process, in a pool of local processes, or
as Ray tasks. Every engine reports to the coordinator (which alone writes the job folder):

    on_start(index)              a worker began the segment
    on_progress(index, frames)   frames of the segment rendered so far (throttled)
    on_done(SegmentDone)         the intermediate is complete (written, or returned as bytes)

and raises on the first failure that a retry cannot fix. A worker that dies mid-segment (killed,
out of memory, crashed) has its segment retried up to `max_retries` times; finished segments are
never touched again because their intermediates were published atomically.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from vidbw.errors import VidbwError
from vidbw.jobs.worker import ENCODER_THREADS_ENV, SegmentDone, SegmentTask, render_task, warm_up

PROGRESS_INTERVAL = 0.25  # seconds between a worker's progress messages
RAY_INSTALL_HINT = "the ray engine needs Ray: pip install 'vidbw[ray]'"


class Callbacks:
    def __init__(
        self,
        on_start: Callable[[int], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        on_done: Callable[[SegmentDone], None] | None = None,
    ):
        self.on_start = on_start or (lambda index: None)
        self.on_progress = on_progress or (lambda index, frames: None)
        self.on_done = on_done or (lambda done: None)


class WorkerDied(VidbwError):
    """A segment's worker died more often than the retries allow."""


def _throttled(send: Callable[[tuple], None]) -> Callable[[int, int], None]:
    last = [0.0]

    def progress(index: int, frames: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            send((index, frames))

    return progress


# --------------------------------------------------------------------------- in this process


def run_serial(tasks: list[SegmentTask], callbacks: Callbacks, max_retries: int = 0) -> None:
    for task in tasks:
        callbacks.on_start(task.index)
        callbacks.on_done(render_task(task, callbacks.on_progress))


# --------------------------------------------------------------------------- local processes


def share_cores(workers: int) -> None:
    """Give this worker process its share of the cores for its thread pools (numba kernels, torch),
    as Ray does for its workers, so N workers do not each start a pool as wide as the machine.
    Variables the user has set are left alone. Call before numba or torch is imported."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", ENCODER_THREADS_ENV):
        os.environ.setdefault(name, threads)


def _pool_init(settings_json: str, progress_queue, workers: int = 1) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides what an interrupt means
    share_cores(workers)
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    warm_up(settings_json)  # load the style/model once per process


_PROGRESS_QUEUE: Any = None  # a multiprocessing.Manager queue proxy, set by _pool_init


def _pool_render(task: SegmentTask) -> SegmentDone:
    q = _PROGRESS_QUEUE
    q.put(("start", task.index, os.getpid()))
    send = _throttled(lambda item: q.put(("progress", *item)))
    return render_task(task, send)


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)


def run_processes(tasks: list[SegmentTask], callbacks: Callbacks, workers: int, max_retries: int = 2) -> None:
    """Render in `workers` spawned processes; a broken pool (a worker died) is replaced and the
    segments that were in flight are retried, each at most `max_retries` times."""
    if not tasks:
        return
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    progress_queue = manager.Queue()
    pending = {t.index: t for t in tasks}
    retries = {t.index: 0 for t in tasks}
    try:
        while pending:
            started: dict[int, int] = {}  # segment -> pid of the worker that took it
            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(pending)),
                mp_context=ctx,
                initializer=_pool_init,
                initargs=(tasks[0].settings_json, progress_queue, workers),
            )
            broken = False
            try:
                futures = {pool.submit(_pool_render, t): t.index for t in pending.values()}
                processes = dict(getattr(pool, "_processes", None) or {})
                while futures:
                    done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    processes.update(getattr(pool, "_processes", None) or {})
                    _drain(progress_queue, callbacks, started)
                    for future in done:
                        index = futures.pop(future)
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        callbacks.on_done(result)
                        pending.pop(index, None)
                    if broken:
                        break
            except BaseException:
                _terminate(pool)
                raise
            if broken:
                _drain(progress_queue, callbacks, started)
                _terminate(pool)
                # Blame the segments whose worker died by itself; the pool stops the other workers
                # with SIGTERM when it breaks, and their segments are simply submitted again.
                crashed = {pid for pid, p in processes.items() if p.exitcode not in (None, 0, -signal.SIGTERM)}
                in_flight = [i for i in pending if started.get(i) in crashed]
                if not in_flight:
                    in_flight = [i for i in pending if i in started] or list(pending)
                for index in in_flight:
                    retries[index] += 1
                    if retries[index] > max_retries:
                        raise WorkerDied(
                            f"segment {index}: its worker died {retries[index]} times (last try of "
                            f"{max_retries + 1}); the job folder keeps the finished segments"
                        )
            else:
                pool.shutdown(wait=True)
    finally:
        manager.shutdown()


def _drain(progress_queue, callbacks: Callbacks, started: dict[int, int]) -> None:
    while True:
        try:
            kind, index, value = progress_queue.get_nowait()
        except (queue_mod.Empty, EOFError, OSError):
            return
        if kind == "start":
            started[index] = value
            callbacks.on_start(index)
        else:
            callbacks.on_progress(index, value)


# --------------------------------------------------------------------------- Ray


def import_ray():
    try:
        import ray
    except ImportError:
        raise VidbwError(RAY_INSTALL_HINT) from None
    return ray


def running_cluster_address() -> str | None:
    """The Ray cluster that `ray.init()` without an address would join: RAY_ADDRESS, or the cluster
    that `ray start` last started on this machine, if its GCS is still running. None: there is none
    (a private local cluster is started). Other processes' private clusters (another job's
    `ray.init()`) are never joined: they stop when their driver does."""
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        return None if env == "local" else env
    try:  # the file `ray start` writes, and the GCS servers running here (Ray's own lookup for address=None)
        from ray._private.services import find_gcs_addresses
        from ray._private.utils import read_ray_address

        recorded = read_ray_address()
        if not recorded:
            return None
        # Not in every Ray (2.60 caches a helper instead): there the AttributeError falls to the except below.
        find_gcs_addresses.cache_clear()  # type: ignore[attr-defined]
        port = recorded.rsplit(":", 1)[-1]
        return recorded if any(str(a).rsplit(":", 1)[-1] == port for a in find_gcs_addresses()) else None
    except Exception:  # another Ray version: behave as if none runs (start a private one)
        return None


class RayCluster:
    """Ray for one job, started in the background so the coordinator plans (scans the film,
    resolves the shot list) while Ray comes up, and the workers import vidbw and load the style
    meanwhile (a warm-up task each). Joins a running cluster (`address`, RAY_ADDRESS, or the one
    `ray start` left on this machine); otherwise starts a private local cluster of `workers` CPUs,
    without dashboard, and stops it in `close` (in the background while the join runs).

    One thread starts Ray and later stops it: the processes a local cluster starts are tied to the
    thread that started them (PR_SET_PDEATHSIG) and die with it, so it lives until close()."""

    def __init__(self, workers: int, address: str | None = None, settings_json: str | None = None):
        self.ray: Any = None  # the ray module, imported by the thread too (half a second)
        self.workers = max(1, int(workers))
        self.address = address
        self.settings_json = settings_json
        self.started_here = False  # a private local cluster, stopped by close()
        self.joined: str | None = None  # the address of a running cluster this job joined
        self.init_seconds = 0.0
        self.shutdown_seconds = 0.0
        self.progress: Any = None  # the progress actor (a Ray actor handle), created with the cluster
        self._warm: list = []
        self._error: BaseException | None = None
        self._up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._life, name="vidbw-ray", daemon=True)
        self._thread.start()

    def _life(self) -> None:
        try:
            self._start()
        except BaseException as exc:  # raised to the coordinator by ready()
            self._error = exc
        finally:
            self._up.set()
        self._stop.wait()
        self._warm = []
        self.progress = None
        if self.ray is not None and (self.started_here or self.joined):
            started = time.perf_counter()
            try:
                self.ray.shutdown()
            except Exception:
                pass
            self.shutdown_seconds = time.perf_counter() - started

    def _start(self) -> None:
        started = time.perf_counter()
        ray = self.ray = import_ray()
        if not ray.is_initialized():  # else: the caller's own Ray session, used as it is
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address not in (None, "local"):
                kwargs["address"] = self.joined = self.address
            elif self.address is None and (found := running_cluster_address()) is not None:
                # ray.init() without an address joins it itself (and, for the cluster `ray start`
                # recorded, turns on token authentication when ~/.ray/auth_token exists).
                self.joined = found
            else:  # "local": a new cluster even where RAY_ADDRESS names another
                kwargs.update(address="local", num_cpus=self.workers)
                self.started_here = True
            _quiet_ray_init(ray, kwargs)
        self.init_seconds = time.perf_counter() - started
        if self.settings_json is not None:  # first, so they get the worker processes Ray started with it
            warm = ray.remote(**_ray_resources(self.settings_json), max_retries=0)(_ray_warm_up)
            self._warm = [warm.remote(self.settings_json) for _ in range(self._warm_count())]
        self.progress = _progress_actor(ray).remote()  # an actor gets a process of its own

    def _warm_count(self) -> int:
        """One warm-up per worker the job will use: `workers`, at most the cluster's CPUs (GPUs)."""
        assert self.settings_json is not None  # only warm-ups are counted, and they need the settings
        key = "GPU" if _ray_resources(self.settings_json)["num_gpus"] else "CPU"
        return min(self.workers, int(self.ray.cluster_resources().get(key, 0)))

    def ready(self):
        """Wait until Ray is up; returns the ray module (raises what starting it raised)."""
        self._up.wait()
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, VidbwError) or not isinstance(error, Exception):
                raise error
            first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
            raise VidbwError(f"cannot start Ray ({self.address or 'a local cluster'}): {first}") from None
        return self.ray

    def describe(self) -> str:
        cpus = ""
        try:
            cpus = f" ({int(self.ray.cluster_resources().get('CPU', 0))} CPUs)"
        except Exception:
            pass
        if self.started_here:
            return f"Ray: started a local cluster{cpus} in {self.init_seconds:.1f}s"
        if self.joined:
            return f"Ray: joined the running cluster at {self.joined}{cpus}"
        return f"Ray: used this process's Ray session{cpus}"

    def close(self, wait: bool = True) -> None:
        """Stop a cluster started here (a joined one is only disconnected from). With wait=False the
        stop runs in the background (call close() again to wait for it)."""
        self._stop.set()
        if wait:
            self._thread.join()


def _quiet_ray_init(ray, kwargs: dict) -> None:
    """ray.init, without its warning that a SIGTERM handler is only set from the main thread (the
    coordinator keeps its own signal handling; Ray's reaper stops the cluster if we die)."""
    import logging

    _free_pyav_scalers()
    log = logging.getLogger("ray._private.worker")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        ray.init(**kwargs)
    finally:
        log.setLevel(level)


def _free_pyav_scalers() -> None:
    """Free the swscale context PyAV keeps for each thread that converted a frame, in every thread.

    Ray starts its processes with a preexec_fn, so the forked child runs Python and frees the other
    threads' thread-locals; freeing a multi-threaded SwsContext there waits forever on slice
    threads the child does not have. Freed here, in the parent, they are simply rebuilt on next use."""
    import av.video.frame

    if hasattr(av.video.frame, "_thread_local"):  # PyAV >= 18.1.1
        av.video.frame._thread_local = threading.local()


def _ray_resources(settings_json: str) -> dict:
    gpus = 1 if json.loads(settings_json).get("device", "cpu").startswith("cuda") else 0
    return {"num_cpus": 1, "num_gpus": gpus}


def _ray_share_cores() -> None:
    """In a Ray worker: the numba pool and the encoder take the task's CPUs, which Ray passes in
    OMP_NUM_THREADS (numba would otherwise start a thread per core of the node in every worker).
    Variables the user set are left alone."""
    threads = os.environ.get("OMP_NUM_THREADS") or "1"
    os.environ.setdefault(ENCODER_THREADS_ENV, threads)
    if "numba" in sys.modules:
        # Too late for the variable: numba refuses a changed NUMBA_NUM_THREADS once it has read it.
        # Narrow the running pool instead (for this thread, the one that renders).
        import numba

        # numba.config sets its options at run time, so the checker does not see them
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    else:
        os.environ.setdefault("NUMBA_NUM_THREADS", threads)


def _ray_warm_up(settings_json: str) -> int:
    _ray_share_cores()
    return warm_up(settings_json)


def run_ray(
    tasks: list[SegmentTask],
    callbacks: Callbacks,
    workers: int,
    address: str | None = None,
    max_retries: int = 2,
    timestamps: list[int] | None = None,
    cluster: RayCluster | None = None,
) -> None:
    """Render as Ray tasks (a local cluster of `workers` CPUs when no address and no running
    cluster). Ray retries a task whose worker process dies; each worker process keeps the
    style/model loaded between tasks. A `cluster` already started (RayCluster) is used and left
    open; otherwise one is started and stopped here."""
    if not tasks:
        return
    own = cluster is None
    if cluster is None:  # i.e. own
        cluster = RayCluster(workers, address, tasks[0].settings_json)
    try:
        ray = cluster.ready()
        _run_ray_tasks(ray, tasks, callbacks, max_retries, timestamps, cluster.progress)
    finally:
        if own:
            cluster.close()


def _run_ray_tasks(
    ray, tasks, callbacks: Callbacks, max_retries: int, timestamps: list[int] | None, progress=None
) -> None:
    resources = _ray_resources(tasks[0].settings_json)
    if resources["num_gpus"] and not ray.cluster_resources().get("GPU"):
        raise VidbwError(
            "`device` cuda with `engine` ray needs GPU workers, and this Ray cluster has no GPU",
            param="device",
            mentions=("engine",),
        )
    if progress is None:
        progress = _progress_actor(ray).remote()
    render = ray.remote(**resources, max_retries=max_retries, retry_exceptions=False)(_ray_render)
    # The pts table travels through the object store once, so workers need not see the job folder.
    timestamps_ref = ray.put(timestamps) if timestamps is not None else None
    refs = {render.remote(t, progress, timestamps_ref): t for t in tasks}
    seen: dict[int, int] = {}
    starts: dict[int, int] = {}

    def poll() -> None:
        for index, (count, frames) in ray.get(progress.snapshot.remote()).items():
            while starts.get(index, 0) < count:  # a retried task starts again
                starts[index] = starts.get(index, 0) + 1
                callbacks.on_start(index)
            if frames != seen.get(index):
                seen[index] = frames
                callbacks.on_progress(index, frames)

    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.25)
            poll()
            for ref in ready:
                task = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, VidbwError):
                        raise cause from None
                    raise VidbwError(f"segment {task.index} failed: {cause or exc}") from None
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                    raise WorkerDied(
                        f"segment {task.index}: its worker died {max_retries + 1} times; "
                        f"the job folder keeps the finished segments ({exc.__class__.__name__})"
                    ) from None
                if result.data is not None:
                    _write_returned(task, result)
                callbacks.on_done(result)
        poll()  # the last starts and retries
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise


def _write_returned(task: SegmentTask, result: SegmentDone) -> None:
    """Publish an intermediate that a worker without access to the job folder sent back."""
    from pathlib import Path

    from vidbw.io.atomic import atomic_output

    assert result.data is not None  # called only for a result that carries its data
    with atomic_output(Path(task.output), overwrite=True) as temp:
        Path(temp).write_bytes(result.data)
    result.data = None


def _ray_render(task: SegmentTask, progress_actor, timestamps: list[int] | None = None) -> SegmentDone:
    """One segment in a Ray worker. Writes into the job folder when this node sees it (shared
    storage); otherwise renders to local scratch and returns the bytes through the object store."""
    import tempfile
    from pathlib import Path

    _ray_share_cores()
    progress_actor.start.remote(task.index)
    send = _throttled(lambda item: progress_actor.update.remote(*item))
    out = Path(task.output)
    if out.parent.is_dir():
        return render_task(task, send, timestamps=timestamps)
    with tempfile.TemporaryDirectory(prefix="vidbw-seg-") as scratch:
        local = Path(scratch) / out.name
        result = render_task(task, send, output_override=str(local), timestamps=timestamps)
        result.data = local.read_bytes()
        return result


_PROGRESS_ACTOR = None


def _progress_actor(ray):
    global _PROGRESS_ACTOR
    if _PROGRESS_ACTOR is None:

        @ray.remote(num_cpus=0)
        class Progress:
            def __init__(self):
                self.frames = {}
                self.starts = {}

            def start(self, index):
                self.starts[index] = self.starts.get(index, 0) + 1
                self.frames[index] = 0

            def update(self, index, frames):
                self.frames[index] = frames

            def snapshot(self):
                return {i: (self.starts.get(i, 0), f) for i, f in self.frames.items()}

        _PROGRESS_ACTOR = Progress
    return _PROGRESS_ACTOR
