"""Output that escapes a run (docs/kernel.md): child processes, forked pools, objects freed after the run.

What a job's children write while it runs is the run's; what they write after it ends is kept
apart for that job (``%cron log``), never given to another job's log or to a cell."""

from __future__ import annotations

from kernelutil import SCHED, Kernel, create, leaks, ok, wait_for


def _last(k: Kernel, jid: str) -> dict:
    last = f"{SCHED}.find({jid!r}).history[-1]"
    return k.evaluate(f"(lambda r: dict(status=r.status, output=r.output, error=r.error))({last})")


def test_a_background_childs_late_output_stays_with_its_job(kernel: Kernel) -> None:
    late = "LATE" + "_CHILD"
    ok(kernel, f"import subprocess\nlate = {late!r}")
    kernel.drain_iopub()
    code = 'subprocess.Popen(f"sleep 1.5; echo {late}", shell=True)'
    a = create(kernel, f'%cron create --once --name starter "@every 1s" {code}')
    b = create(kernel, '%cron create --name other "@every 1s" print("other ran")')
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.find({a!r}).runs") == 1, 10)
    start_b = kernel.evaluate(f"{SCHED}.get({b!r}).runs")
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.get({b!r}).runs") >= start_b + 4, 15)
    ok(kernel, "pass")
    others = kernel.evaluate(f"[r.output for r in {SCHED}.get({b!r}).history]")
    assert all(late not in o for o in others), others
    assert leaks(kernel.drain_iopub(), (late,)) == []
    assert late in kernel.evaluate(f"{SCHED}.after_run({a!r})")
    log = ok(kernel, f"%cron log {a}").execute_result["text/plain"]
    assert late in log.split("--- after the run")[1], log


def test_a_fork_pools_prints_go_to_the_run(kernel: Kernel) -> None:
    kernel.drain_iopub()
    code = (
        "import multiprocessing as mp\n"
        "with mp.get_context('fork').Pool(2) as pool:\n"
        "    pool.map(print, ['POOL' + '_ONE', 'POOL' + '_TWO'])"
    )
    ok(kernel, f"pool_code = {code!r}")
    ok(kernel, f"jid = {SCHED}.create('@every 1s', pool_code, once=True).id")
    jid = kernel.evaluate("jid")
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.find({jid!r}).runs") == 1, 20)
    run = _last(kernel, jid)
    assert run["status"] == "ok", run
    assert "POOL_ONE" in run["output"] and "POOL_TWO" in run["output"], run
    assert leaks(kernel.drain_iopub(), ("POOL_ONE", "POOL_TWO")) == []


def test_a_coroutine_freed_after_a_failing_run_warns_into_that_run(kernel: Kernel) -> None:
    kernel.drain_iopub()
    jid = create(kernel, '%%cron create --once "@every 1s"\nasync def fetch():\n    pass\nasyncio.run(fetch())')
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.find({jid!r}).runs") == 1, 10)
    ok(kernel, "import gc; gc.collect()")  # whatever was left is freed now, in a cell
    run = _last(kernel, jid)
    assert run["status"] == "error" and "cannot be called from a running event loop" in run["error"], run
    assert "was never awaited" in run["output"], run
    assert leaks(kernel.drain_iopub(), ("never awaited",)) == []


def test_a_forked_child_of_a_job_dies_of_sigterm_as_any_process_would(kernel: Kernel) -> None:
    """The job's SIGINT/SIGTERM handlers are the job's, not its forked children's: Pool.terminate()
    (what ``with Pool(...)`` does on leaving) sends SIGTERM to idle workers and joins them."""
    code = (
        "import os, signal, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        time.sleep(30)\n"
        "    except BaseException as e:  # a handler of the job's raised into the child\n"
        "        print('CHILD RAISED', type(e).__name__)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
        "os.kill(pid, signal.SIGTERM)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('CHILD', os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)"
    )
    ok(kernel, f"term_code = {code!r}")
    jid = kernel.evaluate(f"{SCHED}.create('@every 1s', term_code, once=True).id")
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.find({jid!r}).runs") == 1, 20)
    run = _last(kernel, jid)
    assert run["status"] == "ok" and "CHILD True" in run["output"] and "RAISED" not in run["output"], run
