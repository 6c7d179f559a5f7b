"""An in-process IPython shell whose errors re-raise (jupysql's TestingShell idea)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell


class TestingShell(InteractiveShell):
    """run_cell that raises the cell's exception instead of printing it."""

    def run_cell(self, raw_cell: str, *args: Any, **kwargs: Any) -> Any:
        result = super().run_cell(raw_cell, *args, **kwargs)
        result.raise_error()
        return result


@pytest.fixture
def shell(tmp_path, monkeypatch) -> Iterator[TestingShell]:
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    sh = TestingShell.instance()
    try:
        yield sh
    finally:
        if "loopal_ipy" in sh.extension_manager.loaded:
            sh.run_line_magic("unload_ext", "loopal_ipy")
        sh.__dict__.pop("_loopal_ipy_stash", None)
        TestingShell.clear_instance()


@pytest.fixture
def kshell(shell, monkeypatch):
    """The shell posing as a kernel, with loopal_ipy loaded, a durable session and one job."""
    monkeypatch.setenv("LOOPAL_SESSION_ID", "fuzz")
    shell.kernel = types.SimpleNamespace()  # what _extension checks to build the scheduler
    try:
        shell.run_line_magic("load_ext", "loopal_ipy")
        shell._loopal_ipy["table"] = None  # %cron list answers with its text table: widgets are tested elsewhere
        shell.run_line_magic("cron", 'create --durable --name keeper "@hourly" pass')
        yield shell
    finally:
        if "loopal_ipy" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "loopal_ipy")
        del shell.kernel
