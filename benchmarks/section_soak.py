"""Section 5, soak: 50 jobs every second for minutes in a real kernel: memory, history, lateness, misses."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from harness import Targets, fmt, kernel_env, must, say, table
from kernelutil import Kernel

SOAK = """
import array, asyncio, os, loopal_ipy
%load_ext loopal_ipy
_s = loopal_ipy.get_scheduler()
_bins = array.array("Q", bytes(8 * 10002))  # 0.1 ms bins up to 1 s, last = later; no allocation per fire
_agg = [0, 0.0, 0]  # fires seen, max lateness ms, non-ok runs
def _on_event(ev):
    if ev.kind != "finished":
        return
    run = _s.core.get(ev.job_id).history[-1]
    if run.occurrence is None:
        return
    ms = (run.started_at - run.occurrence).total_seconds() * 1000
    _bins[min(int(ms * 10), 10001)] += 1
    _agg[0] += 1
    if ms > _agg[1]:
        _agg[1] = ms
    if run.status != "ok":
        _agg[2] += 1
_s.core.subscribe(_on_event)
_soak_n = 0
_soak_ids = [_s.create("@every 1s", "_soak_n += 1\\nprint('tick', _soak_n)").id for _ in range({jobs})]
"""

SOAK_REPORT = """(
    _agg,
    [(i, c) for i, c in enumerate(_bins) if c],
    [
        (j.runs, j.coalesced, j.skips, len(j.history), j.history.maxlen,
         max((len(r.output) for r in j.history), default=0),
         (j.last_fired - j.created_at).total_seconds() if j.last_fired else 0.0,
         (_s.core.clock.now() - j.created_at).total_seconds())
        for j in _s.jobs()
    ],
    len(_s.core.events), _s.core.events.maxlen, len(_s.core._deadlines._heap), len(asyncio.get_event_loop()._scheduled),
    _soak_n, _s.wakeups,
)"""


def run_soak(cfg: argparse.Namespace, root: Path, targets: Targets) -> dict[str, Any]:
    jobs, seconds = cfg.soak_jobs, cfg.soak_minutes * 60
    warm = 60.0 if seconds >= 300 else seconds / 2
    say(
        f"\n[5] soak: {jobs} jobs @every 1s (each prints a line) for {seconds:g} s in a real idle kernel;"
        f" RSS sampled from outside every {cfg.sample_s:g} s, warm-up {warm:g} s"
    )
    k = Kernel(env=kernel_env(root / "soak"))
    k.start()
    try:
        must(k, SOAK.format(jobs=jobs))
        pid = k.evaluate("os.getpid()")
        proc = psutil.Process(pid)
        c0 = proc.cpu_times()
        t0 = time.monotonic()
        samples: list[tuple[float, int]] = []
        while (el := time.monotonic() - t0) < seconds:
            samples.append((round(el, 1), proc.memory_info().rss))
            # each wake-up sends a busy/idle pair (activity.py): unread, 10 minutes of them pass ZMQ's
            # high-water mark and the report's own reply would be dropped
            k.read_iopub_for(min(cfg.sample_s, max(0.0, seconds - el)))
        samples.append((round(time.monotonic() - t0, 1), proc.memory_info().rss))
        c1 = proc.cpu_times()
        agg, bins, per_job, n_events, events_max, heap, loop_timers, soak_n, wakeups = k.evaluate(SOAK_REPORT)
    finally:
        k.shutdown()
    fires, max_ms, not_ok = agg
    hist = dict(bins)

    def q(p: float) -> float:
        goal, acc = math.ceil(p / 100 * fires), 0
        for i in sorted(hist):
            acc += hist[i]
            if acc >= goal:
                return (i + 1) / 10  # upper edge of the 0.1 ms bin
        return math.nan

    warm_rss = next((rss for t, rss in samples if t >= warm), samples[-1][1])
    after = [rss for t, rss in samples if t >= warm]
    growth = (max(after) - warm_rss) / 2**20 if after else math.nan
    end_growth = (samples[-1][1] - warm_rss) / 2**20
    runs = sum(j[0] for j in per_job)
    coalesced = sum(j[1] for j in per_job)
    skips = sum(j[2] for j in per_job)
    # occurrences through each job's last fire: last_fired is created_at + K s for the K-th occurrence
    through_last = sum(round(j[6]) for j in per_job)
    elapsed = sum(math.floor(j[7]) for j in per_job)
    missed = through_last - runs
    stalled = sum(1 for j in per_job if j[7] - j[6] > 2.0)
    hist_max = max(j[3] for j in per_job)
    hist_cap = per_job[0][4]
    out_max = max(j[5] for j in per_job)
    res = {
        "jobs": jobs,
        "seconds": seconds,
        "warmup_s": warm,
        "fires_seen": fires,
        "runs": runs,
        "occurrences_through_last_fire": through_last,
        "occurrences_elapsed_at_check": elapsed,
        "missed": missed,
        "coalesced": coalesced,
        "skipped": skips,
        "stalled_jobs": stalled,
        "non_ok_runs": not_ok,
        "lateness_p50_ms": q(50),
        "lateness_p99_ms": q(99),
        "lateness_max_ms": round(max_ms, 3),
        "rss_at_start_mb": round(samples[0][1] / 2**20, 2),
        "rss_at_warmup_mb": round(warm_rss / 2**20, 2),
        "rss_end_mb": round(samples[-1][1] / 2**20, 2),
        "rss_growth_peak_after_warmup_mb": round(growth, 3),
        "rss_growth_end_mb": round(end_growth, 3),
        "history_max_len": hist_max,
        "history_cap": hist_cap,
        "history_max_output_chars": out_max,
        "core_events": n_events,
        "core_events_cap": events_max,
        "core_heap_entries": heap,
        "loop_timer_handles": loop_timers,
        "kernel_cpu_s": round(c1.user + c1.system - c0.user - c0.system, 2),
        "wakeups": wakeups,
        "job_body_runs": soak_n,
        "rss_samples": samples,
    }
    say(
        table(
            ["soak", "value"],
            [
                ["fires seen (listener) / runs / job-body executions", f"{fires:,} / {runs:,} / {soak_n:,}"],
                ["occurrences through last fire / elapsed at check", f"{through_last:,} / {elapsed:,}"],
                ["missed / coalesced / skipped / stalled jobs", f"{missed} / {coalesced} / {skips} / {stalled}"],
                ["lateness p50 / p99 / max ms", f"{fmt(q(50))} / {fmt(q(99))} / {max_ms:.2f}"],
                [
                    "RSS start / warm-up / end MiB",
                    f"{res['rss_at_start_mb']} / {res['rss_at_warmup_mb']} / {res['rss_end_mb']}",
                ],
                ["RSS growth after warm-up: peak / end MiB", f"{growth:.2f} / {end_growth:.2f}"],
                ["history len max (cap) / longest output chars", f"{hist_max} ({hist_cap}) / {out_max}"],
                [
                    "core events (cap) / heap entries / loop timers",
                    f"{n_events} ({events_max}) / {heap} / {loop_timers}",
                ],
                ["scheduler wake-ups / kernel CPU s", f"{wakeups:,} / {res['kernel_cpu_s']}"],
            ],
        )
    )
    v1 = targets.check("soak", "RSS growth after warm-up (peak, MiB)", round(growth, 3), "<= 5 MB", growth <= 5)
    v2 = targets.check(
        "soak",
        "history bounded (max len / cap)",
        f"{hist_max}/{hist_cap}",
        "len <= cap",
        hist_max <= hist_cap and n_events <= events_max,
    )
    v3 = targets.check("soak", "max fire lateness (ms)", round(max_ms, 3), "<= 50 ms", max_ms <= 50)
    v4 = targets.check(
        "soak",
        "missed occurrences while idle",
        missed + coalesced + stalled,
        "0",
        missed == 0 and coalesced == 0 and stalled == 0 and fires > 0,
    )
    say(
        f"  targets: RSS growth <= 5 MB: {v1};  history bounded: {v2};  max lateness <= 50 ms: {v3};  zero missed: {v4}"
    )
    return res
