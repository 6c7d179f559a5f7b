"""The notebook's own lifecycle in REAL kernels: Kernel → Restart is not Kernel → Interrupt
(docs/running.md, "Restart is not Interrupt").

jupyter_client's ``restart_kernel`` and ``shutdown_kernel`` (what JupyterLab's and Notebook 7's
Kernel → Restart and Shut Down reach) send SIGINT before their shutdown request: a durable job
caught in a run then must come back active, not paused. Only an interrupt with no shutdown after
it pauses.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from kernelutil import SCHED, Kernel, history, job, last_error, ok, wait_for

# While the gate file exists, a run writes a line and sleeps far longer than the test waits: a restart
# always finds it running. Without the gate a run is quick, so the test's own requests get answers.
SLOW = "import os, time\nif os.path.exists({gate!r}):\n    open({path!r}, 'a').write('slow\\n'); time.sleep(60)"


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "LOOPAL_HOME": str(tmp_path / "home"),
        "LOOPAL_SESSION_ID": "lifecycle",
        "IPYTHONDIR": str(tmp_path / "ipy"),
        "JPY_SESSION_NAME": "",
    }


def starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def load(k: Kernel) -> str:
    r = ok(k, "%load_ext loopal_ipy")
    ok(k, "import loopal_ipy")
    return r.stdout


def create_slow(k: Kernel, tmp_path: Path) -> tuple[Path, Path]:
    gate, marks = tmp_path / "gate", tmp_path / "starts.txt"
    code = SLOW.format(gate=str(gate), path=str(marks))
    ok(k, f'%%cron create --durable --name slow "@every 1s"\n{code}')
    return gate, marks


def caught_in_a_run(gate: Path, marks: Path) -> None:
    """Open the gate and wait until a run is inside its long sleep."""
    n = starts(marks)
    gate.touch()
    assert wait_for(lambda: starts(marks) > n, 30), "no run started"


def test_restart_while_a_durable_job_runs_leaves_it_active_three_times_in_a_row(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        gate, marks = create_slow(k, tmp_path)
        for n in range(1, 4):
            caught_in_a_run(gate, marks)
            k.restart()  # restart_kernel(now=False): SIGINT, then the shutdown request
            gate.unlink()
            said = load(k)
            assert "restored 1 durable job" in said, said
            paused = k.evaluate(job("slow", "paused"))
            ended = [h for h in history(k, "slow") if h["status"] == "error"]
            assert paused is False, f"restart {n} paused the job: {ended[-1:]}"
            assert len(ended) == n and "restart" in ended[-1]["error"], ended
            assert "Interrupt" not in ended[-1]["error"], ended
        runs = k.evaluate(job("slow", "runs"))
        assert wait_for(lambda: k.evaluate(job("slow", "runs")) > runs, 10), "no run after the third restart"


def test_sigterm_to_the_kernel_while_a_durable_job_runs_leaves_it_active(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        gate, marks = create_slow(k, tmp_path)
        caught_in_a_run(gate, marks)
        assert k.km is not None and k.km.provisioner is not None
        os.kill(k.km.provisioner.process.pid, signal.SIGTERM)  # type: ignore[attr-defined]
        assert wait_for(lambda: not k.km.is_alive(), 20), "SIGTERM did not end the kernel"  # type: ignore[union-attr]
        gate.unlink()
        k.restart()
        said = load(k)
        assert "restored 1 durable job" in said, said
        ended = [h for h in history(k, "slow") if h["status"] == "error"]
        assert k.evaluate(job("slow", "paused")) is False, ended
        assert len(ended) == 1 and "SIGTERM" in ended[0]["error"], ended


def test_a_real_interrupt_with_no_shutdown_still_pauses(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        gate, marks = create_slow(k, tmp_path)
        caught_in_a_run(gate, marks)
        assert k.km is not None
        k.km.interrupt_kernel()
        assert wait_for(lambda: k.evaluate(job("slow", "paused")), 20), history(k, "slow")[-1:]
        last = last_error(k, "slow")
        assert "interrupted (Kernel → Interrupt)" in last["error"] and "paused" in last["error"], last
        gate.unlink()
        k.restart()  # and the pause is what was saved
        load(k)
        assert k.evaluate(job("slow", "paused")) is True
        assert k.evaluate(f"len({SCHED}.jobs())") == 1
