"""Retries and catch-up in real kernels (docs/running.md): a flaky job that works at its third attempt, and a
durable --catch-up job whose occurrence passed while its kernel was down."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

from kernelutil import SCHED, Kernel, kernel_env, ok, wait_for

from loopal_ipy import cli

FLAKY = """%%cron create --retries 3 --retry-delay 1 --name flaky "@every 15s"
calls.append(time.time())
if len(calls) < 3:
    raise ConnectionError("503 Service Unavailable")
"""


def test_a_job_failing_twice_then_working_shows_three_runs_and_no_alert(kernel: Kernel) -> None:
    ok(kernel, f"calls = []\nfailed = []\noff = {SCHED}.on('failed', lambda ev: failed.append(ev.job_id))")
    ok(kernel, f"retrying = []\noff2 = {SCHED}.on('retrying', lambda ev: retrying.append(ev.message))")
    ok(kernel, FLAKY)
    assert wait_for(
        lambda: len(kernel.evaluate("calls")) == 3 and not kernel.evaluate(f"{SCHED}.get('flaky').running"), 40
    )
    runs = kernel.evaluate(f"[(r.status, r.trigger) for r in {SCHED}.get('flaky').history]")
    assert runs == [("error", "schedule"), ("error", "retry 1 of 3"), ("ok", "retry 2 of 3")], runs
    calls = kernel.evaluate("calls")
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.95 <= gaps[0] < 1.9 and 1.95 <= gaps[1] < 2.9, gaps  # S, then 2S (never early; late on a busy loop)
    assert kernel.evaluate("failed") == []  # no failure to report: the occurrence worked in the end
    assert len(kernel.evaluate("retrying")) == 2
    said = ok(kernel, "%cron list").execute_result["text/plain"]
    assert "retries 3 from 1 s" in said, said
    log = ok(kernel, "%cron log flaky").execute_result["text/plain"]
    assert "retry 1 of 3" in log and "retry 2 of 3" in log, log


def test_a_durable_catch_up_job_runs_once_after_its_kernel_was_down(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="catchup")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, "import loopal_ipy")
        ok(k, '%cron create --durable --catch-up 120 --name daily "@every 8s" ran = globals().get("ran", 0) + 1')
        due = k.evaluate(f"{SCHED}.get('daily').next_fire.timestamp()")
        assert k.km is not None
        k.km.shutdown_kernel(now=True, restart=True)  # down before its first occurrence
        time.sleep(max(0.0, due - time.time()) + 1.5)  # which passes while no kernel runs
        k.km.start_kernel(**k.km._launch_args)
        k._wait_ready()
        ok(k, "import loopal_ipy")
        assert wait_for(lambda: k.evaluate("globals().get('ran', 0)") >= 1, 10), "no catch-up run"
        # Read together: the next regular occurrence (8 s on) may have run too on a slow machine.
        ran, triggers = k.evaluate(f"(ran, [r.trigger for r in {SCHED}.get('daily').history])")
        assert triggers[0].startswith("catch-up for "), triggers
        assert sum(t.startswith("catch-up") for t in triggers) == 1 and ran == len(triggers), (ran, triggers)
        said = ok(k, "%cron session").execute_result["text/plain"]
        assert "missed" in said, said  # the missed occurrence is still reported


def test_a_reload_says_which_waiting_retry_it_dropped(kernel: Kernel) -> None:
    """A waiting retry is not saved, so a reload cannot keep it: the table's footer says so (nothing silent)."""
    ok(kernel, "import loopal_ipy")
    # It fails 10 s on; its retry waits 8 s, before the next occurrence: the reload comes in between.
    ok(kernel, '%cron create --name r --retries 3 --retry-delay 8 "@every 10s" 1/0')
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.get('r').retry_at is not None"), 30)
    ok(kernel, "%reload_ext loopal_ipy")
    job = f"{SCHED}.get('r')"
    assert kernel.evaluate(f"({job}.retry_at, {job}.next_start == {job}.next_fire)") == (None, True)
    listed = ok(kernel, "%cron list").execute_result["text/plain"]
    assert "its waiting retry 1 of 3 was dropped by the reload; its next occurrence runs" in listed, listed


def test_a_one_shot_whose_retry_a_reload_dropped_is_removed_and_said(kernel: Kernel) -> None:
    """A one-shot that ran has no next occurrence: without its retry it would stay in the table forever."""
    ok(kernel, "import loopal_ipy")
    ok(kernel, '%cron create --once --name o --retries 3 --retry-delay 30 "@every 2s" 1/0')
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.get('o').retry_at is not None"), 30)
    ok(kernel, "%reload_ext loopal_ipy")
    assert kernel.evaluate(f"[j.name for j in {SCHED}.jobs()]") == []
    listed = ok(kernel, "%cron list").execute_result["text/plain"]
    assert "its waiting retry 1 of 3 was dropped by the reload; the one-shot job is removed" in listed, listed
