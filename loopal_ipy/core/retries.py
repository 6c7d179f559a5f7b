"""Retries (docs/running.md): a failed run is tried again after S, 2S, 4S … seconds, up to N times.

Never past the next regular occurrence: a retry that would come at or after it is not
made (that occurrence runs instead, and the failure stands), and one that comes due
together with it gives way. A run stopped from outside (an interrupt, which pauses the job; the
kernel's restart or SIGTERM, which end the kernel) is never retried: only its own failure or timeout is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .job import CronJob, Run


def plan(job: CronJob, run: Run, now: datetime) -> datetime | None:
    """After ``run`` ended: when its retry comes (and the job now waits for it), or None (done)."""
    if run.status == "error" and run.stopped in (None, "timeout") and job.attempt < job.retries and not job.paused:
        at = now + timedelta(seconds=job.retry_delay * 2**job.attempt)
        if job.next_fire is None or at < job.next_fire:
            job.attempt += 1
            job.retry_at, job.retry_for = at, run.occurrence
            return at
    clear(job)
    return None


def clear(job: CronJob) -> None:
    """No retry waits (the run succeeded, was the last attempt, or the job was paused or deleted)."""
    job.attempt, job.retry_at, job.retry_for = 0, None, None


def due(job: CronJob, now: datetime) -> bool:
    """A retry of ``job`` is due now."""
    return job.retry_at is not None and job.retry_at <= now and not job.paused


def label(job: CronJob) -> str:
    """How the run is marked in the log: 'retry 1 of 3'."""
    return f"retry {job.attempt} of {job.retries}"


def final(job: CronJob) -> bool:
    """No retry waits: a failure now is the occurrence's last word (hooks, alerts)."""
    return job.retry_at is None
