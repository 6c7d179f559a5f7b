"""Section 3, core: the pure scheduler's per-fire overhead, memory per job, ``next_fires`` throughput."""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))

from harness import Targets, ratio, say, table

from loopal_ipy import next_fires
from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler

ZONES = ["UTC", "Europe/Paris", "America/New_York"]
SCHEDULES = [("@every 1h", "UTC"), ("*/5 * * * *", "UTC"), ("0 9 * * MON-FRI", "Europe/Paris")]


def build_core(
    n: int,
    schedule: str = "@every 1h",
    *,
    durable: bool = False,
    mixed: bool | str = False,
    spread: bool = True,
    start: str = "2026-01-05T12:00:30+00:00",
) -> tuple[Scheduler, FakeClock]:
    """n jobs; with the default, created 3600/n s apart so their fires are spread evenly over the hour."""
    clock = FakeClock(start)
    core = Scheduler(clock, Settings(max_jobs=max(n, 1), max_age=1e9))
    step = 3600.0 / max(n, 1)
    for i in range(n):
        if mixed == "distinct":  # ~4,300 different (expression, zone) pairs: no cache can share answers
            sched, tz = f"{i % 60} {(i // 60) % 24} * * *", ZONES[i % len(ZONES)]
        else:
            sched, tz = SCHEDULES[i % len(SCHEDULES)] if mixed else (schedule, "UTC")
        core.create(sched, f"job_{i}()", durable=durable, tz=tz)
        if spread and not mixed:
            clock.advance(step)
    return core, clock


def fire_loop(core: Scheduler, clock: FakeClock, fires: int) -> tuple[float, int]:
    """Drive the core as the bridge does (next_deadline, due, finish) with no user code; (seconds, fires)."""
    done = 0
    t0 = time.perf_counter()
    while done < fires:
        deadline = core.next_deadline()
        clock.set(max(deadline, clock.now()))
        for f in core.due(deadline):
            core.finish(f.job, Run(started_at=deadline, status="ok", occurrence=f.occurrence))
            done += 1
    return time.perf_counter() - t0, done


def timeit_for(fn: Callable[[], Any], seconds: float) -> tuple[int, float]:
    n, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return n, el


def run_core(cfg: argparse.Namespace, targets: Targets) -> dict[str, Any]:
    say(
        "\n[3] core scale (pure scheduler, in-process, FakeClock): per fire = next_deadline() + due() + Run() +"
        " finish(), no user code"
    )
    results: dict[str, Any] = {"per_fire": {}}
    rows = []
    for n in cfg.core_sizes:
        t_build = time.perf_counter()
        core, clock = build_core(n)
        build_s = time.perf_counter() - t_build
        fire_loop(core, clock, min(cfg.core_fires, 2000))  # warm-up
        samples = []
        for _ in range(3):
            el, done = fire_loop(core, clock, cfg.core_fires)
            samples.append(el / done * 1e6)
        us = statistics.median(samples)
        results["per_fire"][str(n)] = {
            "us_per_fire": round(us, 3),
            "runs": [round(s, 3) for s in samples],
            "fires_per_run": cfg.core_fires,
            "create_us_per_job": round(build_s / n * 1e6, 2),
            "heap_entries": len(core._deadlines._heap),
        }
        rows.append([f"{n:,} jobs", us, min(samples), max(samples), build_s / n * 1e6, len(core._deadlines._heap)])
    base = results["per_fire"][str(cfg.core_sizes[0])]["us_per_fire"]
    for row in rows:
        row.insert(4, ratio(base, row[1]))
    say(
        table(
            ["jobs", "µs/fire (median of 3)", "min", "max", f"vs {cfg.core_sizes[0]}", "create µs/job", "heap entries"],
            rows,
        )
    )
    big = cfg.core_sizes[-1]
    us_big = results["per_fire"][str(big)]["us_per_fire"]
    growth = us_big / base
    log_bound = math.log2(big) / math.log2(cfg.core_sizes[0])
    v1 = targets.check(
        "core", f"per-fire overhead at {big:,} jobs (ms)", round(us_big / 1000, 5), "<= 0.2 ms", us_big / 1000 <= 0.2
    )
    v2 = targets.check(
        "core",
        f"growth {cfg.core_sizes[0]} -> {big:,} jobs",
        f"{growth:.2f}x",
        f"<= log2({big})/log2({cfg.core_sizes[0]}) = {log_bound:.2f}x (logarithmic)",
        growth <= log_bound,
    )
    v3 = targets.check(
        "core", f"µs/fire at {big:,} jobs vs {cfg.core_sizes[0]} jobs, same run", f"{growth:.2f}x", "<= 1.3x",
        growth <= 1.3,
    )  # fmt: skip
    say(f"  targets: <= 0.2 ms/fire at {big:,} jobs: {v1};  grows at most logarithmically: {v2};  <= 1.3x: {v3}")

    # memory per job
    mem = {}
    for label, n, runs in (("fresh job (@every 1h)", cfg.mem_jobs, 0), ("job with a full 20-run history", 1000, 20)):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        core, clock = build_core(n)
        if runs:
            fire_loop(core, clock, n * runs)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        mem[label] = {"jobs": n, "bytes_per_job": round((after - before) / n)}
        del core
    results["memory"] = mem
    say(
        table(
            ["memory per job (tracemalloc, whole core incl. heap)", "jobs", "bytes/job"],
            [[k, v["jobs"], v["bytes_per_job"]] for k, v in mem.items()],
        )
    )

    # next_fires throughput
    nf = {}
    rows = []
    # Cold numbers: every call starts later than the last and the schedule module's
    # (schedule, instant) answer cache is emptied first, so nothing is served from it.
    from loopal_ipy.core import schedule as schedule_module

    starts = itertools.count()
    base = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)

    def fresh() -> datetime:
        schedule_module._cron_next.cache_clear()
        schedule_module._cron_count.cache_clear()
        return base + timedelta(seconds=7.013 * next(starts))

    for sched, tz in SCHEDULES:
        calls, el = timeit_for(lambda s=sched, z=tz: next_fires(s, n=100, tz=z, start=fresh()), cfg.nf_seconds)
        calls5, el5 = timeit_for(lambda s=sched, z=tz: next_fires(s, n=5, tz=z, start=fresh()), cfg.nf_seconds)
        nf[f"{sched} [{tz}]"] = {
            "occurrences_per_s": round(calls * 100 / el),
            "us_per_call_n5": round(el5 / calls5 * 1e6, 1),
        }
        rows.append([f"{sched} [{tz}]", round(calls * 100 / el), el5 / calls5 * 1e6])
    results["next_fires"] = nf
    say(table(["next_fires throughput", "occurrences/s (n=100)", "µs per call (n=5)"], rows))
    return results
