"""A job cannot end its kernel (docs/kernel.md): ``exit()``, ``quit()``, ``ask_exit()``, ``sys.exit()``
and ``os._exit()`` in a job are that run's error; a durable job that ends its kernel anyway comes back
paused, with the reason. Real kernels: only a real one shuts down on ``ask_exit``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from kernelutil import SCHED, Kernel, create, kernel_env, ok, wait_for

from loopal_ipy import cli

CALLS = {
    "exit()": "exit()",
    "quit()": "quit()",
    "get_ipython().ask_exit()": "ask_exit()",
    "sys.exit(2)": "sys.exit(2)",
    "os._exit(3)": "os._exit(3)",
}


def _last_error(k: Kernel, jid: str) -> str | None:
    return k.evaluate(f"(({SCHED}.core.live({jid!r}) or {SCHED}.core.find_removed({jid!r})).history or [None])[-1]")


@pytest.mark.parametrize("call", list(CALLS))
def test_an_exit_in_a_job_is_its_error_and_the_kernel_lives(kernel: Kernel, call: str) -> None:
    ok(kernel, "import os, sys\nafter = []")
    jid = create(kernel, f'%cron create --once "@every 1s" {call}; after.append(1)')
    last = f"{SCHED}.core.find_removed({jid!r})"
    assert wait_for(lambda: kernel.evaluate(f"{last} is not None"), 10), "the job never ran"
    for _ in range(3):  # an ask_exit payload would end the kernel at the next request
        assert ok(kernel, "6 * 7").execute_result["text/plain"] == "42"
    assert kernel.km.is_alive()
    run = kernel.evaluate(f"dict(status={last}.history[-1].status, error={last}.history[-1].error)")
    assert run["status"] == "error", run
    assert CALLS[call] in run["error"] and "the kernel keeps running" in run["error"], run
    assert kernel.evaluate("after") == []  # the call stopped the job's code where it stood
    assert not kernel.evaluate("get_ipython().exit_now")


def test_exit_in_a_recurring_job_leaves_it_scheduled(kernel: Kernel) -> None:
    ok(kernel, "n = 0")
    jid = create(kernel, '%cron create "@every 1s" n += 1; exit()')
    assert wait_for(lambda: kernel.evaluate("n") >= 3, 10)
    assert ok(kernel, "1").status == "ok"
    assert kernel.evaluate(f"{SCHED}.get({jid!r}).failures") >= 3


def test_a_durable_job_that_kills_its_kernel_comes_back_paused(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="killer")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "import os, signal")
        r = ok(k, '%cron create --durable --name killer "@every 2s" os.kill(os.getpid(), signal.SIGKILL)')
        jid = r.execute_result["text/plain"].split()[2]
        assert wait_for(lambda: not k.km.is_alive(), 10), "the job did not end its kernel"
        k.km.restart_kernel(now=True)
        k._wait_ready()
        time.sleep(3)  # two occurrences pass: the job must not kill this kernel too
        r = k.execute("import loopal_ipy; 6 * 7", timeout=10)
        assert r.status == "ok" and r.execute_result["text/plain"] == "42"
        assert k.km.is_alive()
        assert k.evaluate(f"loopal_ipy.get_scheduler().get({jid!r}).paused") is True
        err = k.evaluate(f"loopal_ipy.get_scheduler().get({jid!r}).history[-1].error")
        assert "was running when its kernel stopped" in err, err
