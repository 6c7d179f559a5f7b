"""Jobs are activity: a real ``jupyter server`` with idle culling on keeps a kernel alive while its jobs run.

Why: the server culls a kernel after ``cull_idle_timeout`` seconds without activity it
tracks. A kernel whose only life is a scheduled job sends nothing a server would notice
unless each run publishes iopub ``status`` busy/idle under a parent of its own
(msg_type ``loopal_job``, a type the server tracks). Here kernel A runs a job every 2 s
and kernel B only has the extension loaded; both are driven over ZMQ from their
connection files, which is not a websocket "connection", so nothing else shields them.
B must be culled after ~8 s, A must still be alive 30 s after its last cell.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from serverutil import KERNEL_DISPLAY_NAME, jupyter_server, run_cells

pytestmark = pytest.mark.kernel

CULL_IDLE_TIMEOUT = 8  # seconds without tracked activity before the server culls a kernel
CULL_INTERVAL = 2  # seconds between the server's cull checks
ALIVE_FOR = 30  # kernel A must still be listed this long after its last cell
WAIT_AT_MOST = 40  # seconds after the last cell to wait for B's cull


def test_a_kernel_whose_only_life_is_a_job_is_not_culled(tmp_path: Path) -> None:
    if importlib.util.find_spec("jupyter_server") is None:  # a failure, not a skip: skips count as failures here
        pytest.fail(f"this test needs jupyter_server in {sys.prefix} (pip install jupyterlab)", pytrace=False)

    args = (
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL}",
    )
    with jupyter_server(tmp_path, args) as server:
        specs = server.api("GET", "/api/kernelspecs")
        assert specs["kernelspecs"]["python3"]["spec"]["display_name"] == KERNEL_DISPLAY_NAME, specs
        a = server.start_kernel()
        b = server.start_kernel()

        probe = "import sys, loopal_ipy; print(loopal_ipy.__file__); print(sys.executable)"
        loaded_from, executable = run_cells(server.connection_file(a), [probe])[0].split()
        print(f"\nkernel A {a} runs {executable}, loopal_ipy from {loaded_from}; kernel B {b}", file=sys.stderr)
        assert executable == sys.executable
        run_cells(server.connection_file(a), ["%load_ext loopal_ipy", '%cron create "@every 2s" pass'])
        a_done = time.monotonic()
        run_cells(server.connection_file(b), ["%load_ext loopal_ipy"])
        b_done = time.monotonic()

        b_culled_after: float | None = None
        a_culled_after: float | None = None
        end = b_done + WAIT_AT_MOST
        next_report = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            live = server.kernels()
            if b_culled_after is None and b not in live:
                b_culled_after = now - b_done
                print(f"kernel B culled {b_culled_after:.1f}s after its last cell", file=sys.stderr)
            if a_culled_after is None and a not in live:
                a_culled_after = now - a_done
                print(f"kernel A culled {a_culled_after:.1f}s after its last cell", file=sys.stderr)
            a_settled = a_culled_after is not None or now - a_done >= ALIVE_FOR
            if a in live and (now >= next_report or a_settled):
                next_report = now + 5
                k = live[a]
                print(
                    f"  {now - a_done:4.1f}s after its last cell, A: last_activity={k['last_activity']} "
                    f"execution_state={k['execution_state']} connections={k['connections']}",
                    file=sys.stderr,
                )
            if a_settled and b_culled_after is not None:
                break
            time.sleep(1)
        culls = [line for line in server.log_tail(400).splitlines() if "Culling" in line]
        print("\n".join(["server log:", *culls]), file=sys.stderr)

        assert a_culled_after is None, f"kernel A (job every 2 s) culled {a_culled_after:.1f}s after its last cell"
        assert b_culled_after is not None, f"kernel B (no job) was not culled within {WAIT_AT_MOST}s"
        assert time.monotonic() - a_done >= ALIVE_FOR
        assert a in server.kernels()
