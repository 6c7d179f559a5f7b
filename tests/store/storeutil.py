"""Helpers for the store tests: raw files, real faults, child processes (like tests/kernel/kernelutil.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from loopal_ipy.storage import store as _store_module
from loopal_ipy.storage.store import Store

SID = "nb-1a2b3c4d"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SRC = str(Path(_store_module.__file__).resolve().parents[2])


def child_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout's loopal_ipy."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Warnings(list[str]):
    """Collects what a Store passed to ``warn``."""

    def __call__(self, message: str) -> None:
        self.append(message)


def write_raw(store: Store, data: bytes | str | Any) -> bytes:
    """Put exactly these bytes (or this JSON value) where the store will look; return the bytes."""
    if not isinstance(data, (bytes, str)):
        data = json.dumps(data)
    raw = data.encode() if isinstance(data, str) else data
    store.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(store.directory, 0o700)
    store.path.write_bytes(raw)
    os.chmod(store.path, 0o600)
    return raw


def bad_files(store: Store) -> list[Path]:
    return sorted(store.directory.glob("cron.json.bad-*"))


@contextmanager
def frozen_dir(directory: Path) -> Iterator[None]:
    """A real read-only directory fault: chmod 0500, or `chattr +i` for root (who ignores modes)."""
    if not IS_ROOT:
        os.chmod(directory, 0o500)
        try:
            yield
        finally:
            os.chmod(directory, 0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)], capture_output=True).returncode:
        pytest.fail("running as root without a working chattr: cannot make a directory read-only here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def run_child(code: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code], env=child_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
    )
