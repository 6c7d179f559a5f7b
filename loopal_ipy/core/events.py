"""What the scheduler says happened (docs/table.md): fires, event kinds, and which kinds matter where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .job import CronJob


@dataclass(frozen=True, slots=True)
class Fire:
    """An order to run ``job`` for ``occurrence``; ``merged`` more occurrences collapsed into it."""

    job: CronJob
    occurrence: datetime
    merged: int = 0
    trigger: str = "schedule"  # or "retry 1 of 3", "catch-up for 2026-01-05 09:00"


class Kind(StrEnum):
    """What an event says happened (a str: ``event.kind == "fired"`` holds)."""

    CREATED = "created"
    UPDATED = "updated"  # a create declared it again with another definition (or %cron edit)
    DELETED = "deleted"
    PAUSED = "paused"
    RESUMED = "resumed"
    FIRED = "fired"
    STARTED = "started"  # run now
    FINISHED = "finished"
    RETRYING = "retrying"  # a failed run will be tried again (--retries)
    SKIPPED = "skipped"
    COALESCED = "coalesced"
    REMOVED = "removed"  # a one-shot that ran, or a job that left with its session
    EXPIRED = "expired"
    RESTORED = "restored"
    DROPPED = "dropped"
    MISSED = "missed"
    STORE = "store"  # about the durable store, not one job
    HOOK = "hook"  # a hook's callback raised


# Which events change what is on disk, when the timer must be set again, what a waiting
# cell looks at, and what the table's footer shows (nothing skipped or lost is silent).
PERSISTED = frozenset(
    {
        Kind.CREATED,
        Kind.UPDATED,
        Kind.DELETED,
        Kind.PAUSED,
        Kind.RESUMED,
        Kind.FIRED,
        Kind.FINISHED,
        Kind.REMOVED,
        Kind.EXPIRED,
        Kind.SKIPPED,
        Kind.COALESCED,
    }
)
# Events that change only a job's state and runs, never its definition: a save of that job alone.
STATE_ONLY = frozenset({Kind.FIRED, Kind.FINISHED, Kind.SKIPPED, Kind.COALESCED})
SAVE_SOON = frozenset({Kind.FINISHED, Kind.SKIPPED})  # a run's end ("not running") reaches the disk soon
REARM = frozenset({Kind.CREATED, Kind.UPDATED, Kind.DELETED, Kind.PAUSED, Kind.RESUMED, Kind.REMOVED})
GONE = frozenset({Kind.DELETED, Kind.REMOVED, Kind.EXPIRED})  # the job left the live set
WAKE_WAITERS = frozenset({Kind.FINISHED, Kind.PAUSED, Kind.DELETED, Kind.REMOVED})
# A routine restore is no warning (the load summary says it); a renamed one is said as STORE.
FOOTER = frozenset(
    {Kind.EXPIRED, Kind.DROPPED, Kind.MISSED, Kind.SKIPPED, Kind.COALESCED, Kind.REMOVED, Kind.STORE, Kind.HOOK}
)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, for logs, the table and its footer."""

    at: datetime
    kind: Kind
    job_id: str
    message: str


Listener = Callable[[Event], None]
