"""Counts, zones, names and snapshots that are always true, in real kernels."""

from __future__ import annotations

import json

import pytest
from kernelutil import SCHED, Kernel, create, ok, text


def test_wait_counts_every_run_whatever_was_removed(kernel: Kernel) -> None:
    ok(kernel, "done = []")
    for n in (20, 25):
        ok(kernel, f"for _ in range({n}): {SCHED}.create('@every 1s', 'done.append(1)', once=True)")
        r = ok(kernel, f"%cron wait --runs {n} --timeout 20", timeout=40)
        assert text(r).startswith(f"jobs ran {n} more time(s)") or "ran" in text(r), text(r)
    ok(kernel, "done.clear()")
    create(kernel, '%cron create --once "@every 1s" done.append(1)')
    r = kernel.execute("%cron wait --timeout 10", timeout=30)
    assert r.status == "ok", (r.ename, r.evalue)
    assert kernel.evaluate("done") == [1]


def test_a_zone_changed_in_the_kernel_is_seen_by_next_and_next_fires(kernel: Kernel) -> None:
    ok(kernel, "import os, time\nos.environ['TZ'] = 'UTC'; time.tzset()")
    first = text(ok(kernel, '%cron next "0 9 * * *" -n 1'))
    assert "(UTC)" in first, first
    ok(kernel, "os.environ['TZ'] = 'Asia/Tokyo'; time.tzset()")
    second = text(ok(kernel, '%cron next "0 9 * * *" -n 1'))
    assert "Asia/Tokyo" in second, second
    zone = kernel.evaluate("str(loopal_ipy.next_fires('0 9 * * *', n=1)[0].tzinfo)")
    assert zone == "Asia/Tokyo", zone
    jid = create(kernel, '%cron create "0 9 * * *" pass')
    assert kernel.evaluate(f"{SCHED}.get({jid!r}).tz") == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ("create('@hourly', 'pass', name='x\\n')", "bad job name"),
        ("create('0\\n6 * *\\n*', 'pass')", "control character"),
        ("create('@every 1s\\x00', 'pass')", "control character"),
        ("create('@hourly', 'pass', tz='UTC\\n')", "unknown timezone"),
    ],
)
def test_control_characters_are_refused_on_every_path(kernel: Kernel, call: str, said: str) -> None:
    r = kernel.execute(f"{SCHED}.{call}")
    assert r.status == "error" and said in (r.evalue or ""), (r.ename, r.evalue)
    assert kernel.evaluate(f"len({SCHED}.jobs())") == 0


def test_the_saved_snapshot_of_a_big_table_is_bounded(kernel: Kernel) -> None:
    """What %cron list sends does not grow with the job count: the first page and a count."""
    ok(kernel, "%config Cron.max_jobs = 10000")
    sizes = {}
    for total in (60, 10_000):
        have = kernel.evaluate(f"len({SCHED}.jobs())")
        # distinct codes: a later request's create of an identical unnamed job would find the earlier one
        ok(kernel, f"for i in range({have}, {total}): {SCHED}.create('@hourly', f'x = {{i}}')", timeout=120)
        r = ok(kernel, "%cron list", timeout=60)
        sizes[total] = len(json.dumps([m["content"] for m in r.messages]))
        bundle = r.execute_result or next((d["data"] for d in r.displays if "text/plain" in d.get("data", {})), {})
        more = f"and {total - 50:,} more jobs"
        assert more in bundle.get("text/plain", "") and more in bundle.get("text/html", ""), bundle.get("text/plain")
    print(f"%cron list sent {sizes[60]:,} bytes for 60 jobs, {sizes[10_000]:,} for 10,000")
    assert sizes[10_000] < 1.2 * sizes[60], sizes


@pytest.mark.parametrize(
    "cell",
    [
        "%%time\n%cron wait tick --runs 2 --timeout 20",
        "%time %cron wait tick --runs 2 --timeout 20",
        "%%capture captured\n%cron wait tick --runs 2 --timeout 20",
        "%cron wait tick --runs 2 --timeout 20",  # after a cell that turned autoawait off
    ],
    ids=["%%time", "%time", "%%capture", "autoawait off"],
)
def test_wait_works_inside_wrappers(kernel: Kernel, cell: str) -> None:
    ok(kernel, "ticks = 0")
    create(kernel, '%cron create --name tick "@every 1s" ticks += 1')
    if "%" not in cell.split("%cron")[0]:
        ok(kernel, "%autoawait off")
    r = kernel.execute(cell, timeout=60)
    try:
        assert r.status == "ok" and r.ename is None, (r.ename, r.evalue, r.stderr)
        assert "Error" not in r.stderr, r.stderr
        assert kernel.evaluate("ticks") >= 2
    finally:
        ok(kernel, "%autoawait on")


def test_wait_for_an_async_job_where_the_cell_cannot_await_says_so(kernel: Kernel) -> None:
    create(kernel, '%cron create --name nap "@every 1s" await asyncio.sleep(0)')
    r = kernel.execute("%%time\n%cron wait nap --timeout 5", timeout=30)
    # IPython 9's %%time fails the cell with it; IPython 8's shows the one line (an error output) and answers ok.
    said = (r.evalue or "") if r.ename else r.stderr.strip()
    assert r.ename in ("UsageError", None) and "awaits" in said and "%%time" in said, (r.status, said)
    assert said.count("\n") == 0, said
