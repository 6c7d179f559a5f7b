"""One live process owns a session (docs/durable.md): contention between processes, death releases."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from storeutil import run_child

from loopal_ipy.core.errors import StoreError
from loopal_ipy.storage.lock import SessionLock

HOLDER = """
import os, sys
from loopal_ipy.storage.lock import SessionLock
lock = SessionLock({directory!r}, kernel_id="kid-child", label="child")
print("locked" if lock.try_acquire() else "busy", flush=True)
if {fork}:
    pid = os.fork()
    if pid == 0:  # a forked grandchild (think multiprocessing) must not keep the lock alive
        import time; time.sleep(60); os._exit(0)
    print(pid, flush=True)
line = sys.stdin.readline()
if line.strip() == "release":
    lock.release()
    print("released", flush=True)
    sys.stdin.readline()
"""


def start_holder(directory: Path, fork: bool = False):
    child = run_child(HOLDER.format(directory=str(directory), fork=fork), stdin=-1)
    assert child.stdout.readline().strip() == "locked", child.stderr.read()
    return child


def test_two_locks_in_one_process_contend(tmp_path):
    first, second = SessionLock(tmp_path / "s", label="first"), SessionLock(tmp_path / "s")
    assert first.try_acquire() and first.held
    assert first.try_acquire()  # already ours
    assert second.try_acquire() is False and not second.held
    assert second.owner()["label"] == "first" and second.owner()["pid"] == os.getpid()
    assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(first.owner_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "s").st_mode) == 0o700
    first.release()
    first.release()  # idempotent
    assert not first.held and not first.owner_path.exists() and first.owner() is None
    assert second.try_acquire() and second.owner()["label"] is None
    second.release()


def test_context_manager_says_who_owns_it(tmp_path):
    with SessionLock(tmp_path, kernel_id="k-1", label="nb.ipynb") as held:
        assert held.held
        with (
            pytest.raises(
                StoreError,
                match=rf"^session store {tmp_path} is owned by pid {os.getpid()} on .* "
                r"since .*Z \(kernel_id k-1, label nb.ipynb\)$",
            ),
            SessionLock(tmp_path),
        ):
            pass
    assert not held.held


def test_contention_between_processes(tmp_path):
    child = start_holder(tmp_path)
    try:
        mine = SessionLock(tmp_path)
        assert mine.try_acquire() is False
        owner = mine.owner()
        assert owner["pid"] == child.pid and owner["kernel_id"] == "kid-child" and owner["label"] == "child"
        assert mine.owner_text().startswith(f"pid {child.pid} on ")
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
        assert mine.try_acquire() is True
        assert mine.owner()["pid"] == os.getpid()
        mine.release()
    finally:
        child.kill()
        child.wait()


def test_the_lock_dies_with_its_process(tmp_path):
    child = start_holder(tmp_path)
    mine = SessionLock(tmp_path)
    assert mine.try_acquire() is False
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert json.loads(mine.owner_path.read_text())["pid"] == child.pid  # the record is stale ...
    assert mine.owner() is None  # ... and recognised as such
    assert mine.try_acquire()  # at once: nothing to wait out once the owner is dead
    mine.release()


def test_another_process_takes_over_after_a_kill(tmp_path):
    first = start_holder(tmp_path)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    second = start_holder(tmp_path)  # start_holder asserts that it printed "locked"
    try:
        assert SessionLock(tmp_path).try_acquire() is False
    finally:
        second.kill()
        second.wait()


def test_a_forked_child_does_not_keep_a_dead_owner_lock(tmp_path):
    holder = start_holder(tmp_path, fork=True)
    grandchild = int(holder.stdout.readline())
    try:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        os.kill(grandchild, 0)  # still alive, holding a copy of every descriptor
        mine = SessionLock(tmp_path)
        # Soon (a generous deadline, not a timing claim), though the grandchild still holds a copy of
        # the descriptor: seen to need a few polls right after the holder's death.
        deadline = time.monotonic() + 10
        while not mine.try_acquire():
            assert time.monotonic() < deadline, f"lock not free after 10 s; owner {mine.owner()}"
            time.sleep(0.01)
        mine.release()
    finally:
        os.kill(grandchild, signal.SIGKILL)
