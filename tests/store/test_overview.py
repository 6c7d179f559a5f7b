"""`loopal-ipy jobs` (docs/durable.md): every session's durable jobs, read-only, no lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from storeutil import child_env

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.storage.store import Store


def make_session(home: Path, sid: str, *, names: list[str], fail: bool = False) -> None:
    clock = FakeClock("2026-01-05T12:00:00+00:00")
    sched = Scheduler(clock, Settings(timezone="UTC"))
    store = Store(home, sid)
    for n in names:
        sched.create("@every 1h", f"{n}()", durable=True, name=n)
    clock.advance(3600)
    for fire in sched.due():
        sched.finish(
            fire.job, Run(started_at=clock.now(), status="error" if fail else "ok", error="E" if fail else None)
        )
    assert store.save(sched.jobs(), clock.now())


def owner(home: Path, sid: str, pid: int) -> None:
    record = {
        "pid": pid,
        "hostname": socket.gethostname(),
        "started_at": "2026-01-05T12:00:00Z",
        "label": f"{sid}.ipynb",
    }
    (home / "sessions" / sid / "owner.json").write_text(json.dumps(record))


def snapshot(home: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in home.rglob("*") if p.is_file()}


def test_jobs_lists_every_session_and_touches_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_session(home, "live-nb", names=["poll", "report"])
    owner(home, "live-nb", os.getpid())
    make_session(home, "dead-nb", names=["nightly"], fail=True)
    owner(home, "dead-nb", 2**22 + 12345)  # no such process
    make_session(home, "corrupt-nb", names=["x"])
    (home / "sessions" / "corrupt-nb" / "cron.json").write_text("{not json")
    make_session(home, "future-nb", names=["y"])
    (home / "sessions" / "future-nb" / "cron.json").write_text(json.dumps({"version": 9, "jobs": []}))
    make_session(home, "shared-nb", names=["z"])
    (home / "sessions" / "shared-nb" / "cron.json").chmod(0o666)
    before = snapshot(home)

    def run(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "loopal_ipy.cli", "jobs", "--home", str(home), *args],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    doc = json.loads(run("--json"))
    text = run()
    assert snapshot(home) == before  # bytes, mtimes and modes unchanged, and no file added or removed
    by = {s["session"]: s for s in doc["sessions"]}
    assert sorted(by) == ["corrupt-nb", "dead-nb", "future-nb", "live-nb", "shared-nb"]
    assert by["live-nb"]["status"] == "ok" and by["live-nb"]["owner"]["pid"] == os.getpid()
    assert by["live-nb"]["notebook"] == "live-nb.ipynb"
    assert [j["name"] for j in by["live-nb"]["jobs"]] == ["poll", "report"]
    assert by["live-nb"]["jobs"][0]["last_status"] == "ok" and by["live-nb"]["jobs"][0]["runs"] == 1
    assert by["dead-nb"]["owner"] is None and by["dead-nb"]["jobs"][0]["last_status"] == "error"
    assert by["corrupt-nb"]["status"].startswith("corrupt: not valid JSON") and by["corrupt-nb"]["jobs"] == []
    assert by["future-nb"]["status"].startswith("written by a newer loopal_ipy (format 9")
    assert by["shared-nb"]["status"].startswith("untrusted: ") and "shown, never run" in by["shared-nb"]["status"]
    assert "session live-nb, notebook live-nb.ipynb: ok, owned by pid" in text
    assert "  " + by["live-nb"]["jobs"][0]["id"] + " (poll)  @every 1h [UTC]  next " in text


def test_jobs_with_no_store_says_so(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loopal_ipy.cli", "jobs", "--home", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.startswith("no sessions under ")
