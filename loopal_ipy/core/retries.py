"""Retries (docs/running.md): a failed run is tried again after S, 2S, 4S … seconds, up to N times.

Never past the next regular occurrence: a retry that would come at or after it is not
made (that occurrence runs instead, and the failure stands), and one that comes due
together with it gives way. A run stopped from outside (an interrupt, which pauses the job; the
kernel's restart or SIGTERM, which end the kernel) is never retried: only its own failure or timeout is.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .job import CronJob, Run

_RETRY = re.compile(r"retry (\d+) of \d+")  # label(): how a retry's run is marked


def _earned(job: CronJob, run: Run, done: int) -> datetime | None:
    """When the retry after ``run``, the job's ``done``-th retry (0: its first attempt), comes; None if it
    earns none. The one rule, for a run that just ended and for one a reload or a restart finds."""
    if run.status != "error" or run.stopped not in (None, "timeout") or done >= job.retries or job.paused:
        return None
    at = run.started_at + timedelta(seconds=run.duration + job.retry_delay * 2**done)
    return at if job.next_fire is None or at < job.next_fire else None


def plan(job: CronJob, run: Run) -> datetime | None:
    """After ``run`` ended: when its retry comes (and the job now waits for it), or None (done)."""
    at = _earned(job, run, job.attempt)
    if at is None:
        clear(job)
    else:
        job.attempt, job.retry_at, job.retry_for = job.attempt + 1, at, run.occurrence
    return at


def restore(job: CronJob, now: datetime) -> None:
    """The retry that waited when the job's kernel stopped or the extension reloaded, worked out again from
    its newest run (a waiting retry is not saved: the run and the policy say it all). None if an occurrence
    of the job passed meanwhile: that occurrence is its next start (docs/running.md)."""
    run = job.last_run
    if run is None or run.trigger == "run-now" or job.retry_at is not None:
        return
    if job.next_fire is None or job.next_fire <= now:
        return
    done = int(m.group(1)) if (m := _RETRY.fullmatch(run.trigger)) else 0  # this run was retry `done`
    if (at := _earned(job, run, done)) is not None:
        job.attempt, job.retry_at, job.retry_for = done + 1, at, run.occurrence


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
