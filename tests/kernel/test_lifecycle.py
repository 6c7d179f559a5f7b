"""The notebook's own lifecycle in REAL kernels: Kernel → Restart is not Kernel → Interrupt
(docs/running.md, "Restart is not Interrupt").

jupyter_client's ``restart_kernel`` and ``shutdown_kernel`` (what JupyterLab's and Notebook 7's
Kernel → Restart and Shut Down reach) send SIGINT before their shutdown request: a durable job
caught in a run then must come back active, not paused. Only an interrupt with no shutdown after
it pauses.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from kernelutil import SCHED, Kernel, history, job, last_error, ok, text, wait_for

from loopal_ipy import cli

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


# ------------------------------------------------------------ create cells are declarations
def jobs_of(k: Kernel) -> list[tuple[str, str | None, str, str]]:
    return k.evaluate(f"sorted((j.id, j.name, j.schedule, j.code) for j in {SCHED}.jobs())")


def test_the_same_named_create_twice_is_one_job_and_says_unchanged(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        line = '%cron create --durable --name tick "@every 1h" x = 1'
        first = ok(k, line)
        again = ok(k, line)
        assert text(first).startswith("created durable ")
        assert re.match(r"^job [a-z0-9]{8} \(tick\) unchanged; next fire 20\d\d-", text(again)), text(again)
        assert len(jobs_of(k)) == 1 and again.stderr == ""


def test_the_same_unnamed_create_twice_is_one_job_with_a_cell_id_or_without(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        for _ in range(2):  # nbclient and papermill send no cell id: the same definition is the same job
            ok(k, '%cron create "@every 1h" y = 1')
        assert len(jobs_of(k)) == 1
        for code in ("z = 1", "z = 1", "z = 2"):  # JupyterLab sends the cell's id: the cell's job, changed in place
            r = ok(k, f'%cron create "@every 1h" {code}', cell_id="cell-7")
        assert re.match(r'^job [a-z0-9]{8} updated: code "z = 1" → "z = 2"; next fire', text(r)), text(r)
        assert len(jobs_of(k)) == 2
        loop = "for i in range(3): loopal_ipy.get_scheduler().create('@every 1h', 'w = 1')"
        ok(k, loop, cell_id="cell-8")
        ok(k, loop, cell_id="cell-8")  # one run of a cell declares three; its re-run finds the same three
        assert len(jobs_of(k)) == 5


def test_a_rerun_create_after_a_restart_keeps_the_job_and_a_change_is_saved(tmp_path: Path) -> None:
    with Kernel(env=env_for(tmp_path)) as k:
        load(k)
        create = '%cron create --durable --name csvplot "@every 1s" n = globals().get("n", 0) + 1'
        ok(k, create, cell_id="c1")
        jid = jobs_of(k)[0][0]
        assert wait_for(lambda: k.evaluate(job(jid, "runs")) >= 2, 20)
        k.restart()
        load(k)
        runs = k.evaluate(job(jid, "runs"))
        r = k.execute(create, cell_id="c1")  # Restart & Run All reaches the create cell again
        assert r.status == "ok" and r.ename is None, (r.ename, r.evalue)
        assert "unchanged" in text(r) and jobs_of(k)[0][0] == jid
        assert k.evaluate(job(jid, "runs")) >= runs >= 2  # history and counts kept
        ok(k, "table = loopal_ipy.table()")  # a live table, as %cron list shows
        changed = ok(k, create.replace("@every 1s", "@every 1h"), cell_id="c1")
        assert 'schedule "@every 1s" → "@every 1h"' in text(changed), text(changed)
        assert "<code>@every 1h</code>" in k.evaluate(f"table.cells({jid!r})['schedule'].value")
        ok(k, "pass")  # the save runs once the cell has yielded
        k.restart()
        load(k)
        assert jobs_of(k) == [(jid, "csvplot", "@every 1h", 'n = globals().get("n", 0) + 1')]
        assert k.evaluate(f"len({job(jid, 'history')})") >= 2


# ------------------------------------------------------------ what came back is said
def test_after_a_restart_the_first_cell_says_what_came_back_once(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])))  # loaded at every kernel start
    with Kernel(env=env) as k:
        ok(k, '%cron create --durable --name poll "@every 1h" refresh()')
        ok(k, '%cron create --durable --name later "@every 1h" pass')
        ok(k, "%cron pause later")
        k.restart()
        first = ok(k, "1 + 1")
        assert "restored 2 durable jobs for session lifecycle" in first.stdout, first.stdout
        assert "later" in first.stdout and "paused as saved" in first.stdout, first.stdout
        assert "only their code was saved" in first.stdout
        assert ok(k, "2 + 2").stdout == ""  # once
