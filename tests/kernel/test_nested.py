"""Nested execution belongs to the run (docs/kernel.md): ``run_cell``, ``%run`` and ``%time`` inside a job
write to the job's log, and a failure there fails the run. Real kernels: ipykernel sends results and
tracebacks straight to iopub, past sys.stdout."""

from __future__ import annotations

from pathlib import Path

from kernelutil import SCHED, Kernel, create, leaks, ok, wait_for


def _ran(k: Kernel, jid: str) -> dict:
    assert wait_for(lambda: k.evaluate(f"{SCHED}.find({jid!r}).runs") >= 1, 10), "the job never ran"
    ok(k, "pass")  # a cell after the run: nothing of the job's may land in it
    last = f"{SCHED}.find({jid!r}).history[-1]"
    return k.evaluate(f"(lambda r: dict(status=r.status, output=r.output, error=r.error))({last})")


def test_run_cell_results_go_to_the_jobs_log(kernel: Kernel) -> None:
    kernel.drain_iopub()
    jid = create(kernel, """%cron create --once "@every 1s" get_ipython().run_cell("'NESTED' + '_RESULT'")""")
    run = _ran(kernel, jid)
    assert run["status"] == "ok", run
    assert "NESTED_RESULT" in run["output"], run
    assert leaks(kernel.drain_iopub(), ("NESTED_RESULT",)) == []


def test_run_cell_errors_fail_the_run(kernel: Kernel) -> None:
    kernel.drain_iopub()
    ok(kernel, f"failed = []\noff = {SCHED}.on('failed', lambda ev: failed.append(ev.job_id))")
    code = """get_ipython().run_cell("raise ValueError('NESTED' + '_BOOM')")"""
    jid = create(kernel, f'%cron create --once "@every 1s" {code}')
    run = _ran(kernel, jid)
    assert run["status"] == "error" and "NESTED_BOOM" in run["error"], run
    assert "\x1b[" not in run["error"], run  # text, not terminal colours
    assert wait_for(lambda: kernel.evaluate("failed") == [jid], 5)
    assert leaks(kernel.drain_iopub(), ("NESTED_BOOM",)) == []


def test_a_failing_percent_run_fails_the_run(kernel: Kernel, tmp_path: Path) -> None:
    script = tmp_path / "failing.py"
    script.write_text("print('RUN_BEGAN')\nraise RuntimeError('RUN_FAIL')\n")
    kernel.drain_iopub()
    ok(kernel, f"failed = []\noff = {SCHED}.on('failed', lambda ev: failed.append(ev.job_id))")
    jid = create(kernel, f'%cron create --once "@every 1s" %run {script}')
    run = _ran(kernel, jid)
    assert run["status"] == "error" and "RUN_FAIL" in run["error"], run
    assert "RUN_BEGAN" in run["output"], run
    assert wait_for(lambda: kernel.evaluate("failed") == [jid], 5)
    assert leaks(kernel.drain_iopub(), ("RUN_FAIL", "RUN_BEGAN")) == []


def test_percent_time_output_goes_to_the_jobs_log(kernel: Kernel) -> None:
    kernel.drain_iopub()
    jid = create(kernel, '%cron create --once "@every 1s" %time timed = sum(range(1000))')
    run = _ran(kernel, jid)
    assert run["status"] == "ok" and "Wall time" in run["output"], run
    assert leaks(kernel.drain_iopub(), ("Wall time",)) == []
