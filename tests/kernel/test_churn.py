"""Memory stays bounded by the jobs that exist (docs/kernel.md): a kernel that creates, runs and deletes
thousands of jobs keeps neither their compiled code nor their source lines."""

from __future__ import annotations

import sys

from kernelutil import Kernel, ok

CHURN = """
import gc, linecache, psutil
_sched = loopal_ipy.get_scheduler()

def churn(start, n):
    for i in range(start, start + n):
        job = _sched.create('@hourly', f'churned = {i}')  # distinct codes, one name
        _sched.run_now(job.id)
        _sched.delete(job.id)

def cron_lines():
    return sum(1 for name in linecache.cache if name.startswith('<cron '))

churn(0, 5000)  # warm-up: the bounded caches (4,096 next-fire answers, 1,024 codes) fill here
"""
# Each in a cell of its own: what a cell queues on the loop (hook calls, saves) runs after it.
BEFORE = "gc.collect(); rss_before = psutil.Process().memory_info().rss"
AFTER = "gc.collect(); grown = psutil.Process().memory_info().rss - rss_before"


def test_churning_5000_jobs_keeps_memory_bounded(kernel: Kernel) -> None:
    ok(kernel, CHURN, timeout=600)
    ok(kernel, BEFORE)
    ok(kernel, "churn(5000, 5000)", timeout=600)
    ok(kernel, AFTER)
    lines, grown = kernel.evaluate("cron_lines()"), kernel.evaluate("grown")
    cached = kernel.evaluate("len(_sched.runner._cache)")
    print(
        f"after 5,000 jobs churned: {lines} linecache entries, {cached} compiled codes, "
        f"RSS grew {grown / 2**20:.2f} MiB",
        file=sys.stderr,
    )
    assert lines <= 100, lines
    assert cached <= 100, cached
    assert grown <= 8 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"
