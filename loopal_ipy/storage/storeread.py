"""Reading a session's store back (docs/durable.md): trust checks, the files set aside, the load rules.

Loading never raises and never destroys bytes: a file it cannot use is renamed aside
(``cron.json.bad-<ms>``, ``cron.journal.bad-<ms>``) or, when even that is impossible or
unsafe, the store is latched read-only and jobs run from memory only. ``Store``
(store.py) inherits this and owns the writing.
"""

from __future__ import annotations

import errno
import gc
import os
import stat
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.job import CronJob
from .atomic import NOFOLLOW
from .journal import JOURNAL_NAME, JournalRead, State, definition, read_journal, state_of
from .loadrules import (
    FORMAT_VERSION,
    Dropped,
    LoadResult,
    apply_markers,
    count_missed,
    dropped_entry,
    dump_json,
    entry_label,
    hold_over_limit,
    once_gone,
    parse_document,
    pause_stuck,
    plural,
    rebuild,
    recorded_limit,
    rejects_document,
    short,
)
from .seal import intact

FILE_NAME = "cron.json"
MAX_FILE_BYTES = 256 * 1024 * 1024  # cron.json: what a load reads, so what a save may write
Warn = Callable[[str], None]


class Reading:
    """The load half of ``Store``; the attributes below are the store's."""

    home: Path
    session_id: str
    directory: Path
    path: Path
    journal_path: Path
    history_size: int
    max_jobs: int
    warn: Warn
    validate: Callable[[CronJob, set[str], bool], None]
    read_only: bool
    read_only_reason: str | None
    _uid: int | None
    _generation: int
    _disk_defs: dict[str, tuple[Any, ...]]  # id -> definition, as the files hold it
    _disk_states: dict[str, State]  # id -> state, as the files hold it

    # Saving what a load changed is the writer's (store.py): declared here, defined there.
    _after_load: Callable[[LoadResult, JournalRead | None, dict[str, int], datetime], None]

    def _latch(self, result: LoadResult, message: str) -> None:
        """Go read-only for this session: nothing will ever be written over the file."""
        self.read_only = True
        self.read_only_reason = message
        result.read_only = True
        self._warn(
            result,
            f"loopal_ipy: WARNING: {message}; the store is read-only for this session "
            "(durable jobs run from memory and will not be saved)",
        )

    def _warn(self, result: LoadResult, message: str) -> None:
        result.warnings.append(message)
        self.warn(message)

    def _unsafe(self, st: os.stat_result, what: Path) -> str | None:
        if self._uid is None:
            return None
        if st.st_uid != self._uid:
            return f"{what} is owned by uid {st.st_uid}, not by you (uid {self._uid})"
        if st.st_mode & 0o022:
            return f"{what} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
        return None

    def _untrusted_folders(self) -> str | None:
        """Why $LOOPAL_HOME, sessions/ or the session folder cannot be trusted (docs/durable.md), or None."""
        for folder in (self.home, self.home / "sessions", self.directory):
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                continue
            except OSError as e:
                return f"{folder} cannot be checked ({e.strerror or e})"
            if stat.S_ISLNK(st.st_mode):
                return f"{folder} is a symbolic link"
            problem = self._unsafe(st, folder)
            if problem:
                return problem
        return None

    def _bad_path(self, now: datetime, name: str = FILE_NAME) -> Path:
        stem = f"{name}.bad-{int(now.timestamp() * 1000)}"
        candidate, n = self.directory / stem, 1
        while os.path.lexists(candidate):
            candidate, n = self.directory / f"{stem}-{n}", n + 1
        return candidate

    def _read(self, result: LoadResult) -> tuple[bytes | None, str | None]:
        """The file's bytes (None if absent or unusable) and why it is untrusted, if it is."""
        untrusted = self._untrusted_folders()
        try:
            # O_NONBLOCK: a planted FIFO must not hang the kernel. O_NOFOLLOW: no symlinks.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return None, untrusted
        except OSError as e:
            if e.errno == errno.ELOOP:
                return None, untrusted or f"{self.path} is a symbolic link"
            self._latch(result, f"cannot read {self.path}: {e.strerror or e}")
            return None, untrusted
        try:
            st = os.fstat(fd)
            untrusted = untrusted or self._unsafe(st, self.path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                raise OSError(errno.EINVAL, f"not a regular file of at most {MAX_FILE_BYTES >> 20} MiB")
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks), untrusted
        except OSError as e:
            self._latch(result, f"cannot read {self.path}: {e.strerror or e}")
            return None, untrusted
        finally:
            os.close(fd)

    def _read_journal(
        self, result: LoadResult, generation: int, offset: int, raw: bytes = b""
    ) -> tuple[JournalRead | None, str | None, bool]:
        """Replay cron.journal (None if absent or unreadable), why it is untrusted if it is, and
        whether ``raw`` (cron.json's bytes) is sealed with this journal (seal.py)."""
        try:
            fd = os.open(self.journal_path, os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            if offset > 0:
                self._warn(
                    result,
                    f"loopal_ipy: {self.journal_path} is missing: the durable jobs load without their run "
                    "history, and the fire times they had before their last definition change",
                )
            return None, None, bool(raw) and intact(raw, None, offset) is not None
        except OSError as e:
            if e.errno == errno.ELOOP:
                return None, f"{self.journal_path} is a symbolic link", False
            self._latch(result, f"cannot read {self.journal_path}: {e.strerror or e}")
            return None, None, False
        try:
            st = os.fstat(fd)
            untrusted = self._unsafe(st, self.journal_path)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            prefix = intact(raw, fd, offset) if raw and untrusted is None else None
            with os.fdopen(os.dup(fd), "rb", buffering=1 << 20) as f:
                size = self.history_size
                return (
                    read_journal(f, generation=generation, offset=offset, history_size=size, prefix=prefix),
                    untrusted,
                    prefix is not None,
                )
        except OSError as e:
            self._latch(result, f"cannot read {self.journal_path}: {e.strerror or e}")
            return None, None, False
        finally:
            os.close(fd)

    def _set_journal_aside(self, result: LoadResult, journal: JournalRead, now: datetime) -> None:
        """Lines no save writes: keep a copy of the file's bytes, load what could be read.

        A copy, not a rename: the journal stays until the next save replaces it, so a kernel
        that dies before that save finds it (and its good lines) again.
        """
        what = (
            f"{plural(journal.bad, 'line')} of {self.journal_path} could not be read "
            f"(the first is line {journal.first_bad})"
        )
        target = self._bad_path(now, JOURNAL_NAME)
        try:
            with open(self.journal_path, "rb") as f:
                data = f.read()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as e:
            self._latch(result, f"{what} and it could not be copied aside ({e.strerror or e})")
            return
        result.quarantined.append(target)
        result.changed = True
        self._warn(
            result,
            f"loopal_ipy: {what}; kept a copy as {target.name} (bytes untouched) and loaded the rest of it",
        )

    def load(self, now: datetime, live_runs: Iterable[str] = ()) -> LoadResult:
        """Rehydrate by every load rule of docs/durable.md; rewrites the file only if loading changed it.

        ``live_runs``: ids whose run is still going in this very process (a reload or a
        session switch back): their saved "running" mark is not a crash.
        """
        # A load allocates objects by the hundred thousand and frees none: the cycle collector's
        # passes over them find nothing and cost a third of a big load. It runs again right after.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._load(now, live_runs)
        finally:
            if collecting:
                gc.enable()

    def _load(self, now: datetime, live_runs: Iterable[str]) -> LoadResult:
        result = LoadResult(session_id=self.session_id)
        raw, untrusted = self._read(result)
        if untrusted is not None:
            self._latch(result, f"{untrusted}, so its durable jobs are NOT run")
        if raw is None:
            return result
        doc, kind, why = parse_document(raw)
        if kind == "json":
            return self._quarantine(result, now, f"is not valid JSON ({why})", untrusted)
        if kind == "newer":
            self._latch(
                result,
                f"{self.path} has format version {why}, but this loopal_ipy reads "
                f"version {FORMAT_VERSION} (it was written by a newer loopal_ipy); "
                "upgrade loopal_ipy to use it — the file is left untouched",
            )
            return result
        if kind == "shape":
            return self._quarantine(result, now, f"has the wrong shape ({why})", untrusted)
        journal, sealed = None, False
        if doc["version"] >= 2:
            info = doc.get("journal") or {"generation": 0, "offset": 0}
            journal, refused, sealed = self._read_journal(result, info["generation"], info["offset"], raw)
            if refused is not None and untrusted is None:
                untrusted = refused
                self._latch(result, f"{refused}, so its durable jobs are NOT run")
            self._generation = max(info["generation"], (journal.generation or 0) if journal else 0)
        if untrusted is not None:
            result.untrusted = [j for j in map(self._try_job, doc["jobs"]) if j is not None]
            return result
        if journal is not None and journal.bad and not self.read_only:
            self._set_journal_aside(result, journal, now)
        self._apply_rules(result, doc["jobs"], now, set(live_runs), journal, doc.get("session"), sealed)
        self._after_load(result, journal, doc.get("journal") or {}, now)
        return result

    def _quarantine(self, result: LoadResult, now: datetime, why: str, untrusted: str | None) -> LoadResult:
        if untrusted is not None or self.read_only:
            return result  # never move files around in a store we do not trust
        target = self._bad_path(now)
        try:
            os.rename(self.path, target)
        except OSError as e:
            self._latch(result, f"{self.path} {why} and could not be moved aside ({e.strerror or e})")
            return result
        result.quarantined.append(target)
        result.changed = True
        self._warn(
            result,
            f"loopal_ipy: {self.path} {why}; moved it to {target.name} (bytes untouched) "
            "and started this session with no durable jobs",
        )
        return result

    def _try_job(self, entry: Any) -> CronJob | None:
        try:
            return rebuild(entry, self.history_size)
        except Exception:  # any bad value is a bad entry; the caller decides what to say
            return None

    def _apply_rules(
        self,
        result: LoadResult,
        entries: list[Any],
        now: datetime,
        live_runs: set[str],
        journal: JournalRead | None,
        doc_session: Any = None,
        sealed: bool = False,
    ) -> None:
        rejects: list[dict[str, Any]] = []  # entries that leave the file: preserved in a .bad- file
        seen: set[str] = set()
        names: set[str] = set()
        result.limit = max(self.max_jobs, recorded_limit(doc_session))
        self._disk_defs, self._disk_states = {}, {}
        states = journal.states if journal is not None else {}
        schedules: dict[Any, Any] | None = {} if sealed else None  # parsed once per (text, zone) in this load
        for i, entry in enumerate(entries):
            if states and isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"] in states:
                entry = {**entry, **states[entry["id"]]}  # the journal's state is newer
            try:
                job = rebuild(entry, self.history_size, schedules)
                if journal is not None and job.id in journal.runs:
                    job.merge_runs(journal.runs[job.id])
                self._on_disk(job, entry, journal)
                self.validate(job, names, sealed)
                why = f"duplicate id {job.id} (entry {i})" if job.id in seen else None
                if why is None:
                    seen.add(job.id)
                    if job.name:
                        names.add(job.name)
                    if not self._take(result, job, now, entry.get("running") is True, job.id in live_runs):
                        continue
            except Exception as e:  # a bad schedule, a missing field, an impossible time
                why = f"{entry_label(entry, i)} is not a valid job ({type(e).__name__}: {short(e, 60)})"
            if why is not None:
                rejects.append({"index": i, "reason": why, "entry": entry})
                continue
            result.jobs.append(job)
        if rejects:
            kept_in = self._keep_rejects(result, rejects, now)
            note = f"; kept in {kept_in}" if kept_in else ""
            result.dropped.extend(dropped_entry(r["entry"], r["index"], r["reason"] + note) for r in rejects)
        result.changed = result.changed or bool(result.dropped)

    def _on_disk(self, job: CronJob, entry: dict[str, Any], journal: JournalRead | None) -> None:
        """Note the job as the files hold it (with a load marker's word applied): a save writes the difference."""
        apply_markers(job, journal)
        state = state_of(job)
        self._disk_defs[job.id] = definition(job)
        self._disk_states[job.id] = state._replace(running=True) if entry.get("running") is True else state

    def _take(self, result: LoadResult, job: CronJob, now: datetime, marked: bool, live: bool) -> bool:
        """The load rules for one valid job; False if it ends here (a one-shot whose time has passed).
        ``marked``: the files say a run of it was going; ``live``: one still is, in this very process."""
        if gone := once_gone(job, now):  # a normal end, like a one-shot that ran: nothing to preserve
            result.dropped.append(Dropped(job.label, gone, job.id, job.name))
            return False
        if job.recurring and not job.paused:  # no catch-up: the next fire is the first occurrence after now
            missed = count_missed(job, now)
            if missed:
                result.missed[job.id] = missed
        if job.rehydrate(now):
            result.changed = True
        if live:  # a session switched back while its run goes on: the run's mark belongs on disk
            job.live_run()
            result.changed = result.changed or not marked
        elif marked:  # the run was going when its kernel stopped
            pause_stuck(result, job, now)
        hold_over_limit(result, job)
        return True

    def _keep_rejects(self, result: LoadResult, rejects: list[dict[str, Any]], now: datetime) -> str | None:
        """Preserve rejected entries verbatim in a new ``.bad-`` file; latch read-only if that fails."""
        doc = rejects_document(rejects, FILE_NAME, now)
        try:
            target = self._bad_path(now)  # free, and we own the session; O_EXCL still refuses to overwrite
            with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
                f.write(dump_json(doc))
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self._latch(
                result,
                f"{len(rejects)} bad entries in {self.path} could not be preserved "
                f"({e.strerror or e}), so the file is not rewritten",
            )
            return None
        result.quarantined.append(target)
        self._warn(
            result,
            f"loopal_ipy: {plural(len(rejects), 'entry', 'entries')} of {self.path} could not be "
            f"loaded; kept verbatim in {target.name}",
        )
        return target.name
