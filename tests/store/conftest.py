"""Fixtures for the store tests: real files under tmp_path and a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from storeutil import SID, Warnings

from loopal_ipy.storage.store import Store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def warned() -> Warnings:
    return Warnings()


@pytest.fixture
def make_store(home: Path, warned: Warnings):
    def make(**kw: Any) -> Store:
        kw.setdefault("warn", warned)
        return Store(home, kw.pop("session_id", SID), **kw)

    return make
