"""A store that trusts nothing (docs/durable.md): links, folders others can write, stored entries.

Each case was seen to go wrong: a leftover temp file that is a hard link made a
save overwrite the linked file; a world-writable ``$LOOPAL_HOME`` or
``sessions/`` and a symlinked session folder were trusted; ``loopal-ipy
enable`` replaced a symlinked config with a regular file and changed its mode;
bad names and code that no longer compiles loaded unchecked.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from storeutil import SID

from loopal_ipy import cli
from loopal_ipy.storage.store import Store


def saved_store(make_store, sched, n: int = 1) -> Store:
    store = make_store()
    jobs = [sched.create("@hourly", f"x = {i}", durable=True, name=f"job{i}") for i in range(n)]
    assert store.save(jobs)
    return store


TEMP_FILES = ["cron.json.tmp", "cron.journal.tmp"]


@pytest.mark.parametrize("name", TEMP_FILES)
def test_a_leftover_temp_file_that_is_a_hard_link_is_never_written_through(make_store, sched, tmp_path, name) -> None:
    store = saved_store(make_store, sched)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    tmp = store.path.with_name(name)
    os.link(victim, tmp)
    assert make_store().save(sched.jobs())  # a fresh store rewrites both files
    assert victim.read_text() == "precious"
    assert json.loads(store.path.read_text())["jobs"][0]["name"] == "job0"
    assert not tmp.exists()


@pytest.mark.parametrize("name", TEMP_FILES)
def test_a_leftover_temp_symlink_is_never_followed(make_store, sched, tmp_path, name) -> None:
    store = saved_store(make_store, sched)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, store.path.with_name(name))
    assert make_store().save(sched.jobs())
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("which", ["home", "sessions", "session"])
def test_a_folder_others_can_write_is_not_trusted(make_store, sched, home: Path, which: str) -> None:
    store = saved_store(make_store, sched)
    folder = {"home": home, "sessions": home / "sessions", "session": store.directory}[which]
    folder.chmod(0o777)
    result = make_store().load(sched.clock.now())
    assert result.read_only and result.jobs == [], which
    assert "writable by group or others" in result.warnings[0], result.warnings
    assert [j.name for j in result.untrusted] == ["job0"]  # shown, never run


def test_a_symlinked_session_folder_is_not_followed(make_store, sched, home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    other = Store(elsewhere, SID)
    assert other.save([sched.create("@hourly", "x = 1", durable=True, name="planted")])
    (home / "sessions").mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    os.symlink(other.directory, home / "sessions" / SID)
    result = make_store().load(sched.clock.now())
    assert result.read_only and result.jobs == []
    assert "is a symbolic link" in result.warnings[0]


def test_a_symlinked_loopal_home_is_not_trusted(sched, tmp_path: Path) -> None:
    real = tmp_path / "real"
    assert Store(real, SID).save([sched.create("@hourly", "x = 1", durable=True)])
    os.symlink(real, tmp_path / "link")
    result = Store(tmp_path / "link", SID, warn=lambda m: None).load(sched.clock.now())
    assert result.read_only and result.jobs == []


def test_enable_writes_through_a_symlinked_config_and_keeps_its_mode(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "ipython_kernel_config.py"
    real.parent.mkdir()
    real.write_text("c = get_config()\nc.Foo.bar = 1\n")
    real.chmod(0o640)
    link = cli.config_path("default", str(tmp_path / "ipython"))
    link.parent.mkdir(parents=True)
    os.symlink(real, link)
    cli.enable(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert cli.is_enabled(link) and "c.Foo.bar = 1" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    cli.disable(link)
    assert link.is_symlink() and not cli.is_enabled(link) and "c.Foo.bar = 1" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def entries(store: Store) -> list[dict]:
    return json.loads(store.path.read_text())["jobs"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e, _: e.update(name="a b"), "bad job name"),
        (lambda e, _: e.update(name="9lives"), "bad job name"),
        (lambda e, first: e.update(name=first["name"]), "is used by an earlier entry"),
        (lambda e, _: e.update(code="x = ("), "code does not compile"),
        (lambda e, _: e.update(code="1+" * 30000 + "1"), "nested too deeply"),
        (lambda e, _: e.update(code="   "), "no code"),
        (lambda e, _: e.update(code="x" * 70_000), "is 70,000 characters"),
        (lambda e, _: e.update(code="x = '\ud800'"), "code does not compile"),
        (lambda e, _: e.update(timeout=float("inf")), "timeout"),
    ],
)
def test_stored_entries_are_checked_like_a_create(make_store, sched, change, why: str) -> None:
    store = saved_store(make_store, sched, n=2)
    doc = json.loads(store.path.read_text())
    change(doc["jobs"][1], doc["jobs"][0])
    raw = json.dumps(doc).encode()
    store.path.write_bytes(raw)
    result = make_store().load(sched.clock.now())
    assert [j.name for j in result.jobs] == ["job0"]
    [reason] = [d.reason for d in result.dropped]
    assert why in reason, reason
    kept = [p for p in result.quarantined if p.name.startswith("cron.json.bad-")]
    assert len(kept) == 1
    preserved = json.loads(kept[0].read_text())["entries"][0]["entry"]
    assert preserved == json.loads(raw)["jobs"][1]  # the bytes of the bad entry are kept
