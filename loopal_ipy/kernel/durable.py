"""Durable jobs in a kernel (docs/durable.md): which session, who owns it, load, save, take over, adopt.

The store and the lock are pure file code; this is where they meet the live
scheduler. Only the kernel that holds a session's lock fires its durable jobs
and writes its file; another kernel on the same session waits, retrying the
lock every ``TAKEOVER_POLL`` seconds (the OS lock has no "released" signal),
and rehydrates as soon as it gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import StoreError
from ..core.events import Kind
from ..core.job import CronJob
from ..core.limits import check_stored
from ..core.scheduler import Scheduler
from ..storage.loadrules import Dropped, LoadResult
from ..storage.lock import SessionLock, pid_alive
from ..storage.session import (
    PRIVATE_PREFIX,
    THIS_KERNEL,
    SessionInfo,
    ensure_dir,
    is_safe_session_id,
    loopal_home,
    os_trouble,
    random_session_id,
    resolve_session,
    sanitize_session_id,
    session_dir,
)
from ..storage.store import Store

SWEEP_AGE = 60.0  # seconds: a kernel-run folder younger than this is never swept (its kernel may be locking it)
DROPPED_KEPT = 1_000  # the reasons %cron log gives for jobs that did not come back
TAKEOVER_POLL = 2.0  # seconds between lock attempts by a kernel that does not own its session
LOCK_CHECK = 5.0  # seconds between looks at its lock by a kernel that owns durable jobs


class DurableSession:
    """One kernel's view of its session store."""

    def __init__(
        self,
        core: Scheduler,
        *,
        home: str | None,
        env: dict[str, str],
        user_ns: dict[str, Any],
        connection_file: str | None,
        rehydrate: str = "run",
        warn: Callable[[str], None],
        call_later: Callable[[float, Callable[[], None]], asyncio.TimerHandle],
    ) -> None:
        self.core = core
        self.env = env
        self.user_ns = user_ns
        self.connection_file = connection_file
        self.home = loopal_home(env, home or None)
        self.rehydrate = rehydrate
        self.warn = warn
        self.call_later = call_later
        self.info: SessionInfo | None = None
        self.store: Store | None = None
        self.lock: SessionLock | None = None
        self.last_load: LoadResult | None = None
        self.dropped: deque[Dropped] = deque(maxlen=DROPPED_KEPT)  # every load's, for %cron log
        self._poll: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = None
        self.on_takeover: Callable[[], None] = lambda: None
        self.pending = False  # the session has no folder yet: it is made by the first durable create
        self._announced = False

    # ------------------------------------------------------------- opening
    def open(self, override: str | None = None) -> str:
        """Resolve the session and, if it has a folder, take its lock and rehydrate; returns what to say.

        A session with no folder yet has nothing to load: the folder and the lock are
        taken at the first durable create (opening a notebook leaves nothing on disk).
        """
        self.info = resolve_session(
            self.env, self.user_ns, self.connection_file, override, fallback=random_session_id()
        )
        assert self.info is not None
        self._sweep_private_sessions()
        self._use_home(self.home)
        assert self.store is not None  # _use_home set it
        if self.info.source == THIS_KERNEL and not os.path.lexists(self.store.directory):
            fallback = session_dir(_temp_home(), self.info.id)
            if os.path.lexists(fallback):  # a reload of a kernel whose home could not be written
                self._use_home(_temp_home())
        self.pending = not os.path.lexists(self.store.directory)
        return "" if self.pending else self._own()

    def _use_home(self, home: Path) -> None:
        assert self.info is not None
        self.home = home
        self.store = self._store(self.info.id)
        kernel_id = _kernel_id(self.connection_file)
        self.lock = SessionLock(self.store.directory, kernel_id=kernel_id, label=self.info.detail or None)

    def _sweep_private_sessions(self) -> None:
        """Folders of sessions of one kernel run (``kernel-run-<pid>-*``) whose kernel died without its exit (a
        kill: nbval, a crash) are never opened again: each one whose process is gone and whose lock is free is
        removed, in the home and in the temp fallback. Never this process's own (it may be unloaded for now)."""
        now = time.time()
        found = []
        for home in dict.fromkeys((self.home, _temp_home())):
            with contextlib.suppress(OSError):
                found += [d for d in (home / "sessions").glob(f"{PRIVATE_PREFIX}*") if d.is_dir()]
        for directory in found:
            pid = _PRIVATE_PID.match(directory.name)
            if pid is not None and (int(pid.group(1)) == os.getpid() or pid_alive(int(pid.group(1)))):
                continue
            with contextlib.suppress(OSError):
                if now - directory.stat().st_mtime < SWEEP_AGE:
                    continue  # made just now: its kernel may be taking its lock this moment
                lock = SessionLock(directory)
                if lock.try_acquire():
                    try:
                        remove_private_session(directory)
                    finally:
                        lock.release()

    def _own(self) -> str:
        """Take the session's lock if it is free and rehydrate; or wait for its owner to go."""
        assert self.store is not None and self.lock is not None and self.info is not None
        self.pending = False
        try:
            owned = self.lock.try_acquire()
        except StoreError as e:
            self.store.read_only, self.store.read_only_reason = True, str(e)
            self.warn(f"loopal_ipy: {e}; durable jobs of session {self.info.id} are not loaded")
            return str(e)
        if not owned:
            self._schedule_takeover()
            msg = (
                f"loopal_ipy: session {self.info.id} is owned by {self.lock.owner_text()}; this kernel neither "
                f"fires its durable jobs nor writes its file, and takes over when that kernel exits"
            )
            self.core.emit(Kind.STORE, "-", msg.removeprefix("loopal_ipy: "))
            return msg
        return self._rehydrate()

    def _rehydrate(self) -> str:
        assert self.store is not None
        result = self.store.load(self.core.clock.now(), live_runs=self.core.active)
        self.last_load = result
        for job in result.jobs:
            renamed = self.core.take_in(job, paused=self.rehydrate == "paused")
            self.core.emit(
                Kind.RESTORED,
                job,
                (
                    "paused for review (Cron.rehydrate = 'paused')"
                    if job.paused
                    else f"next fire {job.next_fire.isoformat() if job.next_fire else '—'}"
                )
                + renamed,
            )
            if renamed:  # not routine: the table's footer says it
                self.core.emit(Kind.STORE, job, f"restored {job.id}{renamed}")
        self.dropped.extend(result.dropped)
        for gone in result.dropped:
            self.core.emit(Kind.DROPPED, gone.job_id or "-", f"{gone.label} dropped at load: {gone.reason}")
        for job_id, count in result.missed.items():
            self.core.emit(
                Kind.MISSED,
                job_id,
                f"{count}{'+' if count >= 1000 else ''} occurrence(s) passed while no kernel ran; not caught up",
            )
        return result.summary()

    def _writable_or_temp(self) -> None:
        """This kernel's own session needs no home that lasts: where the home cannot be written (a read-only
        HOME in a CI container), it goes to a folder in the system's temp folder instead, said once."""
        try:
            ensure_dir(self.home / "sessions")
            return
        except OSError as e:
            why = os_trouble(e, self.home)
        fallback = _temp_home()
        self.warn(
            f"loopal_ipy: {self.home} cannot be written ({why}); this kernel's own session goes to "
            f"{fallback} instead, removed when the kernel exits"
        )
        self._use_home(fallback)

    def _validate(self, job: CronJob, names: set[str], sealed: bool) -> None:
        check_stored(job, names, self.core.settings, None if sealed else self.core.check_code)

    def discard_if_private(self) -> None:
        """At exit: a session of this kernel only can never be opened again, so leave nothing behind."""
        if self.info is None or self.info.source != THIS_KERNEL or self.store is None or not self.owner:
            return
        remove_private_session(self.store.directory)

    def close(self) -> None:
        """Release the lock and stop waiting for it (the caller saves first)."""
        for timer in (self._poll, self._watch):
            if timer is not None:
                timer.cancel()
        self._poll = self._watch = None
        if self.lock is not None:
            self.lock.release()

    # ---------------------------------------------------------------- state
    @property
    def owner(self) -> bool:
        return self.lock is not None and self.lock.held

    def elsewhere(self) -> str | None:
        """Where this session's durable jobs are when another kernel owns it: a job not found here may be
        there (None when this kernel owns its session, or has none)."""
        if self.info is None or self.lock is None or self.owner or self.store is None or self.store.read_only:
            return None
        if self.lock.owner() is None:  # no live kernel holds it (a session not made yet, a dead owner)
            return None
        return (
            f"session {self.info.id}'s durable jobs run in {self.lock.owner_text()}, not here: act on them "
            "in that kernel (this one takes the session over when it exits)"
        )

    def check_can_create(self) -> None:
        """Refuse a durable create that could not be kept, saying why (and make the folder if it is the first)."""
        if self.info is None:
            raise StoreError("no session for durable jobs; create the job without --durable")
        if self.pending and self.info.source == THIS_KERNEL:
            self._writable_or_temp()
        if self.pending:
            said = self._own()
            if said and (self.last_load is None or self.last_load.notable):  # "restored 0" is no news
                self.core.emit(Kind.STORE, "-", said.removeprefix("loopal_ipy: "))
        if self.info.source in (THIS_KERNEL, "kernel") and not self._announced:
            self._announced = True
            self.warn(_no_notebook(self.info.source, self.info.id))
        if self.store is not None and self.store.read_only:  # the cause first: a store we cannot even lock
            raise StoreError(
                f"the durable store {self.store.path} is read-only for this session "
                f"({self.store.read_only_reason or 'see the warning'}); create the job without --durable"
            )
        if not self.owner:
            raise StoreError(
                f"session {self.info.id} is owned by {self.lock.owner_text() if self.lock else 'another kernel'}; "
                "only that kernel can create durable jobs in it (this one takes over when it exits)"
            )

    def save(self, jobs: list[CronJob], *, settled: bool = False) -> bool:
        """Write the durable set; True when nothing needs writing by this kernel (``settled``: see Store.encode)."""
        if not self._writes():
            return True
        assert self.store is not None
        return self.store.save(jobs, self.core.clock.now(), settled=settled)

    def save_some(self, changed: list[CronJob]) -> bool:
        """Write the state and new runs of these jobs alone (a batch saves each job as it starts and ends)."""
        if not self._writes():
            return True
        assert self.store is not None
        return self.store.save_some(changed, self.core.jobs, self.core.clock.now())

    @property
    def compaction_due(self) -> bool:
        """The journal is due for compaction: a whole save does it (``Store.compaction_due``)."""
        return self.store is not None and self.store.compaction_due

    def _writes(self) -> bool:
        """Whether this kernel writes the store now (it owns the session, still)."""
        if self.store is None or not self.owner or self.store.read_only or not self._still_owner():
            return False
        self._watch_lock()
        return True

    def _still_owner(self) -> bool:
        """Checked before every save (and so before a durable job's code starts) and on a timer: a lock
        file deleted or replaced under this kernel is taken again if free, else this kernel stands down."""
        assert self.lock is not None and self.store is not None and self.info is not None
        why = self.lock.lost()
        if why is None:
            return True
        try:
            got = self.lock.retake()
        except StoreError:
            got = False
        sid = self.info.id
        if got:
            self.store.rewrite_next()
            self.warn(
                f"loopal_ipy: session {sid}: {why} while this kernel owned it; it took the lock again and "
                "writes the store afresh (if you meant to delete its jobs: %cron delete --all)"
            )
            return True
        self.warn(
            f"loopal_ipy: session {sid}: {why} while this kernel owned it, and {self.lock.owner_text()} holds "
            "the lock now: this kernel stops firing the session's durable jobs (paused here; the owner has "
            "them) and takes over when that kernel exits"
        )
        for job in self.core.jobs():
            if job.durable and not job.paused:
                self.core.pause(job.id, f"session {sid} is owned by another kernel now ({why})")
        self._schedule_takeover()
        return False

    def _watch_lock(self) -> None:
        """While this kernel owns durable jobs, look at its lock now and then, not only when it saves."""
        if self._watch is None:
            self._watch = self.call_later(LOCK_CHECK, self._look_at_lock)

    def _look_at_lock(self) -> None:
        self._watch = None
        durable = self.owner and self.store is not None and any(j.durable for j in self.core.jobs())
        if durable and self._still_owner():
            self._watch_lock()

    @property
    def problem(self) -> str | None:
        """Why the store cannot be written now (its last save failed), or None."""
        return self.store.problem if self.store is not None and self.store.dirty else None

    @property
    def retry_delay(self) -> float:
        return self.store.retry_delay if self.store is not None else 0.0

    # ------------------------------------------------------------- takeover
    def _schedule_takeover(self) -> None:
        self._poll = self.call_later(TAKEOVER_POLL, self._try_takeover)

    def _try_takeover(self) -> None:
        self._poll = None
        if self.lock is None or self.store is None:
            return
        try:
            got = self.lock.try_acquire()
        except StoreError:
            got = False
        if not got:
            self._schedule_takeover()
            return
        # Jobs this kernel held paused after it lost the lock: the stored copies win, the rest stay.
        stale = [job for job in self.core.jobs() if job.durable]
        for job in stale:
            self.core.remove(job, "replaced by the stored copy: this kernel took the session over")
        summary = self._rehydrate()
        back = {job.id for job in self.core.jobs()}
        for job in stale:
            if job.id not in back:
                self.core.take_in(job, paused=True)
        self.core.emit(
            Kind.STORE, "-", f"took over session {self.store.session_id}: {summary.removeprefix('loopal_ipy: ')}"
        )
        self.on_takeover()

    # ------------------------------------------------------ switch and adopt
    def switch(self, name: str, jobs: list[CronJob]) -> str:
        """Leave the current session (its durable jobs stay on disk) and open ``name``."""
        # A run still going here is no crash for whoever opens the session next: save it settled.
        if not self.save(jobs, settled=True):
            raise StoreError("could not save the current session before switching; nothing changed")
        for job in jobs:
            if job.durable:
                self.core.remove(job, "left with its session")
        self.close()
        return self.open(override=name)

    def _store(self, session_id: str) -> Store:
        settings = self.core.settings
        return Store(
            self.home,
            session_id,
            history_size=settings.history_size,
            max_jobs=settings.max_jobs,
            warn=self.warn,
            validate=self._validate,
        )

    def adopt(self, other: str, jobs: list[CronJob]) -> str:
        """Move another session's durable jobs here (a renamed or moved notebook)."""
        self.check_can_create()
        assert self.store is not None and self.info is not None
        # OTHER is a folder name under sessions/ (an id already), or the name it was opened with.
        other_id = other if is_safe_session_id(other) else sanitize_session_id(other)
        if other_id == self.info.id:
            raise StoreError(f"session {other_id} is this session; name the old one (see {self.home / 'sessions'})")
        other_dir = session_dir(self.home, other_id)
        if not (other_dir / "cron.json").exists():
            raise StoreError(f"session {other_id} has no durable jobs ({other_dir / 'cron.json'} does not exist)")
        other_lock = SessionLock(other_dir)
        if not other_lock.try_acquire():
            raise StoreError(f"session {other_id} is in use by {other_lock.owner_text()}; shut that kernel down first")
        try:
            other_store = self._store(other_id)
            result = other_store.load(self.core.clock.now())
            if other_store.read_only:
                raise StoreError(
                    f"session {other_id}'s store is read-only ({other_store.read_only_reason}); nothing adopted"
                )
            room = self.core.settings.max_jobs - len(jobs)
            if len(result.jobs) > room:
                raise StoreError(
                    f"session {other_id} has {len(result.jobs)} jobs but only {room} fit "
                    "(Cron.max_jobs); nothing adopted"
                )
            for job in result.jobs:
                renamed = self.core.take_in(job)
                self.core.emit(Kind.RESTORED, job, f"adopted from session {other_id}{renamed}")
                if renamed:
                    self.core.emit(Kind.STORE, job, f"adopted {job.id}{renamed}")
            if not self.save(self.core.jobs()):
                raise StoreError("adopted jobs could not be saved yet; they run and saving is retried")
            stamp = int(self.core.clock.now().timestamp() * 1000)
            os.rename(other_store.path, other_store.path.with_name(f"cron.json.adopted-{stamp}"))
            with contextlib.suppress(FileNotFoundError):  # its run history is in this session's journal now
                os.rename(other_store.journal_path, other_store.journal_path.with_name(f"cron.journal.adopted-{stamp}"))
        finally:
            other_lock.release()
        return (
            f"adopted {len(result.jobs)} durable job(s) from session {other_id} into {self.info.id}; "
            f"the old file is kept as cron.json.adopted-{stamp}"
        )

    # ------------------------------------------------------------------ text
    def why_dropped(self, key: str) -> str | None:
        """Why the job ``key`` (id or name) did not come back at a load of this kernel's, or None."""
        gone = next((d for d in reversed(self.dropped) if key in (d.job_id, d.name)), None)
        return None if gone is None else f"{gone.label} dropped at load: {gone.reason}"

    def describe(self) -> str:
        if self.info is None:
            return "session: none (durable jobs are off)"
        assert self.store is not None and self.lock is not None
        if self.pending:
            owner = "none yet (the folder and its lock are made at the first durable create)"
        else:
            owner = "this kernel" if self.owner else self.lock.owner_text()
        source = self.info.source + (f": {self.info.detail}" if self.info.detail else "")
        latch = f" [read-only: {self.store.read_only_reason}]" if self.store.read_only else ""
        lines = [
            f"session: {self.info.id} (from {source})",
            f"store:   {self.store.path}{latch}",
            f"owner:   {owner}",
        ]
        if self.last_load is not None:
            lines.append(f"loaded:  {self.last_load.summary().removeprefix('loopal_ipy: ')}")
        return "\n".join(lines)


_PRIVATE_PID = re.compile(rf"^{PRIVATE_PREFIX}(\d+)-[0-9a-f]{{8}}$")


def _temp_home() -> Path:
    """Where a session of one kernel run goes when the home cannot be written."""
    return Path(tempfile.gettempdir()) / f"loopal-{os.getuid()}"


def remove_private_session(directory: Path) -> None:
    """The files of a session of one kernel run, and its folder if that leaves it empty (a quarantined
    ``.bad-`` file stays for the user); then ``sessions/`` and the home, if empty and in the temp folder."""
    for name in ("cron.json", "cron.journal", "owner.json", "cron.lock"):
        with contextlib.suppress(OSError):
            os.unlink(directory / name)
    with contextlib.suppress(OSError):
        os.rmdir(directory)
    home = directory.parent.parent
    if home == _temp_home():
        with contextlib.suppress(OSError):
            os.rmdir(directory.parent)
            os.rmdir(home)


def _no_notebook(source: str, session_id: str) -> str:
    """Said once, at the first durable create, where no notebook names the session: its jobs will not come
    back where the user expects (docs/durable.md)."""
    if source == THIS_KERNEL:
        return (
            f"loopal_ipy: this kernel has no notebook path (an executed notebook: papermill, nbconvert), "
            f"so its durable jobs go to session {session_id} of this kernel only: they run and survive "
            "%reload_ext, but will not come back in a new kernel (set LOOPAL_SESSION_ID to keep them)"
        )
    return (
        f"loopal_ipy: this kernel has no notebook path (jupyter console, a kernel started by hand), so its "
        f"durable jobs go to session {session_id}, named after this kernel: they come back when this kernel "
        "restarts, but not in a new console or kernel (set LOOPAL_SESSION_ID, or %cron session NAME, to keep them)"
    )


def _kernel_id(connection_file: str | None) -> str | None:
    if not connection_file:
        return None
    name = Path(connection_file).name
    return name[len("kernel-") : -len(".json")] if name.startswith("kernel-") and name.endswith(".json") else None


def connection_file_of(shell: Any) -> str | None:
    """The kernel's connection file, if this is a running Jupyter kernel.

    Looked up without importing ipykernel: outside a kernel, importing its app
    replaces ``comm.create_comm`` process-wide (widgets then stop sending).
    """
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    try:
        from ipykernel.connect import get_connection_file

        return get_connection_file()
    except Exception:
        return None
