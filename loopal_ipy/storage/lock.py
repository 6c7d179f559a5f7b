"""One live process owns a session's store (docs/durable.md).

The ownership is an OS lock (``flock`` through ``filelock``) on
``<session dir>/cron.lock``: the kernel releases it when the process dies, so
a crashed or killed owner never leaves a session stuck — the next kernel can
take over at once. Beside it, ``owner.json`` says who holds it so a second
kernel can tell the user *who* owns the session, not just that someone does.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from ..core.errors import StoreError
from .atomic import write_atomic
from .session import ensure_dir, os_trouble

LOCK_NAME = "cron.lock"
OWNER_NAME = "owner.json"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    except (OSError, OverflowError):
        return False
    return True


class SessionLock:
    """An exclusive, non-blocking, process-lifetime lock on one session directory."""

    def __init__(self, directory: Path, *, kernel_id: str | None = None, label: str | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.owner_path = self.directory / OWNER_NAME
        self.kernel_id = kernel_id
        self.label = label
        self._lock = self._new_lock()
        self._record: dict[str, Any] | None = None
        self._ident: tuple[int, int] | None = None  # (device, inode) of the file this lock is on

    def _new_lock(self) -> filelock.BaseFileLock:
        # No soft (marker-file) fallback: a soft lock would outlive a SIGKILLed
        # owner, which is exactly what this lock must never do.
        return filelock.FileLock(str(self.path), mode=0o600, thread_local=False, blocking=False, fallback_to_soft=False)

    @property
    def held(self) -> bool:
        """True while this object holds the OS lock."""
        return self._lock.is_locked

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits. Raises StoreError if locking is impossible."""
        if self.held:
            return True
        try:
            ensure_dir(self.directory)
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            return False
        except OSError as e:
            raise StoreError(
                f"cannot make or lock the session store {self.path}: {os_trouble(e, self.directory)}"
            ) from e
        fd = getattr(getattr(self._lock, "_context", None), "lock_file_fd", None)
        with contextlib.suppress(OSError):
            st = os.fstat(fd) if isinstance(fd, int) else os.stat(self.path)
            self._ident = (st.st_dev, st.st_ino)
        self._record = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "kernel_id": self.kernel_id,
            "label": self.label,
        }
        # The lock itself is what counts; without a record, owner() just says "unknown".
        with contextlib.suppress(OSError):
            write_atomic(self.owner_path, json.dumps(self._record, indent=1).encode(), fsync=False)
        return True

    def lost(self) -> str | None:
        """Why the lock this object holds no longer guards the session, or None.

        The OS lock is on a file: delete that file (or its folder) and another kernel can make a
        new one and lock it too. So an owner checks, before each save, that the path still leads
        to the file it locked.
        """
        if not self.held or self._ident is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "its lock file was deleted" if self.directory.is_dir() else "its folder was deleted"
        except OSError as e:
            return f"its lock file cannot be checked ({e.strerror or e})"
        return None if (st.st_dev, st.st_ino) == self._ident else "its lock file was replaced"

    def retake(self) -> bool:
        """After ``lost``: let go of the lock on the vanished file and take the one at the path now, if free."""
        self._lock.release(force=True)
        self._record, self._ident = None, None
        self._lock = self._new_lock()
        return self.try_acquire()

    def release(self) -> None:
        """Give the session up (idempotent); removes our owner record first."""
        if not self.held:
            return
        on_disk = self._read_record()
        if on_disk is not None and on_disk.get("pid") == os.getpid():
            with contextlib.suppress(OSError):  # a stale record is harmless: owner() checks the pid
                os.unlink(self.owner_path)
        self._record = None
        self._lock.release(force=True)

    def _read_record(self) -> dict[str, Any] | None:
        try:
            with open(self.owner_path, "rb") as f:
                data = json.loads(f.read(64 * 1024))
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def owner(self) -> dict[str, Any] | None:
        """Who holds the session: pid, hostname, started_at, kernel_id, label — or None.

        A record left by a dead process on this host is reported as None.
        """
        if self.held and self._record is not None:
            return dict(self._record)
        record = self._read_record()
        if record is None:
            return None
        pid = record.get("pid")
        same_host = record.get("hostname") == socket.gethostname()
        if same_host and (not isinstance(pid, int) or isinstance(pid, bool) or not pid_alive(pid)):
            return None
        return record

    def owner_text(self) -> str:
        """One phrase for messages, e.g. 'pid 4242 on host-a since 2026-01-05T12:00:00Z (kernel 1f2e)'."""
        record = self.owner()
        if record is None:
            return "another process (no owner record)"
        text = f"pid {record.get('pid')} on {record.get('hostname')} since {record.get('started_at')}"
        extra = ", ".join(f"{k} {record[k]}" for k in ("kernel_id", "label") if record.get(k))
        return f"{text} ({extra})" if extra else text

    def __enter__(self) -> SessionLock:
        if not self.try_acquire():
            raise StoreError(f"session store {self.directory} is owned by {self.owner_text()}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<SessionLock {self.path} held={self.held}>"
