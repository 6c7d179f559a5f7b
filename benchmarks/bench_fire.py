"""Fire lateness and idle wake-ups of loopal_ipy in a real, idle kernel (docs/running.md).

Prints, for an ``@every 1s`` job, each fire's lateness against its occurrence
beside a bare ``loop.call_later`` chain on the same loop in the same kernel
(the floor), then the scheduler's wake-ups and the kernel's CPU seconds over a
quiet period with 50 jobs due an hour away, and again with one job due in a day
(the timer sleeps at most 60 s, so a wall-clock jump is noticed: at most one
wake-up a minute). Asserts nothing about time.

    python benchmarks/bench_fire.py [--fires 30] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from kernelutil import Kernel


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


FLOOR = """
import asyncio, time
_floor, _loop = [], asyncio.get_running_loop()
def _tick(k=[0]):
    _floor.append((_loop.time() - _due[0]) * 1000)
    k[0] += 1
    if k[0] < {n}:
        _due[0] = _loop.time() + 1.0
        _loop.call_later(1.0, _tick)
_due = [_loop.time() + 1.0]
_loop.call_later(1.0, _tick)
"""

IDLE = """
import psutil, os
_p = psutil.Process(os.getpid())
for i in range(50):
    %cron create "@every 1h" pass
_sched = loopal_ipy.get_scheduler()
_w0, _c0 = _sched.wakeups, sum(_p.cpu_times()[:2])
"""

DAILY = """
%cron delete --all
%cron create "@daily" pass
_w0, _c0 = _sched.wakeups, sum(_p.cpu_times()[:2])
"""


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fires", type=int, default=30)
    ap.add_argument("--idle", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home, Kernel(env={"LOOPAL_HOME": home}) as k:
        k.execute(f"%load_ext loopal_ipy\n%config Cron.history_size = {args.fires + 5}\nimport loopal_ipy")
        k.execute(FLOOR.format(n=args.fires))
        k.execute('%cron create --name bench "@every 1s" pass')
        time.sleep(args.fires + 1.5)
        floor = k.evaluate("_floor")
        late = k.evaluate(
            "[(r.started_at - r.occurrence).total_seconds() * 1000 for r in "
            "loopal_ipy.get_scheduler().get('bench').history if r.status == 'ok']"
        )[: args.fires]
        k.execute("%cron delete --all")
        k.execute(IDLE)
        time.sleep(args.idle)
        wakeups, cpu = k.evaluate("(_sched.wakeups - _w0, sum(_p.cpu_times()[:2]) - _c0)")
        k.execute(DAILY)
        time.sleep(args.idle)
        daily_wakeups, daily_cpu = k.evaluate("(_sched.wakeups - _w0, sum(_p.cpu_times()[:2]) - _c0)")
    result = {
        "fires": len(late),
        "loopal_p50_ms": statistics.median(late),
        "loopal_p99_ms": pct(late, 99),
        "loopal_max_ms": max(late),
        "call_later_p50_ms": statistics.median(floor),
        "call_later_p99_ms": pct(floor, 99),
        "idle_seconds": args.idle,
        "idle_wakeups_50_jobs": wakeups,
        "idle_kernel_cpu_s": round(cpu, 3),
        "idle_wakeups_1_daily_job": daily_wakeups,
        "idle_kernel_cpu_s_daily": round(daily_cpu, 3),
    }
    print(f"fire lateness over {len(late)} fires of an @every 1s job (real idle kernel)")
    print(f"  {'':22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    print(f"  {'loopal_ipy':22}{result['loopal_p50_ms']:9.2f}{result['loopal_p99_ms']:9.2f}{max(late):9.2f}")
    print(
        f"  {'bare call_later':22}{result['call_later_p50_ms']:9.2f}{result['call_later_p99_ms']:9.2f}{max(floor):9.2f}"
    )
    print(
        f"  ratio p99 loopal/floor: {result['loopal_p99_ms'] / max(result['call_later_p99_ms'], 1e-9):.2f}"
        "   (target: loopal p99 <= 10 ms)"
    )
    print(
        f"idle: {wakeups} scheduler wake-ups and {cpu:.3f} CPU s in {args.idle:g} s with 50 jobs due in an hour"
        f"   (target: at most {args.idle / 60:.0f} + 1: one a minute)"
    )
    print(
        f"idle: {daily_wakeups} scheduler wake-ups and {daily_cpu:.3f} CPU s in {args.idle:g} s with one job due in a"
        f" day   (target: at most {args.idle / 60:.0f} + 1: one a minute)"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
