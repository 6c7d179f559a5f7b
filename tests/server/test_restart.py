"""Restart is not Interrupt, through a real ``jupyter server`` (docs/running.md, "Restart is not Interrupt").

JupyterLab's Kernel → Restart is the server's ``POST /api/kernels/<id>/restart``, and stopping the
server (SIGTERM, Ctrl-C) shuts its kernels down: both send the kernel SIGINT before the shutdown
request. A durable job caught in a run by either must come back active in the notebook's next kernel.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from serverutil import Server, jupyter_server, run_cells

pytestmark = pytest.mark.kernel

NOTEBOOK = "lifecycle.ipynb"
GATED = (
    '%%cron create --durable --name slow "@every 1s"\n'
    "import os, time\n"
    "if os.path.exists({gate!r}):\n"
    "    open({marks!r}, 'a').write('slow\\n'); time.sleep(60)"
)
# The job is due every second, so a run may follow the restored one before this cell: read the newest
# run that ended with an error, not merely the newest run.
STATE = (
    "import loopal_ipy; j = loopal_ipy.get_scheduler().get('slow')\n"
    "print(j.paused, next((r.error for r in reversed(j.history) if r.error), None))"
)


def caught_in_a_run(gate: Path, marks: Path) -> None:
    n = len(marks.read_text().splitlines()) if marks.exists() else 0
    gate.touch()
    deadline = time.monotonic() + 30
    while not (marks.exists() and len(marks.read_text().splitlines()) > n):
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.1)


def restored(server: Server, gate: Path) -> str:
    """Open the notebook again (its kernel learns the same path: the same session) and read the job."""
    gate.unlink(missing_ok=True)
    kid = server.start_session(NOTEBOOK)
    loaded, state = run_cells(server.connection_file(kid), ["%load_ext loopal_ipy", STATE])
    assert "restored 1 durable job" in loaded, loaded
    return state


def test_the_servers_restart_and_its_own_sigterm_leave_a_running_job_active(tmp_path: Path) -> None:
    gate, marks = tmp_path / "gate", tmp_path / "marks.txt"
    root = tmp_path / "root"
    root.mkdir()
    with jupyter_server(root) as server:
        kid = server.start_session(NOTEBOOK)
        run_cells(server.connection_file(kid), ["%load_ext loopal_ipy", GATED.format(gate=str(gate), marks=str(marks))])
        caught_in_a_run(gate, marks)
        server.api("POST", f"/api/kernels/{kid}/restart")  # Kernel → Restart
        gate.unlink()
        loaded, state = run_cells(server.connection_file(kid), ["%load_ext loopal_ipy", STATE])
        assert "restored 1 durable job" in loaded, loaded
        assert state.startswith("False ended by the kernel's restart or shutdown"), state

        caught_in_a_run(gate, marks)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)  # the server stops, and shuts its kernels down
        server.proc.wait(60)
    with jupyter_server(root) as again:
        state = restored(again, gate)
        assert state.startswith("False ended by the kernel's restart or shutdown"), state
