"""A %cron refusal reaches headless tools (docs/executed.md): papermill and nbmake print its one line.

IPython shows a UsageError as a stderr line, which executors drop: papermill's error said only
'Exception encountered at "In [3]":'. In a kernel a %cron refusal is also an error output of
that one line (no traceback), which every executor prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.clients, pytest.mark.timeout(240)]

CELLS = [
    "%load_ext loopal_ipy",
    '%cron create --name tick "@every 1h" pass',
    "%cron wait tick --timeout 1",
]
REASON = "UsageError: %cron wait gave up after 1 s: job "


def notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("LOOPAL_SESSION_ID", "JPY_SESSION_NAME")}
    e.pop("PYTEST_CURRENT_TEST", None)
    e["LOOPAL_HOME"], e["IPYTHONDIR"] = str(tmp_path / "home"), str(tmp_path / "ipython")
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), e.get("PATH", "")])
    return e


def test_papermill_prints_the_reason_a_wait_gave_up(tmp_path: Path) -> None:
    source = notebook(tmp_path / "waits.ipynb")
    cmd = [sys.executable, "-m", "papermill", str(source), str(tmp_path / "out.ipynb"), "-k", "python3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=env(tmp_path), cwd=tmp_path)
    assert done.returncode != 0
    assert REASON in done.stderr, done.stderr[-2000:]


def test_nbmake_prints_the_reason_a_wait_gave_up(tmp_path: Path) -> None:
    source = notebook(tmp_path / "waits.ipynb")
    cmd = [sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=env(tmp_path), cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:]
    assert REASON in done.stdout, done.stdout[-3000:]


def test_other_magics_usage_errors_stay_as_ipython_shows_them(kernel) -> None:  # type: ignore[no-untyped-def]
    """Only %cron's refusals are changed: another magic's UsageError is still IPython's stderr line."""
    r = kernel.execute("%timeit --no-such-option 1")
    assert r.ename == "UsageError" and r.traceback == [], r.traceback
    assert r.stderr.startswith("UsageError: "), r.stderr
    said = kernel.execute("%cron frobnicate")
    assert said.traceback == [f"UsageError: {said.evalue}"] and said.stderr == ""
