"""Fixtures every test folder may use."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at a fixed instant: the core is given the time, never reads it."""
    return FakeClock("2026-01-05T12:00:00+00:00")


@pytest.fixture
def sched(clock: FakeClock) -> Scheduler:
    return Scheduler(clock, Settings(timezone="UTC"))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB file system (a full disk in a few writes). Mounting needs root, as CI and this
    machine have: a test that asks for it fails, never skips, without it."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    assert done.returncode == 0, f"cannot mount a tmpfs (needs root): {done.stderr.decode()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
