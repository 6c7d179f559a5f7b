"""Stuck jobs never take the kernel (docs/running.md), in REAL kernels.

A job with a bug (``while True: pass``) used to take the kernel for good:
*Interrupt* did nothing, and a durable one hung every restarted kernel again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kernelutil import SCHED, Kernel, create, history, job, kernel_env, last_error, ok, wait_for

from loopal_ipy import cli


def spins(marker: Path, body: str = "while True: pass") -> str:
    """Job code that says on disk when it started, then ``body``: the test waits on that, not on time."""
    return f"open({str(marker)!r}, 'w').close()\n{body}"


def test_interrupt_stops_a_spinning_job_pauses_it_and_spares_the_next_cell(kernel: Kernel, tmp_path: Path) -> None:
    ok(kernel, "t_created = time.time()")
    jid = create(kernel, f'%%cron create --name spin "@every 2s"\n{spins(tmp_path / "on")}')
    assert wait_for((tmp_path / "on").exists, 30)  # the first run spins
    t0 = time.monotonic()
    kernel.km.interrupt_kernel()
    r = kernel.execute("1 + 1", timeout=20)
    answered = time.monotonic() - t0
    print(f"a cell was answered {answered:.2f} s after the interrupt", file=sys.stderr)
    assert r.status == "ok" and r.ename is None, (r.ename, r.evalue, r.stderr)
    assert r.execute_result and r.execute_result["text/plain"] == "2"
    assert answered < 2.0, f"the kernel answered {answered:.2f} s after the interrupt"
    # paused once the grace for a restart's shutdown request passed (docs/running.md)
    assert wait_for(lambda: kernel.evaluate(job(jid, "paused")), 10)
    assert kernel.evaluate(job(jid, "running")) is False
    last = last_error(kernel, jid)
    assert last["status"] == "error" and "interrupted" in last["error"], last
    assert last["t"] < time.time() - 0.5
    log = ok(kernel, f"%cron log {jid}")
    assert "interrupted" in log.execute_result["text/plain"] and "paused" in log.execute_result["text/plain"]
    # the interrupt went to the job: the next cells run normally, and resume brings the job back
    assert ok(kernel, "x = 41 + 1").status == "ok"
    ok(kernel, f"%cron delete {jid}")


def test_timeouts_stop_a_spinning_sync_run_and_cancel_a_sleeping_async_run(kernel: Kernel) -> None:
    ok(kernel, "slept = []")
    spin = create(kernel, '%cron create --timeout 2 --name spin "@every 5s" while True: pass')
    nap = create(kernel, '%cron create --timeout 1 --name nap "@every 5s" await asyncio.sleep(8); slept.append(1)')
    assert wait_for(lambda: kernel.evaluate(f"({job(spin, 'runs')}, {job(nap, 'runs')})") >= (1, 1), 15)
    answered = []
    for _ in range(3):  # cells sent meanwhile get answers
        t0 = time.monotonic()
        ok(kernel, "1")
        answered.append(time.monotonic() - t0)
    for jid, secs in ((spin, 2), (nap, 1)):
        last = next(h for h in history(kernel, jid) if h["status"] == "error")
        assert last["error"] == f"timed out after {secs} s", last
        assert 0.9 * secs <= kernel.evaluate(f"{job(jid, 'history')}[0].duration") < secs + 1.5
        assert kernel.evaluate(job(jid, "paused")) is False  # a timeout keeps the job scheduled
    assert kernel.evaluate("slept") == []
    assert max(answered) < 3.0, answered


def test_cron_job_timeout_is_the_default_and_zero_means_none(kernel: Kernel) -> None:
    ok(kernel, "%config Cron.job_timeout = 1")
    jid = create(kernel, '%cron create --name sleepy "@every 3s" time.sleep(2.5)')
    assert wait_for(lambda: kernel.evaluate(job(jid, "runs")) >= 1, 8)
    assert history(kernel, jid)[0]["error"] == "timed out after 1 s"
    free = create(kernel, '%cron create --timeout 0 --name free "@every 3s" time.sleep(1.5)')
    assert wait_for(lambda: kernel.evaluate(job(free, "runs")) >= 1, 8)
    assert history(kernel, free)[0]["status"] == "ok"
    for bad in ("-1", "float('nan')", "float('inf')", "'soon'"):
        kernel.execute(f"%config Cron.job_timeout = {bad}")  # %config logs a rejected value, keeps the old
        assert kernel.evaluate(f"{SCHED}.core.settings.job_timeout") == 1, bad


def test_a_durable_job_spinning_at_a_forced_restart_comes_back_paused(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="loop")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "import time")
        r = ok(k, f'%%cron create --durable --name hang "@every 2s"\n{spins(tmp_path / "on")}')
        jid = r.execute_result["text/plain"].split()[2]
        assert wait_for((tmp_path / "on").exists, 30)  # spinning now; the pre-run save recorded it as running
        k.km.restart_kernel(now=True)  # what a user does to a stuck kernel
        k._wait_ready()
        r = k.execute("import loopal_ipy; 6 * 7", timeout=10)
        assert r.status == "ok" and r.execute_result["text/plain"] == "42"
        assert k.evaluate(f"loopal_ipy.get_scheduler().get({jid!r}).paused") is True
        time.sleep(3)
        assert k.execute("1", timeout=5).status == "ok", "the restored job hung the kernel again"
        info = ok(k, "%cron session").execute_result["text/plain"]
        assert "was running when its kernel stopped" in info, info
        last = history(k, jid)[-1]
        assert last["status"] == "error" and "was running when its kernel stopped" in last["error"], last


def test_a_durable_job_that_ended_before_a_kill_comes_back_active(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="calm")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "import time, loopal_ipy")
        ok(k, '%cron create --durable --name calm "@every 3s" x = 1')
        assert wait_for(lambda: k.evaluate("loopal_ipy.get_scheduler().get('calm').runs") >= 1, 6)
        last = k.evaluate("loopal_ipy.get_scheduler().get('calm').last_fired.timestamp()")
        time.sleep(max(0.0, last + 1.5 - time.time()))  # mid-way between two runs
        k.km.restart_kernel(now=True)
        k._wait_ready()
        ok(k, "import loopal_ipy")
        assert k.evaluate("loopal_ipy.get_scheduler().get('calm').paused") is False
        assert "running when its kernel stopped" not in ok(k, "%cron session").execute_result["text/plain"]


def test_an_async_job_awaiting_at_a_normal_restart_comes_back_active(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="nap")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "import time, loopal_ipy")
        ok(k, '%cron create --durable --name nap "@every 2s" import asyncio; await asyncio.sleep(30)')
        assert wait_for(lambda: k.evaluate("loopal_ipy.get_scheduler().get('nap').running"), 5)
        k.restart()  # a normal restart: the kernel shuts down cleanly while the job awaits
        ok(k, "import loopal_ipy")
        assert k.evaluate("loopal_ipy.get_scheduler().get('nap').paused") is False


def test_an_async_job_that_spins_between_awaits_is_stopped_too(kernel: Kernel, tmp_path: Path) -> None:
    body = "await asyncio.sleep(0)\n" + spins(tmp_path / "on")
    spin = create(kernel, f'%%cron create --name aspin "@every 2s"\n{body}')
    assert wait_for((tmp_path / "on").exists, 30)  # spinning inside a step of its task
    t0 = time.monotonic()
    kernel.km.interrupt_kernel()
    r = kernel.execute("1 + 1", timeout=20)
    assert r.status == "ok" and time.monotonic() - t0 < 2.0
    assert wait_for(lambda: kernel.evaluate(job(spin, "paused")), 10)  # after the interrupt's grace
    assert "interrupted" in last_error(kernel, spin)["error"]
    spin_body = "\nawait asyncio.sleep(0)\nwhile True: pass"
    late = create(kernel, '%%cron create --timeout 1 --name aslow "@every 3s"' + spin_body)
    assert wait_for(lambda: kernel.evaluate(job(late, "runs")) >= 1, 8)
    assert history(kernel, late)[0]["error"] == "timed out after 1 s"
    assert kernel.evaluate(job(late, "paused")) is False


def test_a_job_that_swallows_every_exception_is_still_stopped(kernel: Kernel, tmp_path: Path) -> None:
    body = spins(
        tmp_path / "on", "while True:\n    try:\n        time.sleep(0.01)\n    except BaseException:\n        pass"
    )
    jid = create(kernel, f'%%cron create --name sw "@every 2s"\n{body}')
    assert wait_for((tmp_path / "on").exists, 30)
    t0 = time.monotonic()
    kernel.km.interrupt_kernel()  # one press: the watchdog kicks again, harder, while the code ignores it
    r = kernel.execute("1 + 1", timeout=20)
    answered = time.monotonic() - t0
    print(f"an exception-swallowing job: the kernel answered {answered:.2f} s after one interrupt", file=sys.stderr)
    assert r.status == "ok" and answered < 4.0
    assert wait_for(lambda: kernel.evaluate(job(jid, "paused")), 10)  # after the interrupt's grace
    assert "interrupted" in last_error(kernel, jid)["error"]
    late = create(kernel, '%%cron create --timeout 1 --name sw2 "@every 3s"\n' + body)
    assert wait_for(lambda: kernel.evaluate(job(late, "runs")) >= 1, 10)
    assert history(kernel, late)[0]["error"] == "timed out after 1 s"
    assert ok(kernel, "2").status == "ok"


def test_a_jobs_own_alarm_does_not_disable_its_timeout(kernel: Kernel) -> None:
    ok(kernel, "import signal")
    body = "\nsignal.signal(signal.SIGALRM, lambda *a: None); signal.alarm(30); signal.alarm(0)\nwhile True: pass"
    jid = create(kernel, '%%cron create --timeout 2 --name al "@every 3s"' + body)
    assert wait_for(lambda: kernel.evaluate(job(jid, "runs")) >= 1, 10), "the timeout never stopped the job"
    assert history(kernel, jid)[0]["error"] == "timed out after 2 s"
    assert kernel.evaluate(f"{job(jid, 'history')}[0].duration") < 3.5


def test_a_nested_run_keeps_the_outer_jobs_timeout(kernel: Kernel) -> None:
    create(kernel, '%cron create --timeout 10 --name inner "@daily" while True: pass')
    body = "\n_t0 = time.time()\n%cron run inner\nprint('outer went on')\nwhile True: pass"
    outer = create(kernel, '%%cron create --timeout 2 --name outer "@every 30s"' + body)
    assert wait_for(lambda: kernel.evaluate(job(outer, "runs")) >= 1, 40)
    run = history(kernel, outer)[0]
    assert run["error"] == "timed out after 2 s", run
    assert kernel.evaluate(f"{job(outer, 'history')}[0].duration") < 4.5
