"""`%cron session NAME` and `%cron session --adopt OTHER` on a real store (docs/durable.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shellutil import build_bridge

from loopal_ipy.core.errors import StoreError
from loopal_ipy.kernel.bridge import KernelScheduler
from loopal_ipy.storage.lock import SessionLock


@pytest.fixture
def make(shell, tmp_path: Path):
    made = []

    def build(session: str) -> KernelScheduler:
        loop, bridge, _ = build_bridge(shell, tmp_path / "home", session)
        made.append((bridge, loop))
        return bridge

    yield build
    for bridge, loop in made:
        bridge.stop()
        loop.close()


def saved(tmp_path: Path, session: str) -> list[str]:
    path = tmp_path / "home" / "sessions" / session / "cron.json"
    return [j["code"] for j in json.loads(path.read_text())["jobs"]] if path.exists() else []


def test_switch_leaves_durable_jobs_on_disk_and_loads_the_other_session(make, tmp_path: Path) -> None:
    bridge = make("first")
    bridge.create("@daily", "a = 1", durable=True)
    bridge.create("@daily", "b = 1")  # not durable: stays in the kernel
    text = bridge.switch_session("second")
    assert "session: second (from override: second)" in text
    assert sorted(j.code for j in bridge.jobs()) == ["b = 1"]
    assert saved(tmp_path, "first") == ["a = 1"]
    bridge.create("@daily", "c = 1", durable=True)
    bridge.flush()
    assert saved(tmp_path, "second") == ["c = 1"]
    bridge.switch_session("first")
    assert sorted(j.code for j in bridge.jobs()) == ["a = 1", "b = 1"]
    assert not SessionLock(tmp_path / "home" / "sessions" / "second").owner()  # released


def test_adopt_moves_jobs_and_keeps_the_old_file(make, tmp_path: Path) -> None:
    old = make("old-name")
    old.create("@daily", "report()", durable=True, name="report")
    old.stop()  # the old kernel is gone
    old.store.close()
    bridge = make("new-name")
    text = bridge.adopt_session("old-name")
    assert text.startswith("adopted 1 durable job(s) from session old-name into new-name")
    assert [(j.name, j.code) for j in bridge.jobs()] == [("report", "report()")]
    assert saved(tmp_path, "new-name") == ["report()"]
    old_dir = tmp_path / "home" / "sessions" / "old-name"
    assert not (old_dir / "cron.json").exists()
    [kept] = list(old_dir.glob("cron.json.adopted-*"))
    assert json.loads(kept.read_text())["jobs"][0]["code"] == "report()"


def test_adopt_refuses_a_session_in_use_and_changes_nothing(make, tmp_path: Path) -> None:
    busy = make("busy")
    busy.create("@daily", "x = 1", durable=True)
    busy.flush()
    bridge = make("mine")
    with pytest.raises(StoreError, match=r"^session busy is in use by pid \d+"):
        bridge.adopt_session("busy")
    assert bridge.jobs() == [] and saved(tmp_path, "busy") == ["x = 1"]
    with pytest.raises(StoreError, match=r"^session nothing-here has no durable jobs"):
        bridge.adopt_session("nothing-here")


def test_adopt_keeps_a_colliding_name_with_a_suffix_and_says_so(make, tmp_path: Path) -> None:
    """Regression: the adopted job's name was silently dropped."""
    old = make("old-nb")
    old.create("@daily", "report()", durable=True, name="report")
    old.run_now("report")
    old.stop()
    old.store.close()
    bridge = make("new-nb")
    mine = bridge.create("@hourly", "mine()", name="report")
    bridge.adopt_session("old-nb")
    adopted = next(j for j in bridge.jobs() if j.code == "report()")
    assert adopted.name == "report-2" and len(adopted.history) == 1  # its log came along
    said = [e.message for e in bridge.core.events if e.kind == "restored"]
    assert any(f"renamed 'report' to 'report-2': job {mine.id} holds that name" in m for m in said), said
    old_dir = tmp_path / "home" / "sessions" / "old-nb"
    assert list(old_dir.glob("cron.journal.adopted-*")) and not (old_dir / "cron.journal").exists()


def test_a_takeover_never_leaves_two_jobs_with_one_name(make, tmp_path: Path) -> None:
    """Regression: a job created while waiting for the owner kept the name a restored job had."""
    first = make("shared")
    first.create("@daily", "durable_one()", durable=True, name="poll")
    first.flush()
    second = make("shared")  # waits for `first`
    second.create("@hourly", "meanwhile()", name="poll")
    first.stop()
    first.store.close()
    second.store._try_takeover()
    names = sorted(j.name for j in second.jobs())
    assert names == ["poll", "poll-2"], names
    assert next(j for j in second.jobs() if j.name == "poll-2").code == "durable_one()"


@pytest.mark.parametrize(
    ("connection_file", "said"),
    [
        ("/run/jupyter/kernel-1f2e3d4c.json", "jupyter console, a kernel started by hand"),
        ("/tmp/tmpab12cd.json", "an executed notebook: papermill, nbconvert"),
    ],
)
def test_a_session_no_notebook_names_warns_once_at_the_first_durable_create(
    tmp_path: Path, connection_file: str, said: str
) -> None:
    """docs/durable.md: a console's durable jobs go to a session named after its kernel, which a new
    console never opens again: said once, as for an executed notebook."""
    from loopal_ipy.core.clock import SystemClock
    from loopal_ipy.core.scheduler import Scheduler
    from loopal_ipy.kernel.durable import DurableSession

    warned: list[str] = []
    durable = DurableSession(
        Scheduler(SystemClock()),
        home=str(tmp_path / "home"),
        env={},
        user_ns={},
        connection_file=connection_file,
        warn=warned.append,
        call_later=lambda delay, call: None,  # type: ignore[arg-type,return-value]
    )
    durable.open()
    durable.check_can_create()
    durable.check_can_create()
    assert len(warned) == 1 and said in warned[0], warned
    assert "set LOOPAL_SESSION_ID" in warned[0]
    durable.close()
