"""Every command of docs/ci.md, on its notebook: nbmake, nbval-lax, testbook, xdist (two notebooks, and
two copies of one), jupyter execute and papermill. Each runs in a subprocess, as in a CI job."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kernelutil import write_notebook

pytestmark = [pytest.mark.clients, pytest.mark.timeout(300)]

CELLS = [
    "%load_ext loopal_ipy",
    '%cron create --durable --name tick "@every 1s" n = globals().get("n", 0) + 1',
    "%cron wait tick --runs 2 --timeout 30\nassert n >= 2, n",
]
BIN = Path(sys.executable).parent


def write(path: Path) -> Path:
    return write_notebook(path, CELLS)  # type: ignore[no-any-return]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOOPAL_SESSION_ID", "JPY_SESSION_NAME")}
    env.pop("PYTEST_CURRENT_TEST", None)
    env["LOOPAL_HOME"], env["IPYTHONDIR"] = str(cwd / "loopal-home"), str(cwd / "ipython")
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env=env, cwd=cwd)
    assert done.returncode == 0, (cmd, done.stdout[-3000:], done.stderr[-3000:])
    return done


def no_sessions_left(cwd: Path) -> None:
    left = sorted(p.name for p in (cwd / "loopal-home").glob("sessions/*"))
    assert left == [], f"sessions left behind: {left}"


@pytest.mark.parametrize(
    "cmd",
    [
        ["jupyter", "execute", "check.ipynb"],
        ["papermill", "check.ipynb", "out.ipynb"],
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", "check.ipynb", "--output", "out.ipynb"],
    ],
    ids=["jupyter-execute", "papermill", "nbconvert"],
)
def test_the_executors(tmp_path: Path, cmd: list[str]) -> None:
    write(tmp_path / "check.ipynb")
    run([str(BIN / cmd[0]), *cmd[1:]], tmp_path)
    no_sessions_left(tmp_path)


@pytest.mark.parametrize("flag", ["--nbmake", "--nbval-lax"])
def test_nbmake_and_nbval_lax(tmp_path: Path, flag: str) -> None:
    write(tmp_path / "check.ipynb")
    done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", flag, "check.ipynb"], tmp_path)
    assert " passed" in done.stdout, done.stdout[-2000:]


def test_testbook(tmp_path: Path) -> None:
    write(tmp_path / "check.ipynb")
    (tmp_path / "test_check.py").write_text(
        textwrap.dedent(
            """
            from testbook import testbook


            @testbook("check.ipynb", execute=True)
            def test_the_job_ran(tb):
                assert tb.ref("n") >= 2
            """
        )
    )
    done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_check.py"], tmp_path)
    assert "1 passed" in done.stdout, done.stdout[-2000:]


def test_xdist_runs_two_notebooks_and_two_copies_of_one_side_by_side(tmp_path: Path) -> None:
    paths = [write(tmp_path / "check.ipynb"), write(tmp_path / "other.ipynb")]
    paths += [write(tmp_path / "copy1" / "check.ipynb"), write(tmp_path / "copy2" / "check.ipynb")]
    names = [str(p.relative_to(tmp_path)) for p in paths]
    done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--nbmake", *names], tmp_path)
    assert "4 passed" in done.stdout, done.stdout[-2000:]
    no_sessions_left(tmp_path)
