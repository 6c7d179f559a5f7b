"""Hooks are hostile input (docs/alerts.md, "Hooks"): whatever a callback does, the kernel, its cells and the jobs
go on. Real kernels: what ``exit()`` in a hook, a spinning webhook or ``os.system`` in a hook does is
only seen in one."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kernelutil import SCHED, Kernel, create, job, leaks, ok, wait_for

RAISERS = """
class Custom(BaseException):
    pass

def exits(ev):
    sys.exit(3)

def interrupts(ev):
    raise KeyboardInterrupt

def custom(ev):
    raise Custom("mine")

offs = [loopal_ipy.get_scheduler().on('finished', f) for f in (exits, interrupts, custom)]
"""


def test_hooks_raising_base_exceptions_are_logged_counted_and_dropped(kernel: Kernel) -> None:
    ok(kernel, "n = 0")
    baseline = kernel.evaluate(f"len({SCHED}.hooks)")  # the alerts' own
    ok(kernel, RAISERS)
    jid = create(kernel, '%cron create --name counter "@every 1s" n += 1')
    assert wait_for(lambda: kernel.evaluate("n") >= 5, 20), "the job stopped firing"
    assert ok(kernel, "21 * 2").execute_result["text/plain"] == "42"  # the kernel is up
    log = kernel.evaluate(f"list({SCHED}.hooks.log)")
    for name in ("SystemExit", "KeyboardInterrupt", "Custom: mine"):
        assert sum(name in line and "Traceback" in line for line in log) == 3, (name, log)
    assert kernel.evaluate(f"len({SCHED}.hooks)") == baseline  # each unsubscribed after its third error
    said = kernel.evaluate(f"[e.message for e in {SCHED}.core.events if e.kind == 'hook']")
    assert sum("unsubscribed after 3 errors" in s for s in said) == 3, said
    before = kernel.evaluate("n")
    assert wait_for(lambda: kernel.evaluate("n") >= before + 2, 10)  # and jobs keep firing
    assert kernel.evaluate(job(jid, "failures")) == 0
    stray = leaks(kernel.drain_iopub(), ("Exception in callback", "Traceback", "SystemExit"))
    assert stray == [], stray


def test_a_spinning_hook_is_abandoned_after_hook_timeout(kernel: Kernel) -> None:
    ok(kernel, "%config Cron.hook_timeout = 2")
    ok(kernel, "spins = []\ndef spin(ev):\n    spins.append(1)\n    while True: pass")
    ok(kernel, f"off = {SCHED}.on('fired', spin)")
    create(kernel, '%cron create --once "@every 1s" pass')
    assert wait_for(lambda: kernel.evaluate("spins") == [1], 10)
    t0 = time.monotonic()
    r = ok(kernel, "1 + 1", timeout=30)
    answered = time.monotonic() - t0
    assert r.execute_result["text/plain"] == "2"
    assert answered < 2 + 2, f"the kernel answered {answered:.1f} s after the hook started spinning"
    log = kernel.evaluate(f"list({SCHED}.hooks.log)")
    assert any("timed out after 2 s" in line for line in log), log


def test_a_spinning_hook_yields_to_one_interrupt(kernel: Kernel, tmp_path: Path) -> None:
    began = tmp_path / "began"
    ok(kernel, "%config Cron.hook_timeout = 600")
    ok(kernel, f"def spin(ev):\n    open({str(began)!r}, 'w').close()\n    while True: pass")
    ok(kernel, f"off = {SCHED}.on('fired', spin)")
    ok(kernel, "n = 0")
    create(kernel, '%cron create "@every 1s" n += 1')
    assert wait_for(began.exists, 10), "the hook never ran"
    t0 = time.monotonic()
    kernel.km.interrupt_kernel()
    r = ok(kernel, "1 + 1", timeout=30)
    answered = time.monotonic() - t0
    assert r.execute_result["text/plain"] == "2"
    assert answered < 5, f"the kernel answered {answered:.1f} s after one interrupt"
    log = kernel.evaluate(f"list({SCHED}.hooks.log)")
    assert any("interrupted" in line for line in log), log
    ok(kernel, "off()")
    before = kernel.evaluate("n")
    assert wait_for(lambda: kernel.evaluate("n") >= before + 2, 10)  # the jobs go on


def test_a_sleeping_hook_does_not_hold_the_next_cell_past_hook_timeout(kernel: Kernel) -> None:
    ok(kernel, "%config Cron.hook_timeout = 1")
    ok(kernel, "slept = []\ndef nap(ev):\n    slept.append(time.monotonic())\n    time.sleep(30)")
    ok(kernel, f"off = {SCHED}.on('fired', nap)")
    create(kernel, '%cron create --once "@every 1s" pass')
    assert wait_for(lambda: kernel.evaluate("len(slept)") == 1, 40)
    ok(kernel, "answered = time.monotonic()", timeout=40)
    held = kernel.evaluate("answered - slept[0]")
    assert held < 1 + 2, f"the next cell ran {held:.1f} s after the hook began to sleep"
    log = kernel.evaluate(f"list({SCHED}.hooks.log)")
    assert any("timed out after 1 s" in line for line in log), log


def test_fd_output_of_a_hook_goes_to_the_hooks_log(kernel: Kernel) -> None:
    ok(kernel, "import os, subprocess")
    ok(kernel, f"off = {SCHED}.on('finished', lambda ev: os.system('echo HOOK_FD_OUT; echo HOOK_FD_ERR >&2'))")
    ok(kernel, f"off2 = {SCHED}.on('finished', lambda ev: subprocess.run(['echo', 'HOOK_CHILD']))")
    ok(kernel, "ran = []")
    kernel.drain_iopub()
    create(kernel, '%cron create --once "@every 1s" ran.append(1)')
    assert wait_for(lambda: len(kernel.evaluate(f"list({SCHED}.hooks.log)")) >= 2, 10)
    ok(kernel, "x = 1")  # a cell after the hook: nothing of the hook's may land in it
    time.sleep(0.5)
    log = "\n".join(kernel.evaluate(f"list({SCHED}.hooks.log)"))
    for marker in ("HOOK_FD_OUT", "HOOK_FD_ERR", "HOOK_CHILD"):
        assert marker in log, log
    stray = leaks(kernel.drain_iopub(), ("HOOK_FD_OUT", "HOOK_FD_ERR", "HOOK_CHILD"))
    assert stray == [], stray


def test_fired_is_sent_when_the_run_starts(kernel: Kernel) -> None:
    ok(kernel, "seen = []")
    note = "lambda ev, k=k: seen.append((k, time.monotonic()))"
    ok(kernel, f"offs = [{SCHED}.on(k, {note}) for k in ('fired', 'finished')]")
    create(kernel, '%cron create --once "@every 1s" time.sleep(2)')
    assert wait_for(lambda: len(kernel.evaluate("seen")) == 2, 15)
    (first, t_fired), (second, t_finished) = kernel.evaluate("seen")
    assert (first, second) == ("fired", "finished")
    assert t_finished - t_fired >= 1.5, json.dumps(kernel.evaluate("seen"))
