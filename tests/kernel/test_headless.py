"""A %cron refusal reaches headless tools (docs/executed.md): papermill and nbmake print its one line.

IPython shows a UsageError as a stderr line, which executors drop: papermill's error said only
'Exception encountered at "In [3]":'. In a kernel a %cron refusal is also an error output of
that one line (no traceback), which every executor prints.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from kernelutil import Kernel, kernel_env, ok, wait_for, write_notebook

pytestmark = [pytest.mark.clients, pytest.mark.timeout(240)]

CELLS = [
    "%load_ext loopal_ipy",
    '%cron create --name tick "@every 1h" pass',
    "%cron wait tick --timeout 1",
]
REASON = "UsageError: %cron wait gave up after 1 s: job "


def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("LOOPAL_SESSION_ID", "JPY_SESSION_NAME")}
    e.pop("PYTEST_CURRENT_TEST", None)
    e["LOOPAL_HOME"], e["IPYTHONDIR"] = str(tmp_path / "home"), str(tmp_path / "ipython")
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), e.get("PATH", "")])
    return e


def test_papermill_prints_the_reason_a_wait_gave_up(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "waits.ipynb", CELLS)
    cmd = [sys.executable, "-m", "papermill", str(source), str(tmp_path / "out.ipynb"), "-k", "python3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=env(tmp_path), cwd=tmp_path)
    assert done.returncode != 0
    assert REASON in done.stderr, done.stderr[-2000:]


def test_nbmake_prints_the_reason_a_wait_gave_up(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "waits.ipynb", CELLS)
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


# ------------------------------------------------------------ sessions of one kernel run
DURABLE = [
    "%load_ext loopal_ipy",
    '%cron create --durable --name keep "@every 1s" n = globals().get("n", 0) + 1',
    "%cron wait keep --runs 2 --timeout 30",
    "assert n >= 2, n",
]


@pytest.mark.parametrize("home", ["read-only mount", "a file"])
def test_a_durable_create_works_in_an_executed_notebook_whose_home_cannot_be_written(tmp_path: Path, home: str) -> None:
    """docs/durable.md: an executed notebook's session lasts one kernel run, so it needs no HOME that lasts."""
    source = write_notebook(tmp_path / "durable.ipynb", DURABLE)
    e = env(tmp_path)
    e.pop("LOOPAL_HOME")
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):  # jupyter's own files: not what is tested
        e[name] = str(tmp_path / name.lower())
    cmd = [sys.executable, "-m", "papermill", str(source), str(tmp_path / "out.ipynb"), "-k", "python3"]
    if home == "a file":
        (tmp_path / "file").write_text("")
        e["HOME"] = str(tmp_path / "file" / "home")  # ENOTDIR
    else:  # a private mount namespace: the read-only bind mount is seen by this command only (root, as CI)
        ro = tmp_path / "ro-home"
        ro.mkdir()
        e["HOME"] = str(ro)
        shell = f"mount --bind -o ro {ro} {ro} && exec " + " ".join(map(str, cmd))
        cmd = ["unshare", "--mount", "sh", "-c", shell]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=e, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    said = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert said.count("cannot be written") == 1 and "goes to" in said, said
    fallback = Path(tempfile.gettempdir()) / f"loopal-{os.getuid()}"
    session = re.search(r"session (kernel-run-[0-9]+-[0-9a-f]{8})", said)
    assert session is not None, said
    assert not (fallback / "sessions" / session.group(1)).exists(), "the kernel's own session stayed"


def test_a_killed_kernels_own_session_is_gone_after_the_next_kernel_starts(tmp_path: Path) -> None:
    """nbval and crashes kill kernels without their exit: their kernel-run-* folders are swept."""
    home = tmp_path / "home"
    with Kernel(env=kernel_env(tmp_path)) as k:
        ok(k, "%load_ext loopal_ipy")
        ok(k, '%cron create --durable --name keep "@every 1h" pass')
        ok(k, "pass")  # the save runs once the creating cell has yielded
        [left] = list((home / "sessions").glob("kernel-run-*"))
        assert k.km is not None and k.km.provisioner is not None
        os.kill(k.km.provisioner.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]  # no exit handler runs
        assert wait_for(lambda: not k.km.is_alive(), 20)  # type: ignore[union-attr]
    assert left.is_dir() and (left / "cron.json").exists()
    old = time.time() - 120
    os.utime(left, (old, old))  # older than a kernel taking its lock could be
    with Kernel(env=kernel_env(tmp_path)) as k:
        ok(k, "%load_ext loopal_ipy")
    assert not left.exists(), sorted(p.name for p in left.iterdir())
