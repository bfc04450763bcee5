"""The job folder: the plan, each segment's state, the intermediates, and a lock.

    JOBDIR/job.json            the plan (source fingerprint, settings, segments); written once
    JOBDIR/state.json          per segment: pending | done (+ frames, sha256, bytes, attempts)
    JOBDIR/timestamps.json     every frame's pts (workers number frames from it)
    JOBDIR/shots.json          the resolved shot list (per-shot style and proxy), when there is one
    JOBDIR/segments/seg-NNNNN.<ext>   intermediates (video only, final codec settings)
    JOBDIR/lock                held (flock) while a run uses the folder

Only the coordinating process writes job.json and state.json, always through a temp file, fsync and
rename, so a kill or a full disk leaves the previous state whole. A segment counts as done only
when its intermediate exists with the recorded checksum; anything else is rendered again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from pathlib import Path

from vidbw.errors import OutputError, VidbwError
from vidbw.io.atomic import TEMP_MARKER, describe_os_error, write_json_atomic
from vidbw.jobs.plan import JobPlan, Segment

PENDING, DONE = "pending", "done"


class JobMismatch(VidbwError):
    """The job folder was planned for another input or other settings."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class JobDir:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.plan_path = self.root / "job.json"
        self.state_path = self.root / "state.json"
        self.timestamps_path = self.root / "timestamps.json"
        self.shots_path = self.root / "shots.json"
        self.segments_dir = self.root / "segments"
        self._lock_fd: int | None = None
        self.plan: JobPlan | None = None
        self.state: dict = {}

    # ----------------------------------------------------------------- life cycle

    def exists(self) -> bool:
        return self.plan_path.is_file()

    def create(self, plan: JobPlan, timestamps: list[int], shots_json: str | None = None) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.segments_dir.mkdir(exist_ok=True)
            self.lock()
            write_json_atomic(self.timestamps_path, timestamps)
            if shots_json is not None:
                write_json_atomic(self.shots_path, json.loads(shots_json))
            self.plan = plan
            self.state = {"segments": {str(s.index): {"state": PENDING, "attempts": 0} for s in plan.segments}}
            write_json_atomic(self.state_path, self.state)
            write_json_atomic(self.plan_path, plan.to_json())  # last: a folder with job.json is complete
        except OSError as exc:
            raise OutputError(f"cannot create job folder {self.root}: {describe_os_error(exc)}") from None

    def load(self) -> JobPlan:
        try:
            self.plan = JobPlan.from_json(json.loads(self.plan_path.read_text(encoding="utf-8")))
            self.state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobMismatch(f"not a vidbw job folder (no job.json/state.json): {self.root}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JobMismatch(f"job folder {self.root} is unreadable or damaged: {exc}") from None
        self.segments_dir.mkdir(exist_ok=True)
        return self.plan

    def shots_json(self) -> str | None:
        """The resolved shot list the job renders with (per-shot styles and proxies), if any."""
        if not self.shots_path.is_file():
            return None
        return self.shots_path.read_text(encoding="utf-8")

    def timestamps(self) -> list[int]:
        return json.loads(self.timestamps_path.read_text(encoding="utf-8"))

    def lock(self) -> None:
        """Hold the folder for this run; a second run on it fails instead of racing."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputError(f"job folder is in use by another vidbw run: {self.root}") from None
            raise
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def clean_partials(self) -> int:
        """Remove half-written intermediates left by a killed run (call with the lock held)."""
        removed = 0
        for p in self.segments_dir.iterdir():
            if TEMP_MARKER in p.name:
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    # ----------------------------------------------------------------- segments

    def segment_path(self, segment: Segment) -> Path:
        assert self.plan is not None  # segments come from the plan: create() or load() has set it
        return self.segments_dir / f"{segment.name}{self.plan.suffix}"

    def entry(self, segment: Segment) -> dict:
        return self.state["segments"].setdefault(str(segment.index), {"state": PENDING, "attempts": 0})

    def is_done(self, segment: Segment, verify: bool = True) -> bool:
        entry = self.entry(segment)
        if entry.get("state") != DONE:
            return False
        path = self.segment_path(segment)
        if not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return False
        return not verify or file_sha256(path) == entry.get("sha256")

    def mark_done(self, segment: Segment, frames: int, sha256: str, size: int, seconds: float) -> None:
        entry = self.entry(segment)
        entry.update(state=DONE, frames=frames, sha256=sha256, bytes=size, seconds=round(seconds, 3))
        self.save_state()

    def mark_pending(self, segment: Segment) -> None:
        entry = self.entry(segment)
        if entry.get("state") != PENDING:
            entry.update(state=PENDING)
            for key in ("frames", "sha256", "bytes", "seconds"):
                entry.pop(key, None)
            self.save_state()

    def count_attempt(self, segment: Segment, error: str | None = None) -> int:
        entry = self.entry(segment)
        entry["attempts"] = entry.get("attempts", 0) + 1
        if error:
            entry["last_error"] = error
        self.save_state()
        return entry["attempts"]

    def save_state(self) -> None:
        write_json_atomic(self.state_path, self.state)

    def summary(self) -> dict:
        states = [e.get("state") for e in self.state["segments"].values()]
        return {"segments": len(states), "done": states.count(DONE), "pending": len(states) - states.count(DONE)}
