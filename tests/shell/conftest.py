"""An in-process IPython shell whose errors re-raise (jupysql's TestingShell idea)."""

from __future__ import annotations

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
