"""Store errors name the real cause and what to do (docs/durable.md): a home that is a file, a read-only
file system, a full disk. The last two on a real tmpfs (mounting needs root, as CI and this machine
have: the test fails, never skips, without it)."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import loopal_ipy


def _load(shell, monkeypatch, home: Path) -> None:
    monkeypatch.setenv("LOOPAL_HOME", str(home))
    monkeypatch.setenv("LOOPAL_SESSION_ID", "s1")
    shell.kernel = types.SimpleNamespace()
    shell.run_line_magic("load_ext", "loopal_ipy")
    shell._loopal_ipy["table"] = None


def test_a_home_that_is_a_file_is_named(shell, monkeypatch, tmp_path: Path) -> None:
    home = tmp_path / "not-a-folder"
    home.write_text("x")
    try:
        _load(shell, monkeypatch, home)
        with pytest.raises(UsageError) as e:
            shell.run_line_magic("cron", 'create --durable "@hourly" pass')
        said = str(e.value)
        assert "ENOTDIR" in said and "LOOPAL_HOME" in said and "owned by" not in said, said
        assert loopal_ipy.get_scheduler().jobs() == []
    finally:
        shell.run_line_magic("unload_ext", "loopal_ipy")
        del shell.kernel


def test_a_read_only_file_system_is_named(shell, monkeypatch, tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        _load(shell, monkeypatch, tmpfs / "home")
        with pytest.raises(UsageError) as e:
            shell.run_line_magic("cron", 'create --durable "@hourly" pass')
        said = str(e.value)
        assert "EROFS" in said and "read-only" in said and "owned by" not in said, said
    finally:
        shell.run_line_magic("unload_ext", "loopal_ipy")
        del shell.kernel


def test_a_full_disk_is_said_at_every_durable_create(shell, monkeypatch, tmpfs: Path) -> None:
    _load(shell, monkeypatch, tmpfs / "home")
    try:
        sched = loopal_ipy.get_scheduler()
        first = shell.run_line_magic("cron", 'create --durable --name a "@hourly" pass')
        assert "not saved" not in first
        filler = tmpfs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # the disk is full now
            pass
        finally:
            os.close(fd)
        sched.pause("a")
        sched.flush()  # the first save that meets the full disk warns once
        for name in ("b", "c"):  # and every durable create after it says so too
            said = shell.run_line_magic("cron", f'create --durable --name {name} "@hourly" pass')
            assert "not saved" in said and "ENOSPC" in said, said
        store = [e.message for e in sched.events if e.kind == "store"]
        assert any("in memory only" in m for m in store), store
        os.unlink(filler)
        sched.flush()
        assert not sched.store.store.dirty
        assert {j.name for j in sched.store.store.load(sched.now()).jobs} == {"a", "b", "c"}
        leftovers = [p.name for p in (tmpfs / "home" / "sessions" / "s1").iterdir() if ".bad-" in p.name]
        assert leftovers == [], leftovers
    finally:
        shell.run_line_magic("unload_ext", "loopal_ipy")
        del shell.kernel
