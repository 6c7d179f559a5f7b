"""Every notebook in notebooks/ runs top to bottom in a real kernel, without error (docs/development.md).

Each notebook checks its own schedules: ``%cron wait`` fails a cell when a job
does not run in time, and ``assert`` cells check the state the jobs changed.
nbclient raises ``CellExecutionError`` on the first failing cell, so a broken
schedule, a changed message or an exception fails the test.

The kernel gets a private ``LOOPAL_HOME`` (durable store), ``IPYTHONDIR`` (a
user profile that autoloads loopal_ipy, or a ``loopal-ipy enable`` run by a
notebook, stays out of the user's real profile) and a ``LOOPAL_SESSION_ID``
(there is no notebook server to give the kernel a notebook path). The
environment's ``bin`` folder goes first on ``PATH``, as in an activated venv,
so ``!loopal-ipy`` in a notebook is this environment's console script.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from loopal_ipy.cli import config_path, enable

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_glob_finds_the_notebooks() -> None:
    names = {p.name for p in PATHS}
    assert len(PATHS) >= 3, PATHS
    assert {"quickstart.ipynb", "durable.ipynb", "recipes.ipynb"} <= names, names


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_clean(path: Path) -> None:
    """Valid nbformat 4, a python3 kernel, and saved without outputs."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("profile", ["plain", "enabled"])
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
@pytest.mark.timeout(240)
def test_notebook_executes(path: Path, profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run All in a fresh kernel; "enabled" is Binder's setup (`loopal-ipy enable` ran at build time)."""
    ipython_dir = tmp_path / "ipython"
    if profile == "enabled":
        enable(config_path(ipython_dir=str(ipython_dir)))
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "loopal-home"))
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("LOOPAL_SESSION_ID", f"notebook-{path.stem}")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    workdir = tmp_path / "work"
    workdir.mkdir()

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    started = time.monotonic()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.monotonic() - started

    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error" or (out.output_type == "stream" and "Traceback" in out.text)
    ]
    assert not errors, errors
    assert_ends_with_live_jobs(nb)
    print(f"{path.name} ({profile}): {len(nb.cells)} cells in {elapsed:.1f} s")


def assert_ends_with_live_jobs(nb: nbformat.NotebookNode) -> None:
    """Run All ends on a table with jobs in it, not on "no jobs"."""
    lists = [c for c in nb.cells if c.cell_type == "code" and "%cron list" in c.source]
    assert lists, "no %cron list cell"
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in lists[-1].outputs if "data" in o)
    assert shown and "no jobs" not in shown and "every 1s" in shown.lower(), shown


def run_client(client: str, path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "loopal-home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("LOOPAL_SESSION_ID", f"{client}-{path.stem}")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    workdir = tmp_path / "work"
    workdir.mkdir()
    source, out = workdir / path.name, tmp_path / "out.ipynb"
    source.write_bytes(path.read_bytes())  # nbconvert runs a notebook in its own folder
    if client == "papermill":
        import papermill

        papermill.execute_notebook(str(source), str(out), kernel_name="python3", cwd=str(workdir), progress_bar=False)
    else:
        cmd = [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            str(source),
            "--output",
            str(out),
            "--ExecutePreprocessor.kernel_name=python3",
            "--ExecutePreprocessor.timeout=120",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=230)
        assert done.returncode == 0, done.stderr[-3000:]
    return nbformat.read(out, as_version=4)


@pytest.mark.clients
@pytest.mark.parametrize("client", ["papermill", "nbconvert"])
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
@pytest.mark.timeout(240)
def test_notebook_runs_under_papermill_and_nbconvert(
    path: Path, client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two more executors nobody here wrote: each notebook runs whole and ends with live jobs."""
    nb = run_client(client, path, tmp_path, monkeypatch)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert_ends_with_live_jobs(nb)


@pytest.mark.timeout(240)
def test_papermill_runs_the_durable_notebook_with_nothing_naming_its_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill's kernel has no notebook path and a tmp connection file: it gets a session of its own
    (docs/durable.md)."""
    import papermill

    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "loopal-home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # no `loopal-ipy enable` there
    monkeypatch.delenv("LOOPAL_SESSION_ID", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "durable.ipynb"), str(out), kernel_name="python3", cwd=str(workdir), progress_bar=False
    )
    nb = nbformat.read(out, as_version=4)
    texts = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "of this kernel only" in texts  # the fallback session is announced, once
    assert texts.count("of this kernel only") == 1
    assert not list((tmp_path / "loopal-home").glob("sessions/kernel-run-*")), "the kernel's own session stayed"


@pytest.mark.clients
@pytest.mark.timeout(240)
def test_nbconvert_html_without_widget_state_shows_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's nbconvert command: the saved HTML holds the table's snapshot, jobs and all (docs/executed.md)."""
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "loopal-home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("LOOPAL_SESSION_ID", "nbconvert-html")
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    source = tmp_path / "quickstart.ipynb"
    source.write_bytes((NOTEBOOKS / "quickstart.ipynb").read_bytes())
    cmd = [
        sys.executable,
        "-m",
        "nbconvert",
        "--to",
        "html",
        "--execute",
        "--ExecutePreprocessor.store_widget_state=False",
        "--ExecutePreprocessor.kernel_name=python3",
        str(source),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "quickstart.html").read_text(encoding="utf-8")
    tables = page.split("<table class='loopal-cron'>")  # or escaped, inside the page's markup
    assert len(tables) > 1 or "loopal-cron" in page, page[:500]
    assert "tick" in tables[-1] and "no jobs" not in tables[-1].split("</table>")[0]
