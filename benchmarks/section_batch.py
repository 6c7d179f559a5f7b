"""Section 7, batch: a trivial cell's wait while N jobs are due at once, beside a bare kernel.

N durable jobs with an empty body are created, the kernel is restarted (so the batch is the first
after a load: nothing compiled yet), and then every job is made due at the same instant, as the
jobs of one cron schedule are at each minute. While the batch runs, the client sends a trivial
cell every 20 ms and times each round trip (request sent → idle seen). The same probe runs in a
bare kernel with nothing scheduled: the floor. Target (docs/running.md, "Many jobs at once"): the
worst wait ≤ 50 ms + the longest single job.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from harness import Targets, kernel_env, must, pct, ratio, say, table
from kernelutil import SCHED, Kernel

from loopal_ipy import cli

PROBE_EVERY = 0.02  # seconds between trivial cells

CREATE = f"""
import loopal_ipy
%config Cron.max_jobs = {{n}}
for _i in range({{n}}):
    {SCHED}.create("* * * * *", "pass", name=f"b{{{{_i}}}}", durable=True)
"""

DUE_NOW = f"""
from datetime import UTC, datetime, timedelta
import loopal_ipy
_s = {SCHED}
_at = datetime.now(UTC) + timedelta(seconds=1)
for _job in _s.jobs():
    _job.next_fire = _at
    _s.core._push(_job)
_s.rearm()
"""

LONGEST = f"max((r.duration or 0.0) for j in {SCHED}.jobs() for r in j.history if r.status == 'ok')"
LAST_START = f"max(r.started_at.timestamp() for j in {SCHED}.jobs() for r in j.history if r.status == 'ok')"


def _probe(k: Kernel, until: Any, limit: float) -> list[tuple[float, float]]:
    """(wall time sent, round trip s) of trivial cells sent every PROBE_EVERY s until ``until()`` or ``limit`` s."""
    waits: list[tuple[float, float]] = []
    end = time.monotonic() + limit
    n = 0
    while time.monotonic() < end:
        t0, sent = time.monotonic(), time.time()
        r = k.execute("pass", timeout=120)
        waits.append((sent, time.monotonic() - t0))
        assert r.status == "ok"
        n += 1
        if n % 5 == 0 and until():
            break
        time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - t0)))
    return waits


AFTER_S = 3.0  # seconds probed after the batch: the journal's compaction, put off until the batch ended


def run_batch(cfg: argparse.Namespace, root: Path, targets: Targets) -> dict[str, Any]:
    n = cfg.batch_jobs
    say(f"\n[7] batch: a trivial cell every {PROBE_EVERY * 1000:g} ms while {n:,} jobs are due at once (after a load)")
    env = kernel_env(root / "batch", LOOPAL_SESSION_ID="batch")
    cli.enable(cli.config_path("default", env["IPYTHONDIR"]))
    results: dict[str, Any] = {}
    with Kernel(env=kernel_env(root / "bare")) as bare:
        waits = [w for _, w in _probe(bare, lambda: False, cfg.batch_probe_s)]
        results["bare"] = {"cells": len(waits), "p50_ms": pct(waits, 50) * 1e3, "max_ms": max(waits) * 1e3}
    with Kernel(env=env) as k:
        must(k, CREATE.format(n=n), timeout=600)
        k.restart()
        must(k, f"import loopal_ipy\n%config Cron.max_jobs = {n}", timeout=600)
        loaded = k.evaluate(f"len({SCHED}.jobs())")
        assert loaded == n, f"{loaded} of {n} jobs loaded"
        must(k, DUE_NOW)
        time.sleep(1.0)  # the batch starts now
        t0 = time.monotonic()
        probes = _probe(k, lambda: k.evaluate(f"sum(j.runs for j in {SCHED}.jobs())") >= n, 600)
        probes += _probe(k, lambda: False, AFTER_S)
        batch_s = time.monotonic() - t0
        longest, last = k.evaluate(LONGEST), k.evaluate(LAST_START)
        # A cell sent before the batch's last job started waited during the batch; later ones, after it.
        waits = [w for sent, w in probes if sent <= last]
        after = [w for sent, w in probes if sent > last] or [0.0]
        results["loopal_ipy"] = {
            "jobs": n,
            "cells": len(waits),
            "p50_ms": pct(waits, 50) * 1e3,
            "max_ms": max(waits) * 1e3,
            "batch_s": batch_s,
            "longest_job_ms": longest * 1e3,
            "after_max_ms": max(after) * 1e3,
            "compactions": k.evaluate(f"{SCHED}.store.store.saves['full']"),
        }
    base, ours = results["bare"], results["loopal_ipy"]
    say(
        table(
            ["kernel", "cells answered", "wait p50 ms", "worst wait ms", "note"],
            [
                ["bare kernel", base["cells"], f"{base['p50_ms']:.1f}", f"{base['max_ms']:.1f}", "nothing scheduled"],
                [
                    f"loopal_ipy, {n:,} jobs due",
                    ours["cells"],
                    f"{ours['p50_ms']:.1f}",
                    f"{ours['max_ms']:.1f}",
                    f"batch took {ours['batch_s']:.1f} s; longest job {ours['longest_job_ms']:.2f} ms; "
                    f"worst {ratio(base['max_ms'], ours['max_ms'])} the bare kernel's",
                ],
                [
                    f"the {AFTER_S:g} s after the batch",
                    "",
                    "",
                    f"{ours['after_max_ms']:.1f}",
                    f"the journal's compaction, put off until 1 s after the batch ({ours['compactions']} rewrite)",
                ],
            ],
        )
    )
    limit = 50 + ours["longest_job_ms"]
    targets.check(
        "batch",
        f"worst cell wait, {n:,} jobs due at once (ms)",
        ours["max_ms"],
        f"≤ 50 ms + longest job = {limit:.1f}",
        ours["max_ms"] <= limit,
    )
    return results


if __name__ == "__main__":  # pragma: no cover - run.py is the entry point
    sys.exit("run: python benchmarks/run.py --only batch")
