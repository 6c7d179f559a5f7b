"""kill -9 during saves (docs/durable.md): the file is always the old job set or the new one, never a mix.

A forked child saves two job sets in turn, as fast as it can; the test kills
it with SIGKILL at random moments, hundreds of times, restarting it each time,
and after every kill reads what is on disk. Forking (rather than starting a
new interpreter) keeps a restart at about a millisecond, so the kills land at
every phase of a save: while the temp file is written, fsynced, renamed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from storeutil import SID

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import CronJob
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.storage.store import Store

KILLS = 250


def job_sets() -> tuple[list[CronJob], list[CronJob]]:
    """Two different durable sets; big code makes each save take long enough to be interrupted."""
    sched = Scheduler(FakeClock(), Settings(timezone="UTC"))
    filler = "# " + "x" * 40_000
    old = [sched.create("@every 10s", f"old_{i} = 1\n{filler}", durable=True) for i in range(4)]
    new = [sched.create("*/5 * * * *", f"new_{i} = 2\n{filler}", durable=True) for i in range(3)]
    return old, new


def saver(home: Path, old: list[CronJob], new: list[CronJob]) -> None:
    """The child: save old, new, old, … until killed."""
    store = Store(home, SID, warn=lambda message: None)
    while True:
        store.save(old)
        store.save(new)


def spawn(home: Path, old: list[CronJob], new: list[CronJob]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which only ever ends by SIGKILL
        try:
            saver(home, old, new)
        finally:
            os._exit(1)
    return pid


def jobs_on_disk(path: Path) -> list[dict[str, Any]] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    doc = json.loads(raw)  # a torn or empty file fails right here
    assert doc["version"] == 2 and doc["session"]["id"] == SID
    return doc["jobs"]


def definition(job: CronJob) -> dict[str, Any]:
    entry = job.to_dict()
    del entry["history"]  # the journal's
    return entry


def test_sigkill_during_saves_leaves_old_or_new(tmp_path: Path) -> None:
    old, new = job_sets()
    expected = {"old": [definition(j) for j in old], "new": [definition(j) for j in new]}
    home = tmp_path / "home"
    store = Store(home, SID)
    rng = random.Random(20260105)
    seen = {"old": 0, "new": 0, "missing": 0}
    mid_write = 0
    existed = False
    started = time.monotonic()
    for _ in range(KILLS):
        pid = spawn(home, old, new)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        mid_write += store.path.with_name(store.path.name + ".tmp").exists()  # write_atomic's temp file
        jobs = jobs_on_disk(store.path)
        if jobs is None:
            assert not existed, "cron.json vanished after it had been written"
            seen["missing"] += 1
            continue
        existed = True
        matches = [name for name, want in expected.items() if jobs == want]
        assert matches, f"cron.json holds neither job set: {[j['id'] for j in jobs]}"
        seen[matches[0]] += 1
    elapsed = time.monotonic() - started
    # The test means something only if kills landed mid-save and both sets were seen.
    assert seen["old"] > 0 and seen["new"] > 0, seen
    assert mid_write > 0, "no kill landed while a temp file was being written"
    assert elapsed < 60, elapsed
    result = Store(home, SID).load(FakeClock().now())
    assert [definition(j) for j in result.jobs] in expected.values()
    print(f"{KILLS} kills in {elapsed:.1f} s: {seen}, {mid_write} with a temp file in flight")
