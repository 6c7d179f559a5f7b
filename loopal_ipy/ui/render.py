"""Jobs in words: times and countdowns, policies, the footer of skipped fires, the log, previews."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..core import retries
from ..core.events import FOOTER, Event
from ..core.job import CronJob
from ..core.options import OPTIONS
from ..core.schedule import Schedule, get_zone

if TYPE_CHECKING:
    pass


def countdown(when: datetime | None, now: datetime) -> str:
    """A countdown whose text changes every second only in the last 10 minutes.

    With 50 jobs an hour away a per-second countdown would send 50 messages a
    second from a live table; this one changes once a minute there, once an
    hour beyond a day.
    """
    if when is None:
        return "—"
    r = (when - now).total_seconds()
    if r <= 0:
        return "due"
    s = math.ceil(r)
    if s < 60:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _in(left: str) -> str:
    """'in 5s', or 'due now' (never 'in due')."""
    return "due now" if left == "due" else f"in {left}"


def in_words(when: datetime | None, now: datetime) -> str:
    return _in(countdown(when, now))


def next_what(job: CronJob) -> str:
    """', retry 1 of 3' when the job's next start is a retry it waits for, else ''."""
    return f", {retries.label(job)}" if job.next_is_retry else ""


def preview(code: str, width: int = 40) -> str:
    first = code.strip().splitlines()[0] if code.strip() else ""
    more = len(code.strip().splitlines()) > 1
    text = first + (" …" if more else "")
    return text if len(text) <= width else text[: width - 1] + "…"


def local(t: datetime | None, tz: str) -> str:
    return "—" if t is None else t.astimezone(get_zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def policy(job: CronJob) -> str:
    """'retries 3 from 30 s, catch-up one period' — what the job does when a run fails or is missed."""
    return ", ".join(part for option in OPTIONS.values() if (part := option.shown(job)))


def footer_lines(events: Iterable[Event], limit: int = 5) -> list[str]:
    """Expired, dropped, missed, skipped and coalesced fires: nothing silent (docs/table.md)."""
    picked = [e for e in events if e.kind in FOOTER][-limit:]
    return [f"{e.at:%H:%M:%S} {e.kind} {e.job_id}: {e.message}".rstrip(": ") for e in picked]


def taken(now: datetime) -> str:
    """The date a snapshot carries: a saved notebook (nbviewer, GitHub) shows the jobs as of then."""
    return f"snapshot of {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (a live table shows the jobs as they are now)"


def log_text(job: CronJob, n: int | None = None, running: tuple[datetime, str] | None = None, after: str = "") -> str:
    """``running``: the start and output so far of a run still going (a long async job's); ``after``:
    what its child processes wrote after their runs had ended."""
    runs = list(job.history)[-n:] if n else list(job.history)
    head = (
        f"log of {job.label} — {job.schedule} ({job.description}{'; ' + policy(job) if policy(job) else ''}); "
        f"runs {job.runs}, failures {job.failures}, skipped {job.skips}, coalesced {job.coalesced}"
    )
    if not runs and running is None and not after:
        return head + "\nno runs yet"
    parts = [head]
    for r in runs:
        parts.append(f"--- {local(r.started_at, job.tz)}  {r.status}  {r.duration * 1000:.1f} ms  ({r.trigger})")
        text = r.output.rstrip()
        if text:
            parts.append(text)
        parts += [
            f"[image {i}: PNG, {len(png) * 3 // 4 >> 10} KiB — shown in the table's log view]"
            for i, png in enumerate(r.images, 1)
        ]
    if running is not None:
        parts.append(f"--- {local(running[0], job.tz)}  running (the output so far)")
        if running[1].rstrip():
            parts.append(running[1].rstrip())
    if after.strip():
        parts.append("--- after the run: what child processes of its runs wrote once their run had ended")
        parts.append(after.rstrip())
    return "\n".join(parts)


def next_text(sched: Schedule, times: list[datetime]) -> str:
    lines = [f"{sched.text}: {sched.describe()} ({sched.tz.key})"]
    for t in times:
        note = sched.note_for(t)
        lines.append(f"  {t:%a %Y-%m-%d %H:%M:%S %Z}" + (f"   ⚠ DST: {note}" if note else ""))
    return "\n".join(lines)
