"""The load rules of the durable store (docs/durable.md), as pure functions of an entry and the time.

What a load found is a ``LoadResult``; whether an entry may come back, how many
occurrences it missed, and what a job whose run was cut short becomes are
decided here, so store.py is left with files.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, overload

from ..core.job import CronJob, RunLog, from_rfc3339, to_rfc3339
from ..core.options import OPTIONS
from ..core.schedule import EverySchedule, Schedule, parse_schedule

FORMAT_VERSION = 2  # 2: history and per-fire state live in cron.journal
MISSED_CAP = 1000


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def short(text: object, limit: int = 90) -> str:
    said = " ".join(str(text).split())
    return said if len(said) <= limit else said[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A job entry that did not come back at load, and why (``%cron log`` finds it by id or name)."""

    label: str  # as the load summary says it: "id (name)", an id, or "entry 3"
    reason: str
    job_id: str | None = None  # None: the entry had no usable id
    name: str | None = None


@dataclass(slots=True, kw_only=True)
class LoadResult:
    """What rehydration found. Every warning here was also passed to the store's ``warn``.

    ``untrusted`` holds the jobs of a file that failed the ownership/permission
    check: parsed for display only (so the user can see what was refused),
    never to be run; ``jobs`` is then empty.
    """

    session_id: str
    jobs: list[CronJob] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    missed: dict[str, int] = field(default_factory=dict)
    quarantined: list[Path] = field(default_factory=list)
    read_only: bool = False
    warnings: list[str] = field(default_factory=list)
    changed: bool = False
    untrusted: list[CronJob] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)  # labels of jobs paused: running when their kernel stopped
    held: list[str] = field(default_factory=list)  # labels of jobs loaded paused: over Cron.max_jobs
    limit: int = 0  # the job limit this load honoured (Cron.max_jobs, or the larger one the file was saved under)

    @property
    def notable(self) -> bool:
        """Something the user should hear of: jobs came back, or something was dropped, missed or held."""
        return bool(
            self.jobs or self.dropped or self.missed or self.stuck or self.held or self.read_only or self.untrusted
        )

    def summary(self) -> str:
        """One line: restored, dropped, missed (and read-only, if latched)."""
        n = len(self.jobs)
        parts = [f"loopal_ipy: restored {plural(n, 'durable job')} for session {self.session_id}"]
        if self.dropped:
            reasons = [d.reason for d in self.dropped[:3]]
            more = f"; and {len(self.dropped) - 3} more" if len(self.dropped) > 3 else ""
            parts.append(f"dropped {len(self.dropped)} ({'; '.join(reasons)}{more})")
        if self.missed:
            labels = {j.id: j.label for j in self.jobs}
            shown = ", ".join(
                f"job {labels.get(i, i)}: {c}{'+' if c >= MISSED_CAP else ''}" for i, c in self.missed.items()
            )
            total = sum(self.missed.values())
            plus = "+" if any(c >= MISSED_CAP for c in self.missed.values()) else ""
            word = "occurrence" if total == 1 and not plus else "occurrences"
            parts.append(f"{total}{plus} missed {word} not caught up ({shown})")
        if self.stuck:
            parts.append(
                f"paused {', '.join(self.stuck)}: {'it was' if len(self.stuck) == 1 else 'they were'} running "
                "when its kernel stopped (%cron resume ID restarts it)"
            )
        said_paused = {*self.stuck, *self.held}
        kept = [j.label for j in self.jobs if j.paused and j.label not in said_paused]
        if kept:
            shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
            parts.append(f"{shown} paused as saved (%cron resume ID restarts it)")
        if self.held:
            shown = ", ".join(self.held[:5]) + (f" and {len(self.held) - 5} more" if len(self.held) > 5 else "")
            parts.append(
                f"paused {shown}: over the limit of {self.limit} jobs (Cron.max_jobs); they stay in the store — "
                f"%config Cron.max_jobs = {self.limit + len(self.held)} and %cron resume ID bring them back"
            )
        if self.untrusted:
            parts.append(f"{plural(len(self.untrusted), 'job')} not run: the store failed the safety check")
        if self.read_only:
            parts.append("the store is read-only for this session (see the warning)")
        return "; ".join(parts)


def hold_over_limit(result: LoadResult, job: CronJob) -> None:
    """Past the job limit a job is a policy matter, not bad bytes: kept in the store, loaded paused."""
    if len(result.jobs) >= result.limit and not job.paused:
        job.hold()
        result.held.append(job.label)
        result.changed = True


def recorded_limit(session: Any) -> int:
    """The job limit a store was saved under (``session.max_jobs``), or 0 when it says none."""
    value = session.get("max_jobs") if isinstance(session, dict) else None
    return value if type(value) is int and 1 <= value <= 10_000 else 0


def rebuild(entry: Any, history_size: int, schedules: dict[Any, Schedule] | None = None) -> CronJob:
    """``CronJob.from_dict`` plus the checks it leaves out; ``schedules`` given: the entry is one a save
    wrote (storage/seal.py), and this load's parsed schedules are shared through it."""
    job = CronJob.from_dict(entry, history_size) if schedules is None else from_sealed(entry, history_size, schedules)
    if job.created_at is None:
        # from_dict lets a null created_at through; the schedule would then be
        # anchored on the wall clock and the job would change on every load.
        raise ValueError("created_at is missing")
    return job


def from_sealed(d: dict[str, Any], history_size: int = 20, schedules: dict[Any, Schedule] | None = None) -> CronJob:
    """Rebuild an entry of a sealed file (storage/seal.py): ``to_dict`` wrote it, so its types hold and
    only what cannot be trusted from the bytes alone (the schedule, parsed here) is worked out."""
    if "history" in d:  # a sealed file's entries keep none (the journal does): not one we wrote
        return CronJob.from_dict(d, history_size)
    get = d.get
    created_at = _utc(d["created_at"])
    return CronJob(
        id=d["id"],
        name=get("name"),
        schedule=d["schedule"],
        code=d["code"],
        tz=d["tz"],
        created_at=created_at,
        recurring=get("recurring", True),
        durable=get("durable", True),
        paused=get("paused", False),
        last_fired=_utc(get("last_fired")),
        next_fire=_utc(get("next_fire")),
        runs=get("runs", 0),
        failures=get("failures", 0),
        skips=get("skips", 0),
        coalesced=get("coalesced", 0),
        history=RunLog(maxlen=history_size),
        policy={name: d[name] for name in OPTIONS if name in d},  # the options a save wrote: those set
        cell=get("cell"),
        compiled=None if schedules is None else shared_schedule(d["schedule"], d["tz"], created_at, schedules),
    )


def shared_schedule(text: str, tz: str, anchor: datetime | None, schedules: dict[Any, Schedule]) -> Schedule | None:
    """A sealed entry's schedule, parsed once per (text, zone) in one load: a store's jobs share a few
    schedules, and a create checked each text. An ``@every`` one is anchored on its own job's creation."""
    if anchor is None:
        return None  # parsed by CronJob itself, which refuses it
    got = schedules.get((text, tz))
    if got is None:
        got = schedules[text, tz] = parse_schedule(text, tz, anchor=anchor)
    elif type(got) is EverySchedule and got.anchor != anchor:
        got = EverySchedule(text=got.text, interval=got.interval, anchor=anchor, tz=got.tz)
    return got


@overload
def _utc(text: str) -> datetime: ...
@overload
def _utc(text: None) -> None: ...
@overload
def _utc(text: str | None) -> datetime | None: ...
def _utc(text: str | None) -> datetime | None:
    """``from_rfc3339`` for text ``to_rfc3339`` wrote (a "Z" time), three times faster."""
    if text is None:
        return None
    t = datetime.fromisoformat(text)
    return t if t.tzinfo is UTC else from_rfc3339(text)


def apply_markers(job: CronJob, journal: Any) -> None:
    """A journal's load markers on ``job`` (journal.LOADED_ID). A marker no save wrote (a time with no
    occurrence after it) is hostile bytes: the job keeps its own state, and is never dropped for it."""
    if journal is not None and journal.loaded:
        with contextlib.suppress(Exception):  # OverflowError, ScheduleError: no occurrence after that time
            job.moved_past(journal.accounted(job.id))


def pause_stuck(result: LoadResult, job: CronJob, now: datetime) -> None:
    """A job whose run was going when its kernel died may be what killed it: back paused (docs/running.md)."""
    why = (
        f"{job.label} was running when its kernel stopped (a crash, a kill, or the restart of a stuck "
        f"kernel); it is paused so that it cannot hang the kernel again — %cron resume {job.name or job.id} "
        "restarts it"
    )
    job.crashed(now, why)
    result.stuck.append(job.label)
    result.changed = True


def parse_document(raw: bytes) -> tuple[Any, str, str]:
    """(doc, kind, why) of cron.json's bytes: kind is "" when usable, else "json", "newer" or "shape"."""
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, "json", short(e, 60)
    version = doc.get("version") if isinstance(doc, dict) else None
    if type(version) is int and version > FORMAT_VERSION:
        return doc, "newer", str(version)
    problem = shape_problem(doc)
    return doc, ("shape" if problem else ""), problem or ""


def shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return f"expected an object, got {type(doc).__name__}"
    version = doc.get("version")
    if type(version) is not int or version < 1:
        return f"'version' must be {FORMAT_VERSION}, got {short(repr(version), 30)}"
    if not isinstance(doc.get("jobs"), list):
        return "'jobs' must be a list"
    if "session" in doc and not isinstance(doc["session"], dict):
        return "'session' must be an object"
    journal = doc.get("journal")
    if journal is not None and not (
        isinstance(journal, dict)
        and set(journal) == {"generation", "offset"}
        and all(type(v) is int and v >= 0 for v in journal.values())
    ):
        return '\'journal\' must be {"generation": N, "offset": N}'
    return None


def entry_label(entry: Any, index: int) -> str:
    job_id = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(job_id, str) and job_id.isalnum() and len(job_id) <= 16:
        return job_id
    return f"entry {index}"


def dropped_entry(entry: Any, index: int, reason: str) -> Dropped:
    """An entry that leaves the file, with the id and name a user may still ask about."""
    label = entry_label(entry, index)
    name = entry.get("name") if isinstance(entry, dict) else None
    return Dropped(
        label, reason, None if label.startswith("entry ") else label, name if isinstance(name, str) else None
    )


def once_gone(job: CronJob, now: datetime) -> str | None:
    """Why a one-shot job must not come back (no catch-up), or None if it still has its time ahead."""
    if job.recurring:
        return None
    if job.last_fired is not None:
        return f"one-shot {job.label} already fired"
    assert job.compiled is not None  # CronJob.__post_init__ compiled it
    due = job.next_fire or job.compiled.next_after(job.created_at)
    if due <= now:
        return f"one-shot {job.label} missed its time while no kernel ran"
    return None


def count_missed(job: CronJob, now: datetime) -> int:
    """Occurrences that fell between the last saved state and ``now`` (at most MISSED_CAP)."""
    assert job.compiled is not None  # CronJob.__post_init__ compiled it
    if job.next_fire is not None:
        if job.next_fire > now:
            return 0
        # the saved next_fire itself was missed; count the rest after it
        return 1 + job.compiled.count_between(job.next_fire, now, cap=MISSED_CAP - 1)
    after = job.last_fired or job.created_at - timedelta(microseconds=1)
    return job.compiled.count_between(after, now, cap=MISSED_CAP)


def rejects_document(rejects: list[dict[str, Any]], source: str, now: datetime) -> dict[str, Any]:
    """What a ``.bad-`` file of rejected entries holds: each entry verbatim, with its index and why."""
    return {
        "version": FORMAT_VERSION,
        "kind": "loopal_ipy rejected entries",
        "source": source,
        "rejected_at": to_rfc3339(now),
        "entries": rejects,
    }


def dump_json(doc: Any) -> bytes:
    """JSON with one list item per line: readable, and fast (``indent=`` would force the pure-Python encoder)."""

    def enc(value: Any) -> str:
        # ASCII escapes keep the file valid UTF-8 even if code holds lone surrogates.
        return json.dumps(value, ensure_ascii=True, separators=(", ", ": "))

    parts = []
    for key, value in doc.items():
        if isinstance(value, list):
            items = ",\n  ".join(enc(v) for v in value)
            parts.append(f"{enc(key)}: [\n  {items}\n ]" if value else f"{enc(key)}: []")
        else:
            parts.append(f"{enc(key)}: {enc(value)}")
    return ("{\n " + ",\n ".join(parts) + "\n}\n").encode("ascii")
