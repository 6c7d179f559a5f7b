"""Traffic and build time of the live job table in a real, idle kernel (docs/table.md).

Prints the comm messages per second that one displayed table sends with 50
jobs when nothing fires (every ``comm_msg`` on iopub, read by the client, so
nothing is missed or double counted), the scheduler wake-ups meanwhile, and the
kernel-side time to build and display a 500-job table (its first page of rows
plus text/html and text/plain snapshots of all 500 jobs) — and, for
comparison, all 500 rows on one page. Asserts nothing about time.

    python benchmarks/bench_table.py [--seconds 60] [--jobs 50] [--big 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from kernelutil import Kernel

SETUP = """
import loopal_ipy, time
from IPython.display import display
_s = loopal_ipy.get_scheduler()
for _i in range({n}):
    _s.create("@every 1h", "pass")
_t = loopal_ipy.table()
display(_t)
_w0, _k0 = _s.wakeups, _t.ticks
"""

BIG = """
for _j in _s.jobs():
    _s.delete(_j.id)
for _i in range({n}):
    _s.create("@every 1h", "pass")
_t0 = time.perf_counter()
_big = loopal_ipy.table()
display(_big)
_render = time.perf_counter() - _t0
_t0 = time.perf_counter()
_all = loopal_ipy.table(page_size={n})
display(_all)
_render_all = time.perf_counter() - _t0
"""


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="idle window to count messages in")
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--big", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home, Kernel(env={"LOOPAL_HOME": home}) as k:
        k.execute(f"%load_ext loopal_ipy\n%config Cron.max_jobs = {max(args.jobs, args.big) + 10}")
        k.execute(SETUP.format(n=args.jobs))
        k.drain_iopub(quiet=0.3)
        t0 = time.monotonic()
        time.sleep(args.seconds)
        msgs = k.drain_iopub(quiet=0.1)
        window = time.monotonic() - t0
        comm = [m for m in msgs if m["msg_type"] == "comm_msg"]
        per_second = Counter(int(time.mktime(m["header"]["date"].timetuple())) for m in comm)
        wakeups, ticks = k.evaluate("(_s.wakeups - _w0, _t.ticks - _k0)")
        k.execute("_t.close()")
        k.execute(BIG.format(n=args.big), timeout=300)
        render, render_all = k.evaluate("(_render, _render_all)")
    result = {
        "jobs": args.jobs,
        "idle_seconds": round(window, 1),
        "comm_msgs": len(comm),
        "comm_msgs_per_s": round(len(comm) / window, 3),
        "max_msgs_in_one_second": max(per_second.values(), default=0),
        "countdown_ticks": ticks,
        "scheduler_wakeups": wakeups,
        "big_jobs": args.big,
        "render_big_s": round(render, 4),
        "render_big_one_page_s": round(render_all, 4),
    }
    print(f"idle table, {args.jobs} jobs due in an hour, {window:.1f} s:")
    print(f"  comm messages sent     {len(comm)}  ({result['comm_msgs_per_s']:.3f}/s; target <= 2/s)")
    print(f"  most in one second     {result['max_msgs_in_one_second']}")
    print(f"  countdown ticks        {ticks}")
    print(f"  scheduler wake-ups     {wakeups}")
    print(f"render a {args.big}-job table (50-row page + full snapshots): {render:.3f} s  (target <= 0.5 s)")
    print(f"  all {args.big} rows on one page, for comparison:        {render_all:.3f} s")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
