"""Section 2, idle: wake-ups and CPU of kernels whose jobs are due an hour away, beside the peers."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from harness import Targets, have_apscheduler, kernel_env, must, ratio, say, table
from kernelutil import Kernel
from section_lateness import PEERS

# Each setup defines `_count()`: how many times that scheduler's own callback ran.
IDLE_LOOPAL = """
for _i in range(50):
    _s.create("@every 1h", "pass")
def _count():  # KernelScheduler._wake calls: every timer expiry of loopal_ipy's one timer
    return _s.wakeups
"""

IDLE_APS = """
_n = [0]
_orig_process = _sched._process_jobs
def _counted_process():  # AsyncIOScheduler.wakeup -> _process_jobs: one per scheduler wake-up
    _n[0] += 1
    return _orig_process()
_sched._process_jobs = _counted_process
async def _idle_job():
    pass
for _i in range(50):
    _sched.add_job(_idle_job, "interval", hours=1)
def _count():
    return _n[0]
"""

IDLE_TIMER = """
_n = [0]
def _idle_fire():  # the Timer callback: runs only when a timer expires
    _n[0] += 1
_idle_timers = [threading.Timer(3600, _idle_fire) for _ in range(50)]
for _t in _idle_timers:
    _t.daemon = True
    _t.start()
def _count():
    return _n[0]
"""

IDLE_TICK = """
import asyncio, time
_loop = asyncio.get_running_loop()
_n = [0]
_due = [time.time() + 3600] * 50
def _tick():  # a polling scheduler: wake every second, look for due jobs
    _n[0] += 1
    now = time.time()
    for d in _due:
        if d <= now:
            pass
    _loop.call_later(1.0, _tick)
_loop.call_later(1.0, _tick)
def _count():
    return _n[0]
"""

IDLE_BARE = """
def _count():
    return 0
"""

IDLE_ROWS = {
    "loopal_ipy": ("loopal_ipy", IDLE_LOOPAL, "KernelScheduler.wakeups (timer expiries)"),
    "apscheduler": ("APScheduler 3 AsyncIOScheduler", IDLE_APS, "_process_jobs calls (wrapped)"),
    "timer": ("threading.Timer x50", IDLE_TIMER, "Timer callbacks run (50 parked threads)"),
    "call_later": ("1 s tick loop (call_later)", IDLE_TICK, "tick callbacks (wrapped)"),
    "bare": ("bare kernel, nothing scheduled", IDLE_BARE, "—"),
}


def run_idle(cfg: argparse.Namespace, root: Path, targets: Targets, kernels: dict[str, Kernel]) -> dict[str, Any]:
    say(f"\n[2] idle cost: 50 jobs due an hour away, {cfg.idle:g} s of an idle kernel (all five kernels side by side)")
    results: dict[str, Any] = {}
    live: dict[str, Kernel] = {}
    for key, (label, cell, _) in IDLE_ROWS.items():
        if key == "apscheduler" and not have_apscheduler():
            results[key] = {"label": label, "skipped": "apscheduler not installed"}
            continue
        k = kernels.get(key)
        if k is None:  # --only idle: start the kernel and run the lateness cell's imports with no jobs
            k = Kernel(env=kernel_env(root / key))
            k.start()
            kernels[key] = k
            if key in PEERS:
                must(k, PEERS[key][1].format(jobs=0, stagger=0.1, hist=20))  # imports and names, no jobs
        must(k, cell)
        live[key] = k
    time.sleep(1.0)  # let add_job/_arm settle before the window opens
    start: dict[str, tuple[int, float, float, int, int]] = {}
    for key, k in live.items():
        n0 = k.evaluate("_count()")
        pid = k.evaluate("__import__('os').getpid()")
        p = psutil.Process(pid)
        c = p.cpu_times()
        ctx = p.num_ctx_switches()
        start[key] = (n0, c.user + c.system, time.monotonic(), ctx.voluntary + ctx.involuntary, pid)
    time.sleep(cfg.idle)
    for key, k in live.items():
        n0, cpu0, t0, ctx0, pid = start[key]
        p = psutil.Process(pid)
        c = p.cpu_times()
        ctx = p.num_ctx_switches()
        window = time.monotonic() - t0
        cpu = c.user + c.system - cpu0
        ctxd = ctx.voluntary + ctx.involuntary - ctx0
        n1 = k.evaluate("_count()")
        results[key] = {
            "label": IDLE_ROWS[key][0],
            "counted": IDLE_ROWS[key][2],
            "window_s": round(window, 2),
            "wakeups": n1 - n0,
            "cpu_s": round(cpu, 4),
            "ctx_switches": ctxd,
            "threads": p.num_threads(),
        }
    lo = results.get("loopal_ipy", {})
    rows = []
    for r in results.values():
        if "skipped" in r:
            rows.append([r["label"], "skipped", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                r["label"],
                r["wakeups"],
                r["cpu_s"],
                ratio(lo.get("cpu_s"), r["cpu_s"]),
                r["ctx_switches"],
                r["threads"],
                r["window_s"],
                r["counted"],
            ]
        )
    say(
        table(
            [
                "scheduler",
                "wake-ups",
                "CPU s",
                "CPU vs loopal",
                "ctx switches",
                "threads",
                "window s",
                "what 'wake-ups' counts",
            ],
            rows,
        )
    )
    say("  CPU s and ctx switches are the whole kernel process (all threads, incl. ipykernel's heartbeat, iopub and")
    say("  parent-poller threads), read from outside with psutil; the bare kernel is their floor. 'wake-ups' counts")
    say("  only each scheduler's own callback, wrapped in that kernel; a parked Timer thread costs no callback, but")
    say("  holds an OS thread per job.")
    # The one timer sleeps at most 60 s (a wall-clock jump forward is noticed within a minute; docs/running.md).
    most = int(cfg.idle // 60) + 1
    woke = lo.get("wakeups")
    v = targets.check(
        "idle",
        f"loopal_ipy scheduler wake-ups in {cfg.idle:g} s, 50 jobs an hour away",
        woke,
        f"<= {most} (one a minute)",
        woke is not None and woke <= most,
    )
    say(f"  target: at most one wake-up a minute ({most} in {cfg.idle:g} s): {v}")
    return results
