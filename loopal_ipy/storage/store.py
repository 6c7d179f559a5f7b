"""The durable store (docs/durable.md): the job definitions in one atomic JSON file per session,
per-fire state and run history in an append-only journal beside it, and the load rules.

``cron.json`` is replaced by write-temp → fsync → rename → fsync-dir, so a crash at
any instant leaves either the old file or the new one; it changes only when a
definition does (create, delete, pause, resume) or when the journal is compacted.
A fire appends to ``cron.journal`` (journal.py): its state, fsynced before the code
starts, then its run. Loading never raises and never destroys bytes: a file it
cannot use is renamed aside (``cron.json.bad-<ms>``, ``cron.journal.bad-<ms>``) or,
when even that is impossible or unsafe, the store is *latched read-only* and jobs
run from memory only. Version 1 files (history inside ``cron.json``) load unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.job import CronJob, to_rfc3339
from ..core.limits import Settings, check_stored, compile_check
from .atomic import NOFOLLOW, write_atomic, write_file
from .journal import (
    JOURNAL_NAME,
    JournalRead,
    State,
    Track,
    definition,
    encode_line,
    marker_line,
    run_record,
    state_line,
    state_of,
)
from .loadrules import FORMAT_VERSION, LoadResult, apply_markers, dump_json, parse_document, plural
from .seal import journal_hash, seal
from .session import ensure_dir, os_trouble, session_dir
from .storeread import FILE_NAME, MAX_FILE_BYTES, Reading, Warn

COMPACT_SLACK = 1 << 20  # the journal is rewritten once it exceeds twice its live runs plus this
DEFAULTS = Settings()


def _only_moved(job: CronJob, old: State, new: State, now: datetime) -> bool:
    """Whether a load at ``now`` changed only the next fire, past the job's downtime: a load marker's word."""
    return (
        job.recurring
        and job.catch_up_for is None
        and old.next_fire is not None
        and old.next_fire <= now
        and old.last_fired == new.last_fired
        and old[2:] == new[2:]  # the counts and the running mark (a slice: _replace is Python code)
    )


def _stderr_warn(message: str) -> None:
    print(message, file=sys.stderr)


class Store(Reading):
    """The durable jobs of one session on disk. Never raises on load; save reports by return value."""

    def __init__(
        self,
        home: Path,
        session_id: str,
        *,
        history_size: int = DEFAULTS.history_size,
        max_jobs: int = DEFAULTS.max_jobs,
        warn: Warn = _stderr_warn,
        validate: Callable[[CronJob, set[str], bool], None] | None = None,
    ) -> None:
        self.home = Path(home)
        self.session_id = session_id
        self.directory = session_dir(self.home, session_id)
        self.path = self.directory / FILE_NAME
        self.journal_path = self.directory / JOURNAL_NAME
        self.history_size = history_size
        self.max_jobs = max_jobs
        self.warn = warn
        # What a create would check (names, code, limits); the kernel passes one that knows IPython syntax.
        # Its last argument says the entry is sealed (seal.py): its code compiled when it was created.
        self.validate = validate or (
            lambda job, names, sealed: check_stored(job, names, DEFAULTS, None if sealed else compile_check)
        )
        self.read_only = False
        self.read_only_reason: str | None = None
        self.dirty = False
        self._streak = 0
        self.problem: str | None = None  # why the last save failed (cleared by the next that works)
        # What the files on disk hold, as this store wrote them: a save writes only the difference.
        self._full = True  # the next save rewrites both files (the first one, after a load or a failure)
        self._generation = 0
        self._journal_size = 0
        self._journal_hash: hashlib.blake2b | None = None  # of the journal's bytes, when this store wrote them all
        self._running_from: int | None = None  # journal offset of the oldest "running" still the last word
        self._defs: dict[str, tuple[Any, ...]] = {}
        self._states: dict[str, State] = {}
        self._running: set[str] = set()  # the ids whose last saved state says "running"
        self._tracks: dict[str, Track] = {}
        self._live = 0  # bytes of the run lines still in some job's history
        self._base = 0  # bytes of the journal's header and its jobs' state lines as of the last compaction
        # A save of some jobs found the journal due for compaction: the next whole save does it (the kernel
        # asks for one when a batch of due jobs ends: a rewrite of 10,000 jobs takes ~0.3 s).
        self.compaction_due = False
        self.saves = {"full": 0, "definitions": 0, "appends": 0}  # for tests and benchmarks
        # Hooks for tests and odd platforms: the temp-file writer, and whose files we trust.
        self._write_bytes: Callable[[Path, bytes], None] = write_file
        self._uid: int | None = os.getuid() if hasattr(os, "getuid") else None

    def __repr__(self) -> str:
        flags = " read-only" if self.read_only else (" dirty" if self.dirty else "")
        return f"<Store {self.path}{flags}>"

    # ---------------------------------------------------------------- saving
    @property
    def retry_delay(self) -> float:
        """Seconds to wait before retrying a failed save: 1, 2, 4 … capped at 60 (0 when clean)."""
        return 0.0 if self._streak == 0 else float(min(60, 2 ** min(self._streak - 1, 6)))

    def rewrite_next(self) -> None:
        """The files may be gone (a deleted folder): the next save writes both afresh."""
        self._full = True

    def save(self, jobs: Iterable[CronJob], now: datetime | None = None, *, settled: bool = False) -> bool:
        """Write what changed in the durable ``jobs``; False (and dirty) if it could not.

        ``settled``: no run of these jobs can be cut short by this process dying any more
        (it exits, or the jobs leave with their session), so no "running" mark is written.
        """
        if self.read_only:
            return False
        durable = [job for job in jobs if job.durable]
        return self._guarded(lambda: self._save(durable, now or datetime.now(UTC), settled), settled)

    def save_some(
        self, changed: Iterable[CronJob], every: Callable[[], Iterable[CronJob]], now: datetime | None = None
    ) -> bool:
        """Write the state and new runs of the ``changed`` jobs alone, in time of their own size: a batch of
        10,000 due jobs saves each one as it starts and ends (docs/running.md, "Many jobs at once"). A whole
        save of ``every()`` job when anything else may differ: the first save, a definition, a compaction."""
        if self.read_only:
            return False
        jobs = [job for job in changed if job.durable]
        at = now or datetime.now(UTC)
        if self._full or any(definition(job) != self._defs.get(job.id) for job in jobs):
            return self.save(every(), at)
        return self._guarded(lambda: self._save_some(jobs, every, at))

    def _save_some(self, jobs: list[CronJob], every: Callable[[], Iterable[CronJob]], now: datetime) -> None:
        old = self._tracks
        tracks = {job.id: Track.follow(job, old.get(job.id)) for job in jobs}
        live = self._live + sum(track.live - (old[i].live if i in old else 0) for i, track in tracks.items())
        lines = [line for track in tracks.values() for line in track.new]
        bound = 2 * live + self._base + COMPACT_SLACK
        if self._journal_size + sum(map(len, lines)) > bound:
            self.compaction_due = True
            if self._journal_size > 2 * bound:  # no whole save came meanwhile: compact now
                self._save([job for job in every() if job.durable], now, False)
                return
        states, urgent = {}, False
        for job in jobs:
            state, was = state_of(job), self._states.get(job.id)
            if state != was:
                lines.append(state_line(job.id, state))
                states[job.id] = state
                urgent = (
                    urgent or was is None or state.last_fired != was.last_fired or (state.running and not was.running)
                )
        running = (self._running - states.keys()) | _running(states)
        if lines:
            self._append_states(lines, running, urgent)
        # Written: remember it.
        self._states.update(states)
        self._running = running
        if not running:
            self._running_from = None
        for job_id, track in tracks.items():
            track.new = []
            self._tracks[job_id] = track
        self._live = live

    def _guarded(self, write: Callable[[], None], settled: bool = False) -> bool:
        """Run one save's writes; a failure keeps the jobs in memory, says so once, and is retried."""
        try:
            ensure_dir(self.directory)
            write()
        except OSError as e:
            self._full = True  # a half-appended line or a missed rewrite: start both files afresh
            self.dirty = True
            self._streak += 1
            self.problem = os_trouble(e, self.directory)
            if settled:
                self._settle_in_place()
            if self._streak == 1:
                self.warn(
                    f"loopal_ipy: could not save durable jobs to {self.path}: {self.problem}; "
                    "they are kept in memory and saving will be retried"
                )
            return False
        if self._streak:
            self.warn(f"loopal_ipy: saving durable jobs to {self.path} works again")
        self.dirty = False
        self._streak = 0
        self.problem = None
        return True

    def _after_load(self, result: LoadResult, journal: JournalRead | None, info: dict[str, int], now: datetime) -> None:
        """Save what the load changed: appended to what was read when the files hold exactly that (see
        ``_adopt``), else both files rewritten."""
        adopted = self._adopt(result, journal, info, now)
        self._full = adopted is None
        if adopted is None:
            if result.changed and not self.read_only:
                self.save(result.jobs, now)
            return
        lines, states, urgent = adopted
        if lines:  # from what was read to the jobs the load left (a catch-up planned, too)
            self._guarded(lambda: self._append_states(lines, _running(states), urgent))
        self._set_states(states)  # written, or (a failed append) both files are rewritten next

    def _set_states(self, states: dict[str, State]) -> None:
        self._states = dict(states)  # its own: a save of some jobs updates it in place
        self._running = _running(states)

    def _append_states(self, lines: list[bytes], running_after: set[str], urgent: bool) -> None:
        """Append ``lines``, after which the jobs ``running_after`` are "running" on disk, and note where the
        first "running" since the disk last said none went (a settled save that fails cuts the journal back
        there)."""
        running_before = bool(self._running)
        at = self._journal_size
        self._append(b"".join(lines), fsync=urgent)
        self.saves["appends"] += 1
        if not running_before and running_after:
            self._running_from = at

    def _adopt(
        self, result: LoadResult, journal: JournalRead | None, info: dict[str, int], now: datetime
    ) -> tuple[list[bytes], dict[str, State], bool] | None:
        """Take what a load read as what the files hold, and return (the lines that bring them up to the
        jobs the load left, those jobs' states, whether to fsync): one load marker for the jobs it only
        moved past their downtime (next fire at or before now -> the first after now), a state line for
        each it changed otherwise. None when both files must be rewritten: a version 1 file, a journal
        missing, damaged or newer than cron.json or shorter than it says, an entry dropped, a job held
        over the limit (a definition changed), a run cut short."""
        if (
            journal is None
            or journal.bad
            or not journal.whole_lines
            or journal.generation != info.get("generation")
            or journal.size < info.get("offset", 0)  # lost its tail: lines appended now would count as older
            or self.read_only
            or result.dropped
            or result.quarantined
            or result.held
            or any(state.running for state in self._disk_states.values())
        ):
            return None
        self._set_states(self._disk_states)
        disk = self._states
        self._defs = self._disk_defs
        self._tracks = {
            job_id: Track.loaded(runs, journal.sizes) for job_id, runs in journal.runs.items() if job_id in disk
        }
        self._live = sum(track.live for track in self._tracks.values())
        self._journal_size, self._journal_hash = journal.size, journal.digest
        self._base = journal.size - self._live  # garbage, if any, as the last writer left it: bounded there
        self._running_from = None
        states: dict[str, State] = {}
        lines: list[bytes] = []
        moved = urgent = False
        for job in result.jobs:
            new = states[job.id] = state_of(job)
            old = disk.get(job.id)
            if new == old and job.catch_up_for is None:  # a catch-up planned states itself: no marker moves it
                continue
            if old is not None and _only_moved(job, old, new, now):
                moved = True
            else:
                lines.append(state_line(job.id, new))
                urgent = urgent or new.running  # a live run's mark (a switch-back), as a fire's, before all else
        # The marker first: the lines after it are not its word.
        return ([marker_line(now), *lines] if moved else lines), states, urgent

    def peek(self) -> tuple[str, list[CronJob]]:
        """What the files hold, for ``loopal-ipy jobs``: (status, jobs), reading only.

        No lock, no write, no rename: a corrupt, untrusted or newer store is reported,
        never repaired; jobs are rebuilt to be shown, never run. Status is "ok", "empty",
        or one line saying what is wrong.
        """
        result = LoadResult(session_id=self.session_id)
        raw, untrusted = self._read(result)
        if raw is None:
            return (f"unreadable: {result.warnings[-1]}" if result.warnings else untrusted or "empty"), []
        doc, kind, why = parse_document(raw)
        if kind == "json":
            return f"corrupt: not valid JSON ({why})", []
        if kind == "newer":
            return f"written by a newer loopal_ipy (format {why}; this one reads {FORMAT_VERSION})", []
        if kind == "shape":
            return f"corrupt: {why}", []
        entries, journal = doc["jobs"], None
        if doc["version"] >= 2:
            info = doc.get("journal") or {"generation": 0, "offset": 0}
            journal, refused, _ = self._read_journal(result, info["generation"], info["offset"])
            untrusted = untrusted or refused
            if journal is not None:
                entries = [
                    {
                        **e,
                        **journal.states.get(e["id"], {}),
                        "history": [r.to_dict() for r in journal.runs.get(e["id"], ())],
                    }
                    if isinstance(e, dict) and isinstance(e.get("id"), str)
                    else e
                    for e in entries
                ]
        jobs = [j for j in map(self._try_job, entries) if j is not None]
        for job in jobs:
            apply_markers(job, journal)
        bad = len(entries) - len(jobs)
        status = f"untrusted: {untrusted} (shown, never run)" if untrusted else "ok"
        return status + (f"; {plural(bad, 'entry', 'entries')} not valid" if bad else ""), jobs

    def _settle_in_place(self) -> None:
        """A settled save failed (the kernel exits, the disk full): no run goes on, but the journal's last
        word on some job is "running", and a load would pause it. Cut the journal back to before the
        first such word: truncating needs no free space. The lines after it (runs of the last moments,
        whose own ends could not be written) go; last_fired is the one before, and no occurrence runs
        twice (a load never catches up)."""
        if self._running_from is None:
            return
        try:
            os.truncate(self.journal_path, self._running_from)
        except OSError:
            return
        self._journal_size, self._running_from = self._running_from, None
        self._journal_hash = None  # its bytes are no longer what the running digest saw
        self.warn(
            f"loopal_ipy: {self.journal_path.name} was cut back to before the runs that had no recorded end "
            "(the disk is full): their jobs come back as they were before those runs, not paused"
        )

    def _save(self, jobs: list[CronJob], now: datetime, settled: bool) -> None:
        defs = {job.id: definition(job) for job in jobs}
        states = {job.id: state_of(job, settled) for job in jobs}
        tracks = {job.id: Track.follow(job, None if self._full else self._tracks.get(job.id)) for job in jobs}
        run_lines = [line for track in tracks.values() for line in track.new]
        live = sum(t.live for t in tracks.values())
        pending = sum(map(len, run_lines))
        if self._full or self._journal_size + pending > 2 * live + self._base + COMPACT_SLACK:
            self._rewrite(jobs, now, settled)
        elif defs != self._defs:
            self._append(b"".join(run_lines), fsync=False)
            self._write_definitions(jobs, now, settled)
            self.saves["definitions"] += 1
        else:
            urgent = False  # last_fired or a "running" mark must be on disk before the code starts
            lines = run_lines
            for job in jobs:
                state = states[job.id]
                old = self._states.get(job.id)
                if state != old:
                    lines.append(state_line(job.id, state))
                    urgent = (
                        urgent
                        or old is None
                        or state.last_fired != old.last_fired
                        or (state.running and not old.running)
                    )
            if lines:
                self._append_states(lines, _running(states), urgent)
        # Written: remember it.
        self._defs = defs
        self._set_states(states)
        if not self._running:
            self._running_from = None
        for track in tracks.values():
            track.new = []
        self._tracks = tracks
        self._live = live

    def _rewrite(self, jobs: list[CronJob], now: datetime, settled: bool) -> None:
        """Compact: a fresh journal of the live history, then cron.json naming it (crash-safe in that order)."""
        generation = self._generation + 1
        lines = [encode_line({"journal": generation, "session": self.session_id})]
        lines += [encode_line(run_record(job.id, run)) for job in jobs for run in job.history]
        # A crash between the two renames leaves a journal newer than cron.json: its state lines count then.
        states = [state_line(job.id, state_of(job, settled)) for job in jobs]
        data = b"".join(lines + states)
        self._journal_hash = None  # unknown until the new journal is in place
        write_atomic(self.journal_path, data, write_bytes=self._write_bytes)
        self._generation, self._journal_size = generation, len(data)
        self._base = len(lines[0]) + sum(map(len, states))  # what a compaction cannot shrink but runs
        self._journal_hash = journal_hash()
        self._journal_hash.update(data)
        self._running_from = None  # a "running" written here sits in cron.json too: no cutting back
        self._write_definitions(jobs, now, settled)
        self._full = False
        self.compaction_due = False
        self.saves["full"] += 1

    def _append(self, data: bytes, *, fsync: bool) -> None:
        if not data:
            return
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | NOFOLLOW)
        start, written = None, 0
        try:
            start = os.fstat(fd).st_size
            view = memoryview(data)
            while written < len(data):
                written += os.write(fd, view[written:])
            if fsync:
                os.fsync(fd)
        except OSError:
            if start is not None and written < len(data):  # a torn last line (a full disk): cut back to the
                with contextlib.suppress(OSError):  # last whole one; truncating needs no space
                    os.ftruncate(fd, start + data.rfind(b"\n", 0, written) + 1)
            self._journal_hash = None  # some of it may be on disk: no seal until a rewrite
            raise
        finally:
            os.close(fd)
        self._journal_size += len(data)
        if self._journal_hash is not None:
            self._journal_hash.update(data)

    def _write_definitions(self, jobs: list[CronJob], now: datetime, settled: bool) -> None:
        entries = []
        for job in jobs:
            entry = job.to_dict()
            del entry["history"]  # in the journal
            if settled:
                entry.pop("running", None)
            entries.append(entry)
        doc = {
            "version": FORMAT_VERSION,
            # The jobs saved here were all allowed: a load honours this limit if Cron.max_jobs is lower.
            "session": {
                "id": self.session_id,
                "updated_at": to_rfc3339(now),
                "max_jobs": max(self.max_jobs, len(entries)),
            },
            "journal": {"generation": self._generation, "offset": self._journal_size},
            "jobs": entries,
        }
        data = seal(dump_json(doc), self._journal_hash)
        if len(data) > MAX_FILE_BYTES:  # a load would refuse it: keep the old file
            raise OSError(
                errno.EFBIG,
                f"the job definitions would take {len(data) >> 20} MiB, over the "
                f"{MAX_FILE_BYTES >> 20} MiB a load accepts (shorter code, or fewer durable jobs)",
            )
        write_atomic(self.path, data, write_bytes=self._write_bytes)


def _running(states: dict[str, State]) -> set[str]:
    return {job_id for job_id, state in states.items() if state.running}


def _urgent(state: State, was: State | None) -> bool:
    """A fire's last_fired, or a new "running" mark: on disk (fsynced) before the code starts."""
    return was is None or state.last_fired != was.last_fired or (state.running and not was.running)
