"""Chunked, resumable conversions of whole films: shot-aligned segments rendered in parallel
(local processes or a Ray cluster), then joined with the source's audio and subtitles.

See docs/JOBS.md. Entry point: `run_job`.
"""

from vidbw.jobs.plan import JobPlan, Segment, plan_segments, scan_frames, segment_length
from vidbw.jobs.runner import JobResult, job_settings, run_job
from vidbw.jobs.state import JobDir, JobMismatch

__all__ = [
    "JobDir",
    "JobMismatch",
    "JobPlan",
    "JobResult",
    "Segment",
    "job_settings",
    "plan_segments",
    "run_job",
    "scan_frames",
    "segment_length",
]
