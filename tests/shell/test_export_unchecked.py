"""An export whose check cannot run here says so instead of failing the cell (docs/export.md): the README's
install has no papermill, and recipes.ipynb exports a bundle."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from loopal_ipy.core.clock import SystemClock
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.kernel import graduate


def test_without_papermill_the_bundle_is_written_and_said_unchecked(tmp_path: Path, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        graduate.importlib.util, "find_spec", lambda name, *a: None if name == "papermill" else real(name, *a)
    )
    job = Scheduler(SystemClock()).create("@hourly", "print('hi')", name="hourly")
    side = graduate.KernelSide(env={"JPY_PARENT_PID": "1"}, user_ns={}, history=[], cwd=tmp_path)
    out = tmp_path / "bundle"
    exported = graduate.export_job(job, side, to="papermill", directory=str(out), setup="none")
    assert sorted(p.name for p in out.iterdir()) == ["crontab", "hourly.ipynb", "run.sh"]
    assert f"not checked: papermill is not installed for {sys.executable}" in str(exported)
    assert "run run.sh once to check it" in str(exported)
    assert not (out / "outputs").exists()  # nothing ran


@pytest.mark.parametrize("check", [True, False])
def test_with_papermill_the_check_runs_unless_asked_not_to(tmp_path: Path, check: bool) -> None:
    assert importlib.util.find_spec("papermill") is not None
    job = Scheduler(SystemClock()).create("@hourly", "print('hi')", name="hourly")
    side = graduate.KernelSide(env={"JPY_PARENT_PID": "1"}, user_ns={}, history=[], cwd=tmp_path)
    out = tmp_path / "bundle"
    exported = graduate.export_job(job, side, to="papermill", directory=str(out), setup="none", check=check)
    assert "not checked" not in str(exported)
    ran = list((out / "outputs").glob("*.ipynb")) if (out / "outputs").exists() else []
    assert len(ran) == (1 if check else 0)
