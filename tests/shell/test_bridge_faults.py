"""The kernel bridge under disk faults, on a real asyncio loop (docs/durable.md).

No kernel is needed for this: an in-process shell, a real loop that we run for
a few seconds, and a store whose writer fails until the fault clears.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from shellutil import build_bridge, run_until

from loopal_ipy.core.errors import StoreError


def build(shell, tmp_path: Path, warned: list[str]):
    return build_bridge(shell, tmp_path / "home", "faults", warned.append)


def test_failing_writer_keeps_jobs_running_warns_once_and_heals(shell, tmp_path: Path) -> None:
    warned: list[str] = []
    loop, bridge, durable = build(shell, tmp_path, warned)
    try:
        store = durable.store
        good = store._write_bytes
        failures = []

        def disk_full(path, data):
            failures.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")

        store._write_bytes = disk_full
        shell.user_ns["hits"] = 0
        job = bridge.create("@every 1s", "hits += 1", durable=True, name="tick")
        run_until(loop, lambda: shell.user_ns["hits"] >= 3 and len(failures) >= 2)  # runs go on, saves retried
        assert [w for w in warned if "could not save" in w] == [warned[0]] and len(warned) == 1
        assert bridge._dirty and not store.path.exists()

        store._write_bytes = good  # the fault clears
        run_until(loop, lambda: any("works again" in w for w in warned))
        saved = json.loads(store.path.read_text())
        [entry] = saved["jobs"]
        assert entry["id"] == job.id and entry["code"] == "hits += 1"
        assert entry["last_fired"] is not None
    finally:
        bridge.stop()
        loop.close()


def test_read_only_store_refuses_new_durable_jobs_but_runs_the_rest(shell, tmp_path: Path) -> None:
    warned: list[str] = []
    home = tmp_path / "home" / "sessions" / "faults"
    home.mkdir(parents=True, mode=0o700)
    (home / "cron.json").write_text(json.dumps({"version": 99, "jobs": []}))
    (home / "cron.json").chmod(0o600)
    loop, bridge, durable = build(shell, tmp_path, warned)
    try:
        assert durable.store.read_only and len(warned) == 1 and "version 99" in warned[0]
        with pytest.raises(StoreError, match=r"^the durable store .*cron\.json is read-only for this session"):
            bridge.create("@every 1s", "pass", durable=True)
        assert bridge.jobs() == []
        shell.user_ns["n"] = 0
        bridge.create("@every 1s", "n += 1")
        run_until(loop, lambda: shell.user_ns["n"] >= 1)
        assert json.loads((home / "cron.json").read_text())["version"] == 99  # never written over
    finally:
        bridge.stop()
        loop.close()
