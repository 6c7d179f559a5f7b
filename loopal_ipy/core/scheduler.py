"""The scheduler's decisions (docs/running.md): pure code driven by an injected clock.

The scheduler answers ``next_deadline()`` and ``due(now)`` — which jobs fire,
which occurrences coalesce, which jobs expire — and records what happened. It
never runs code, sleeps, or reads the time itself: the kernel bridge does that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Unpack

from . import retries
from .clock import Clock
from .deadlines import Deadlines
from .declare import Declared, Declaring, Unnamed, changes
from .errors import CodeError, JobNotFound, LimitError, NameTaken, ScheduleError
from .events import Event, Fire, Kind, Listener
from .job import BASE_DEFINITION, CronJob, Run, RunLog, clean_text, definition_fields, new_id, tail_text
from .limits import CreateOptions, Settings, check_if_exists, check_name, check_options, compile_check
from .options import OPTIONS
from .schedule import Schedule, local_zone_name, parse_schedule


class Scheduler:
    """The job set of one session and what is due when."""

    def __init__(
        self,
        clock: Clock,
        settings: Settings | None = None,
        check_code: Callable[[str], None] = compile_check,
    ) -> None:
        self.clock = clock
        self.settings = settings or Settings()
        self.check_code = check_code
        self._jobs: dict[str, CronJob] = {}
        self._deadlines = Deadlines(self._jobs, self._deadline)
        self._unnamed = Unnamed()  # what a re-run create of an unnamed job finds (declare.py)
        self._listeners: list[Listener] = []
        self.events: deque[Event] = deque(maxlen=200)
        self.listener_errors: deque[str] = deque(maxlen=20)
        self.removed: deque[CronJob] = deque(maxlen=20)  # so `%cron log` still finds them
        # Ids of jobs with a run in progress. By id, not on the job object, because a job can
        # leave and come back as a new object while its run goes on (session switch, reload).
        self.active: set[str] = set()
        self.finished_runs = 0  # every run this scheduler closed, whatever became of its job (%cron wait)

    # ----------------------------------------------------------------- events
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, kind: Kind, job: CronJob | str, message: str = "") -> Event:
        job_id = job if isinstance(job, str) else job.id
        event = Event(self.clock.now(), kind, job_id, message)
        self.events.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as e:  # a listener's bug must not half-make a job or stop a batch
                self.listener_errors.append(f"{kind} {job_id}: {type(e).__name__}: {e}"[:300])
        return event

    # ------------------------------------------------------------------ jobs
    def jobs(self) -> list[CronJob]:
        return list(self._jobs.values())

    def get(self, key: str) -> CronJob:
        job = self._jobs.get(key)
        if job is not None:
            return job
        for job in self._jobs.values():
            if job.name == key:
                return job
        raise JobNotFound(key, [j.label for j in self._jobs.values()][:10])

    def live(self, job_id: str) -> CronJob | None:
        """The live job with this id, or None."""
        return self._jobs.get(job_id)

    def find_removed(self, key: str) -> CronJob | None:
        for job in reversed(self.removed):
            if key in (job.id, job.name):
                return job
        return None

    def create(self, schedule: str, code: str, **options: Unpack[CreateOptions]) -> CronJob:
        """``declare`` with no request behind it, and return the job."""
        return self.declare(schedule, code, **options).job

    def declare(
        self, schedule: str, code: str, declaring: Declaring | None = None, **options: Unpack[CreateOptions]
    ) -> Declared:
        """A create is a declaration (declare.py): the job it declares again is kept if its definition is the
        same and updated in place if not (``if_exists="keep"`` leaves it as it is, ``"error"`` refuses);
        else a new job. Everything is checked first: a failed declare changes nothing."""
        if_exists = check_if_exists(options.get("if_exists", "update"))
        name = options.get("name")
        if name is not None:
            check_name(name)
        self._check_code_text(code)
        now = self.clock.now()
        wanted, compiled = self._wanted(schedule, code, options, now)
        definition = tuple(wanted.values())
        if name is not None:
            existing = next((j for j in self._jobs.values() if j.name == name), None)
        else:
            existing = None if declaring is None else self._unnamed.find(declaring, definition)
        if existing is not None and if_exists == "error" and name is None:
            raise NameTaken(f"this cell already declared job {existing.id}; delete it, or leave out --if-exists error")
        if existing is None or if_exists == "error":  # a new job; a name taken is refused there
            cell = None if declaring is None else declaring.cell
            outcome = Declared(self._new(wanted, compiled, name, cell, now), "created")
        else:
            said = changes(existing.definition(), definition)
            if not said:
                outcome = Declared(existing, "unchanged")
            elif if_exists == "keep":
                outcome = Declared(existing, "kept", said)
            else:
                self._redefine(existing, wanted, said)
                outcome = Declared(existing, "updated", said)
        if declaring is not None:
            outcome.job.declared_in = declaring.run
            if declaring.cell is not None and outcome.job.cell is None and outcome.job.name is None:
                self._unnamed.found_by_cell(outcome.job, declaring.cell)
                self.emit(Kind.UPDATED, outcome.job, "now found by the cell that declares it")
        return outcome

    def edit(
        self, key: str, schedule: str | None = None, code: str | None = None, **options: Unpack[CreateOptions]
    ) -> Declared:
        """Change parts of a job's definition in place (``%cron edit``): what a re-run create with those
        parts changed would do, checked the same way."""
        job = self.get(key)
        editable = ("schedule", "code", "tz", "once", "durable", *OPTIONS)  # the definition, as create names it
        refused = [word for word in options if word not in editable]  # else a name= would be dropped unsaid
        if refused:
            raise LimitError(f"edit() cannot change {refused[0]!r}; it changes {', '.join(editable)}")
        merged: dict[str, Any] = {"once": not job.recurring, "durable": job.durable, "tz": job.tz, **job.policy}
        merged.update(options)
        code = job.code if code is None else code
        self._check_code_text(code)
        wanted, _ = self._wanted(
            job.schedule if schedule is None else schedule,
            code,
            merged,  # type: ignore[arg-type]  # CreateOptions' keys: policy's are OPTIONS (tests/unit/test_options.py)
            self.clock.now(),
        )
        said = changes(job.definition(), tuple(wanted.values()))
        if said:
            self._redefine(job, wanted, said)
        return Declared(job, "updated" if said else "unchanged", said)

    def _wanted(
        self, schedule: str, code: str, options: CreateOptions, now: datetime
    ) -> tuple[dict[str, Any], Schedule]:
        """The definition a create asks for, checked (``definition_fields()``, in order), and its schedule."""
        once = bool(options.get("once", False))
        policy = check_options(dict(options), recurring=not once)
        tz = options.get("tz") or self.settings.timezone or _local_zone_for(schedule)
        compiled = parse_schedule(schedule, tz, anchor=now)  # raises on a bad schedule or zone
        self.check_code(code)
        wanted = {
            "schedule": schedule.strip(),
            "code": code,
            "tz": tz,
            "recurring": not once,
            "durable": bool(options.get("durable", False)),
            **policy,
        }
        return {field: wanted[field] for field in definition_fields()}, compiled

    def _new(
        self, wanted: dict[str, Any], compiled: Schedule, name: str | None, cell: str | None, now: datetime
    ) -> CronJob:
        self._check_room()
        if name is not None:
            self._check_name(name)
        base = {field: wanted[field] for field in BASE_DEFINITION}
        policy = {field: wanted[field] for field in OPTIONS}
        job = CronJob(
            id=new_id(self._jobs), name=name, created_at=now, cell=cell, compiled=compiled, policy=policy, **base
        )
        job.history = RunLog(maxlen=self.settings.history_size)
        job.next_fire = compiled.next_after(now)
        self._add(job)
        self.emit(Kind.CREATED, job, f"next fire {job.next_fire.isoformat()}")
        return job

    def _redefine(self, job: CronJob, wanted: dict[str, Any], said: tuple[str, ...]) -> None:
        """Update a job in place: same id, history and counts; a new schedule starts from now."""
        timing = (job.schedule, job.tz, job.recurring) != (wanted["schedule"], wanted["tz"], wanted["recurring"])
        compiled = parse_schedule(wanted["schedule"], wanted["tz"], anchor=job.created_at) if timing else None
        old = job.definition()
        for field, value in wanted.items():
            setattr(job, field, value)
        self._unnamed.redefined(job, old)
        if compiled is not None:
            job.compiled, job.catch_up_for = compiled, None
            job.next_fire = compiled.next_after(self.clock.now())
        retries.clear(job)
        self._push(job)
        self.emit(Kind.UPDATED, job, "; ".join(said))

    def _check_code_text(self, code: str) -> None:
        """Code given and not too long."""
        s = self.settings
        if not isinstance(code, str) or not code.strip():
            raise CodeError(
                'no code given; write the code after the schedule, e.g. %cron create "@every 10s" refresh()'
            )
        if len(code) > s.max_code_chars:
            raise LimitError(
                f"code is {len(code):,} characters; the limit is {s.max_code_chars:,} "
                "(Cron.max_code_chars) — put the work in a function and schedule a call to it"
            )

    def _check_room(self) -> None:
        """Room for one more job."""
        s = self.settings
        if len(self._jobs) >= s.max_jobs:
            n = len(self._jobs)
            raise LimitError(
                f"this session already has {n} job{'s' if n != 1 else ''}, the limit (Cron.max_jobs = {s.max_jobs}); "
                "delete some with %cron delete, or raise it with %config Cron.max_jobs = N"
            )

    def _check_name(self, name: str) -> None:
        check_name(name)
        for job in self._jobs.values():
            if name in (job.name, job.id):
                raise NameTaken(f"name {name!r} is already used by job {job.id}; pick another or delete that job")

    def add(self, job: CronJob) -> None:
        """Add a job rebuilt elsewhere (rehydration or reload); its next_fire must be set."""
        if job.id in self._jobs:
            raise ValueError(f"duplicate job id {job.id!r}")
        self._add(job)

    def take_in(self, job: CronJob, *, paused: bool = False) -> str:
        """Add a job from elsewhere (its store, another session): a taken id is renewed, a taken name
        gets a suffix (the returned note says so), ``paused`` holds it for review."""
        if job.id in self._jobs:
            job.id = new_id(self._jobs)
        note = self._free_name(job)
        if paused:
            job.paused = True
        self.add(job)
        return note

    def _free_name(self, job: CronJob) -> str:
        """A name already held here (a job made while this kernel waited) gets a suffix, said aloud."""
        if job.name is None:
            return ""
        holders = {j.name: j for j in self._jobs.values() if j.name}
        if job.name not in holders:
            return ""
        old, n = job.name, 2
        while f"{old[:60]}-{n}" in holders:
            n += 1
        job.name = f"{old[:60]}-{n}"
        return f"; renamed {old!r} to {job.name!r}: job {holders[old].id} holds that name"

    def _add(self, job: CronJob) -> None:
        self._deadline(job)  # anything that can fail fails here, before the job is in
        job.running = job.id in self.active
        self._jobs[job.id] = job
        self._unnamed.add(job)
        self._push(job)

    def delete(self, key: str) -> CronJob:
        job = self.get(key)
        self._remove(job)
        self.emit(Kind.DELETED, job)
        return job

    def remove(self, job: CronJob, reason: str) -> None:
        """Take a job out of the live set without deleting it anywhere else (e.g. a session switch)."""
        self._remove(job)
        self.emit(Kind.REMOVED, job, reason)

    def _remove(self, job: CronJob) -> None:
        if self._jobs.pop(job.id, None) is job:
            self._unnamed.discard(job)
        job._gen += 1  # invalidates its heap entries
        self.removed.append(job)

    def pause(self, key: str, reason: str = "") -> CronJob:
        job = self.get(key)
        if not job.paused:
            job.paused = True
            self._push(job)  # a new entry (stale ones are skipped); it still expires while paused
            self.emit(Kind.PAUSED, job, reason)
        return job

    def resume(self, key: str) -> CronJob:
        """Resume without catch-up: the next fire is the first occurrence after now."""
        job = self.get(key)
        if job.paused:
            job.paused = False
            retries.clear(job)
            assert job.compiled is not None  # CronJob.__post_init__ compiled it
            job.next_fire = job.compiled.next_after(self.clock.now())
            self._push(job)
            self.emit(Kind.RESUMED, job, f"next fire {job.next_fire.isoformat()}")
        return job

    # ------------------------------------------------------------- deadlines
    def expires_at(self, job: CronJob) -> datetime | None:
        if job.durable:
            return None
        return job.created_at + timedelta(seconds=self.settings.max_age)

    def _deadline(self, job: CronJob) -> datetime | None:
        """The earliest of its next start (``CronJob.next_start``) and its expiry. A retry waits for a run
        of the job going on (a ``%cron run``): its end pushes the job again."""
        start = job.next_fire if job.running and job.next_is_retry else job.next_start
        candidates = [t for t in (start, self.expires_at(job)) if t is not None]
        return min(candidates) if candidates else None

    def _push(self, job: CronJob) -> None:
        self._deadlines.push(job)

    def next_deadline(self) -> datetime | None:
        """When the earliest job is due, retried or expires; None when nothing is scheduled."""
        return self._deadlines.first()

    def due(self, now: datetime | None = None, limit: int | None = None) -> list[Fire]:
        """Decide what fires at ``now``: expire, skip overlaps, coalesce, advance. ``limit``: decide at most
        that many fires and leave the other due jobs due: the kernel decides each job just before it
        starts, so its "running" mark and its occurrence are its own (docs/running.md, "Many jobs at once")."""
        now = now or self.clock.now()
        fires: list[Fire] = []
        for job in self._deadlines.pop_due(now):
            fire = self._decide(job, now)
            if fire is not None:
                fires.append(fire)
                if len(fires) == limit:
                    break
        return fires

    def _decide(self, job: CronJob, now: datetime) -> Fire | None:
        """What a job whose deadline came does now: expire, retry, skip, fire, or wait (pushed back)."""
        expiry = self.expires_at(job)
        if expiry is not None and expiry <= now:
            self._remove(job)
            self.emit(
                Kind.EXPIRED,
                job,
                f"non-durable job removed {self.settings.max_age / 86400:g} days after creation "
                "(Cron.max_age); use --durable for jobs that should live longer",
            )
            return None
        if retries.due(job, now) and not job.running:
            if job.next_fire is None or job.next_fire > now:
                return self._retry(job)
            self._skip(job, now, job.retry_for, 1, "the next occurrence came due with it", "retry gave way")
            retries.clear(job)
        if job.paused or job.next_fire is None or job.next_fire > now:
            self._push(job)
            return None
        return self._advance(job, now)

    def _advance(self, job: CronJob, now: datetime) -> Fire | None:
        sched = job.compiled
        first = job.next_fire
        assert sched is not None and first is not None  # compiled by CronJob; _decide advances a job due
        extra = sched.count_between(first, now, cap=1_000_000)
        occurrence = sched.last_at_or_before(now, first) if extra else first
        assert occurrence is not None  # extra > 0: the first of them lies in (first, now]
        job.next_fire = sched.next_after(now) if job.recurring else None
        if job.running:
            self._skip(job, now, occurrence, 1 + extra, "the previous run was still going", "previous run still going")
            self._push(job)
            return None
        if extra:
            job.coalesced += extra
            said = f"{extra + 1} occurrences from {first.isoformat()} to {occurrence.isoformat()} came due"
            output = f"{said} while the kernel was busy; they run once now"
            self._record(job, Run(started_at=now, status="coalesced", occurrence=occurrence, output=output))
            self.emit(Kind.COALESCED, job, f"{extra + 1} occurrences ran as one")
        caught_up, job.catch_up_for = job.catch_up_for == occurrence, None
        retries.clear(job)  # a regular fire: a retry still waiting gives way
        job.last_fired = occurrence
        self._start(job, occurrence)
        trigger = f"catch-up for {occurrence.astimezone(sched.tz):%Y-%m-%d %H:%M}" if caught_up else "schedule"
        return Fire(job, occurrence, extra, trigger)

    def _retry(self, job: CronJob) -> Fire:
        occurrence = job.retry_for or self.clock.now()
        job.retry_at = None  # taken: the run's end decides on the next one
        self._start(job, occurrence)
        return Fire(job, occurrence, 0, retries.label(job))

    def _start(self, job: CronJob, occurrence: datetime) -> None:
        job.running = True
        self.active.add(job.id)
        self._push(job)
        self.emit(Kind.FIRED, job, occurrence.isoformat())

    def start_manual(self, key: str) -> CronJob:
        """Mark a job as running for run-now; its schedule is unchanged."""
        job = self.get(key)
        if job.running:
            raise LimitError(f"job {job.label} is running already; wait for it to finish")
        job.running = True
        self.active.add(job.id)
        self.emit(Kind.STARTED, job, "run now")
        return job

    def let_go(self, job: CronJob) -> None:
        """A run ended on a job object this scheduler no longer holds (deleted, reloaded, switched away)."""
        job.running = False
        if job.id not in self._jobs:
            self.active.discard(job.id)

    def finish(self, job: CronJob, run: Run) -> None:
        """Record a finished run; a one-shot job is removed after its scheduled run."""
        job.running = False
        self.active.discard(job.id)
        job.runs += 1
        self.finished_runs += 1
        if run.status == "error":
            job.failures += 1
        limit = self.settings.output_limit
        error = tail_text(run.error, limit) if run.error else None
        run = replace(run, output=tail_text(run.output, limit), error=error, html=tuple(map(clean_text, run.html)))
        self._record(job, run)
        retry = retries.plan(job, run, self.clock.now()) if run.trigger != "run-now" else None
        self.emit(Kind.FINISHED, job, run.status)
        if retry is not None:
            self._push(job)
            self.emit(Kind.RETRYING, job, f"{retries.label(job)} at {retry.isoformat()}")
            return
        if not job.recurring and run.trigger != "run-now" and job.id in self._jobs:
            self._remove(job)
            self.emit(Kind.REMOVED, job, "one-shot job ran and was removed")
        elif self._jobs.get(job.id) is job:
            self._push(job)  # not running any more: a retry that waited for this run is due again

    def fault(self, job: CronJob, error: str) -> None:
        """A fire whose start or end raised inside loopal_ipy: the job is not left running, and the error is
        its run's (the other jobs of a batch go on)."""
        job.running = False
        self.active.discard(job.id)
        job.failures += 1
        self._record(job, Run(started_at=self.clock.now(), status="error", output=error, error=error))
        self._push(job)
        self.emit(Kind.FINISHED, job, "error")

    def skip_missed(self, reason: str, now: datetime | None = None) -> int:
        """Occurrences that passed while jobs were held (``reason``) are recorded as skipped, never run late;
        a one-shot whose time passed is removed. Returns how many fires were skipped."""
        now = now or self.clock.now()
        skipped = 0
        for job in list(self._jobs.values()):
            if job.paused or job.next_fire is None or job.next_fire > now or job.running:
                continue
            assert job.compiled is not None  # CronJob.__post_init__ compiled it
            n = 1 + job.compiled.count_between(job.next_fire, now, cap=1_000_000) if job.recurring else 1
            skipped += n
            self._skip(job, now, job.next_fire, n, reason, reason)
            if job.recurring:
                job.next_fire = job.compiled.next_after(now)
                self._push(job)
            else:
                self._remove(job)
                self.emit(Kind.REMOVED, job, f"one-shot job's time passed: {reason}")
        return skipped

    def timeout_of(self, job: CronJob) -> float:
        """Seconds a run of ``job`` may last (0: no limit): its own --timeout, else Cron.job_timeout."""
        return job.timeout if job.timeout is not None else self.settings.job_timeout

    def blocked(self, job: CronJob) -> str | None:
        """Why a job fired in this batch must not start after all (an earlier one changed it), or None."""
        if self._jobs.get(job.id) is not job:
            return "deleted (or left with its session)"
        if job.paused:
            return "paused"
        return None

    def abandon(self, job: CronJob, occurrence: datetime | None, reason: str) -> None:
        """Close a fire that never started: recorded as a skip, never silent."""
        job.running = False
        self.active.discard(job.id)
        job.skips += 1
        self._record(job, Run(started_at=self.clock.now(), status="skipped", occurrence=occurrence, output=reason))
        self.emit(Kind.SKIPPED, job, reason)

    def _skip(self, job: CronJob, now: datetime, occurrence: datetime | None, n: int, why: str, said: str) -> None:
        """``n`` occurrences that will not run, recorded: a skipped run in the log and a SKIPPED event."""
        job.skips += n
        output = f"{n} occurrence(s) skipped: {why}"
        self._record(job, Run(started_at=now, status="skipped", occurrence=occurrence, output=output))
        self.emit(Kind.SKIPPED, job, said)

    def _record(self, job: CronJob, run: Run) -> None:
        """Keep the history in start order: an async run is recorded when it ends, after later skips."""
        history = job.history
        if history and run.started_at < history[-1].started_at:
            runs = sorted([*history, run], key=lambda r: r.started_at)
            job.history = RunLog(runs, maxlen=self.settings.history_size)
            return
        if history.maxlen != self.settings.history_size:
            job.history = RunLog(history, maxlen=self.settings.history_size)
        job.history.append(run)

    def set_settings(self, **changes: Any) -> None:  # Any: a Cron trait's value, each its own type (_extension.py)
        self.settings = replace(self.settings, **changes)
        for job in self._jobs.values():
            self._push(job)  # max_age may have moved expiries


def _local_zone_for(schedule: str) -> str:
    """The kernel's zone; for ``@every``, which has no wall-time meaning, UTC when the kernel's TZ names no
    zone (the zone only shows its times)."""
    try:
        return local_zone_name()
    except ScheduleError:
        if schedule.strip().lower().split(" ")[0] == "@every":
            return "UTC"
        raise
