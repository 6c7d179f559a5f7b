"""Firing and output routing in REAL kernels (docs/running.md).

Times are compared inside the kernel: job code appends ``time.time()`` when it
starts, cells record their own start and end, and a fire is proven absent from
a cell by no job timestamp lying in the cell's interval. Output is checked on
the raw iopub stream (every message, whatever its parent), and markers are
built at run time (``"JOB" + "OUT"``) so that only output — never the echo of
the code in ``execute_input`` — can carry them.
"""

from __future__ import annotations

import itertools
import math
import re
import time

import pytest
from kernelutil import OUTPUT_KINDS, SCHED, Kernel, create, history, job, leaks, ok, text, wait_for


def align_to_half_second(k: Kernel, jid: str) -> None:
    """Sleep (here) until the job's ``@every 1s`` phase is 0.5 s: mid-way between occurrences."""
    anchor = k.evaluate(job(jid, "created_at.timestamp()"))
    phase = (time.time() - anchor) % 1.0
    time.sleep((0.5 - phase) % 1.0)


# ------------------------------------------------------------ idle firing
def test_job_fires_while_idle_and_changes_a_notebook_variable(kernel: Kernel) -> None:
    ok(kernel, "import threading\ncounter = 0\non_main = []")
    jid = create(
        kernel,
        '%cron create "@every 1s" counter += 1; on_main.append(threading.current_thread() is threading.main_thread())',
    )
    assert wait_for(lambda: kernel.evaluate("counter") >= 2, 5), "the job did not fire twice in 5 s of idle"
    first = f"({job(jid, 'history')}[0].started_at - {job(jid, 'created_at')}).total_seconds()"
    assert kernel.evaluate(first) >= 0.95, "the first run must wait for the first occurrence, not the create"
    n, on_main, runs, statuses = kernel.evaluate(  # one request: no fire can slip in between
        f"(counter, on_main, {job(jid, 'runs')}, [h.status for h in {job(jid, 'history')}])"
    )
    assert 2 <= n <= 6
    assert on_main == [True] * n, "job code must run on the kernel's main thread"
    assert runs == n and statuses == ["ok"] * n


def test_code_never_starts_before_its_occurrence(kernel: Kernel) -> None:
    """The timer is set a little ahead of a deadline and the rest is slept out (docs/running.md): no run may start
    before its occurrence, by the job's own clock reading, and each starts close after it."""
    ok(kernel, "starts = []")
    jid = create(kernel, '%cron create "@every 1s" starts.append(time.time())')
    assert wait_for(lambda: len(kernel.evaluate("starts")) >= 6, 10), "fewer than 6 fires in 10 s"
    starts, occurrences = kernel.evaluate(  # the runs only: a poll's cell may coalesce a fire (a note, no run)
        f"(starts[:6], [h.occurrence.timestamp() for h in {job(jid, 'history')} if h.status == 'ok'][:6])"
    )
    late = [s - o for s, o in zip(starts, occurrences, strict=True)]
    assert all(x >= 0 for x in late), f"a run started before its occurrence: {late}"
    assert all(x < 0.5 for x in late), f"a run of an idle kernel started half a second late: {late}"


# ------------------------------------------------------- busy: no fire, coalesce
@pytest.mark.parametrize(
    "busy_cell",
    [
        "_s = time.time(); time.sleep(3); _e = time.time()",
        "_s = time.time(); await asyncio.sleep(3); _e = time.time()",
    ],
    ids=["time.sleep", "await-asyncio.sleep"],
)
def test_no_fire_during_busy_cell_then_one_coalesced_fire(kernel: Kernel, busy_cell: str) -> None:
    ok(kernel, "ts = []")
    jid = create(kernel, '%cron create "@every 1s" ts.append(time.time())')
    assert wait_for(lambda: len(kernel.evaluate("ts")) >= 1, 3), "no idle fire before the busy cell"
    align_to_half_second(kernel, jid)
    ok(kernel, busy_cell)
    e = kernel.evaluate("_e")  # wait for the coalesced fire and the next regular one, however long they take
    assert wait_for(lambda: len([t for t in kernel.evaluate("ts") if t > e]) >= 2, 15), "no fires after the cell"
    s, e, ts = kernel.evaluate("(_s, _e, ts)")
    assert e - s >= 2.9
    inside = [t for t in ts if s <= t <= e]
    assert inside == [], f"the job started {len(inside)} time(s) while the cell ran ({s=}, {e=}, {inside=})"
    after = [t for t in ts if t > e]
    # The coalesced fire comes as soon as the cell ends, before the next occurrence of the schedule;
    # the fire after it is that occurrence (measured against the schedule, not against a guessed delay).
    anchor = kernel.evaluate(job(jid, "created_at.timestamp()"))
    next_regular = anchor + math.floor(e - anchor) + 1
    assert after[0] < next_regular, f"the coalesced fire waited for the schedule: {after} (cell ended {e})"
    assert after[1] >= next_regular - 0.01, f"two fires before the next occurrence: {after} ({next_regular=})"

    hist = [h for h in history(kernel, jid) if h["t"] >= e]
    assert [h["status"] for h in hist[:2]] == ["coalesced", "ok"], hist
    # The cell ran from phase 0.5 for 3 s: the occurrences at +0.5, +1.5, +2.5 collapse into one.
    assert re.match(
        r"^3 occurrences from \S+ to \S+ came due while the kernel was busy; they run once now$", hist[0]["output"]
    ), hist[0]["output"]
    assert kernel.evaluate(job(jid, "coalesced")) == 2  # occurrences that did not get a run of their own
    assert [h["status"] for h in hist[2:]] == ["ok"] * len(hist[2:])


# ------------------------------------------------------------------ output
def test_job_output_never_reaches_any_cell(kernel: Kernel) -> None:
    ok(kernel, "seen = []")
    talk = create(
        kernel,
        '%%cron create --name talk "@every 1s"\n'
        'M = "JOB" + "OUT"\n'
        'print(M + "-stdout")\n'
        'print(M + "-stderr", file=sys.stderr)\n'
        'display(M + "-display")\n'
        "seen.append(1)\n"
        'M + "-result"',
    )
    boom = create(
        kernel,
        '%%cron create --name boom "@every 1s"\nprint("JOB" + "ERR-before")\n1/0',
    )
    kernel.drain_iopub(quiet=0.1)
    assert wait_for(lambda: kernel.evaluate("len(seen)") >= 2, 5)
    cell = ok(kernel, 'print("cell-a"); x = 1 + 1')  # a cell that runs between fires
    waited = ok(kernel, "%cron wait talk --runs 2", timeout=15)  # fires while a cell runs
    ran = ok(kernel, "%cron run boom")  # runs inside a cell
    talked = kernel.evaluate("len(seen)")
    assert wait_for(lambda: kernel.evaluate("len(seen)") > talked, 10)  # a fire between the cells
    after = ok(kernel, 'print("cell-b")')  # the last cell; jobs fire after it ran
    talked = kernel.evaluate("len(seen)")
    assert wait_for(lambda: kernel.evaluate("len(seen)") > talked, 10)  # and one after it
    messages = kernel.drain_iopub()

    assert cell.stdout == "cell-a\n" and cell.stderr == ""
    assert after.stdout == "cell-b\n" and after.stderr == ""
    assert waited.stdout == waited.stderr == "" and waited.displays == []
    assert re.match(rf"^{talk} \(talk\) ran 2 more time\(s\)$", text(waited)), text(waited)
    assert ran.stdout == ran.stderr == "" and ran.displays == [] and ran.traceback == []
    assert re.match(rf"^ran {boom} \(boom\): error in [\d.]+ ms; output in %cron log {boom}$", text(ran)), text(ran)
    markers = ("JOBOUT", "JOBERR", "ZeroDivisionError", "division by zero")
    out_msgs = [m for m in messages if m["msg_type"] in OUTPUT_KINDS]
    assert out_msgs, "the cells' own output should be on iopub"
    assert leaks(out_msgs, markers) == []
    assert leaks(messages, markers) == []  # nor in any other message, whatever its parent

    last = kernel.evaluate(job(talk, "history[-1].output"))
    for part in ("JOBOUT-stdout\n", "JOBOUT-stderr\n", "'JOBOUT-display'\n", "'JOBOUT-result'\n"):
        assert part in last, (part, last)
    assert "cell-" not in last
    err = history(kernel, boom)[-1]
    assert err["status"] == "error"
    assert err["output"].startswith("JOBERR-before\n") and "ZeroDivisionError: division by zero" in err["output"]
    assert kernel.evaluate(job(boom, "runs")) >= 3


def test_raising_job_keeps_its_schedule_and_records_the_traceback(kernel: Kernel) -> None:
    ok(kernel, "tries = []\nfine = []")
    jid = create(kernel, '%%cron create --name bad "@every 1s"\ntries.append(time.time())\nx = 1\n1/0')
    healthy = create(kernel, '%cron create "@every 1s" fine.append(1)')
    assert wait_for(lambda: kernel.evaluate(job(jid, "failures")) >= 2, 5), "the raising job did not fire twice"
    assert jid in kernel.evaluate(f"[j.id for j in {SCHED}.jobs()]")
    assert kernel.evaluate(f"{job(jid, 'next_fire.timestamp()')} > time.time()")
    assert kernel.evaluate(job(jid, "paused")) is False

    last = history(kernel, jid)[-1]
    assert last["status"] == "error"
    assert last["trigger"] == "schedule"
    error = last["error"]
    assert error.startswith("Traceback (most recent call last):"), error
    assert f'File "<cron {jid}>", line 3, in <module>' in error, error
    assert "\n    1/0\n" in error, error  # the job's own source line
    assert error.rstrip().endswith("ZeroDivisionError: division by zero"), error
    assert "runner.py" not in error and "bridge.py" not in error  # the traceback starts at the job's code

    runs = kernel.evaluate(job(jid, "runs"))
    assert wait_for(lambda: kernel.evaluate(job(jid, "runs")) >= runs + 2, 4), "the raising job stopped firing"
    runs, failures = kernel.evaluate(f"({job(jid, 'runs')}, {job(jid, 'failures')})")
    assert runs == failures
    assert kernel.evaluate("len(fine)") >= 3 and kernel.evaluate(job(healthy, "failures")) == 0


# --------------------------------------------------------- load / reload
def test_load_twice_and_reload_leave_one_scheduler(kernel: Kernel) -> None:
    ok(kernel, "%load_ext loopal_ipy")  # the fixture loaded it already
    ok(kernel, "ticks = []\nb1 = loopal_ipy.get_scheduler()")
    jid = create(kernel, '%cron create --name tick "@every 1s" ticks.append(time.time())')
    assert wait_for(lambda: len(kernel.evaluate("ticks")) >= 1, 3)
    ok(kernel, "%reload_ext loopal_ipy")
    ok(kernel, "%load_ext loopal_ipy")
    ok(kernel, "b2 = loopal_ipy.get_scheduler()")

    assert kernel.evaluate("b1 is not b2 and not b1.started and b1._handle is None and b2.started")
    assert kernel.evaluate("[(j.id, j.name) for j in b2.jobs()]") == [(jid, "tick")]
    assert kernel.evaluate("b1.jobs()[0] is not b2.jobs()[0]")
    # exactly one set of hooks and one layer of output routing
    hooks = "[cb for cb in get_ipython().events.callbacks[{!r}] if 'loopal' in getattr(cb, '__module__', '')]"
    assert kernel.evaluate(f"len({hooks.format('pre_run_cell')})") == 1
    assert kernel.evaluate(f"len({hooks.format('post_run_cell')})") == 1
    assert kernel.evaluate("type(sys.stdout).__mro__[1] is type(sys.stdout)._loopal_routed")  # one layer only
    assert kernel.evaluate("type(sys.stdout)._loopal_routed.__name__") == "OutStream"
    assert kernel.evaluate("get_ipython().input_transformers_post.count(loopal_ipy.ui.magicargs.wait_transformer)") == 1

    ok(kernel, "ticks.clear(); _w0 = time.time()")
    assert wait_for(lambda: len(kernel.evaluate("ticks")) >= 5, 20), "the reloaded scheduler stopped firing"
    ticks, elapsed = kernel.evaluate("(list(ticks), time.time() - _w0)")
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) <= elapsed + 1, f"more fires than occurrences: {len(ticks)} in {elapsed:.1f} s: {ticks}"
    assert all(g >= 0.5 for g in gaps), f"two fires for one occurrence: gaps {gaps}"
    assert kernel.evaluate("b2.get('tick').runs") >= len(ticks)


def test_reload_during_an_async_run_neither_overlaps_nor_loses_the_run(kernel: Kernel) -> None:
    ok(kernel, "import asyncio\nspans = []")
    ok(
        kernel,
        '%%cron create --name slow "@every 1s"\n'
        "t0 = time.time(); await asyncio.sleep(2.5); spans.append((t0, time.time()))",
    )
    assert wait_for(lambda: kernel.evaluate("loopal_ipy.get_scheduler().get('slow').running"), 3)
    ok(kernel, "%reload_ext loopal_ipy")
    assert kernel.evaluate("loopal_ipy.get_scheduler().get('slow').running") is True
    assert wait_for(lambda: len(kernel.evaluate("spans")) >= 2, 20), "runs stopped after the reload"
    spans = kernel.evaluate("list(spans)")
    overlaps = [(a, b) for a, b in itertools.pairwise(sorted(spans)) if b[0] < a[1]]
    assert overlaps == [], f"the job overlapped itself across the reload: {spans}"
    statuses = kernel.evaluate("[r.status for r in loopal_ipy.get_scheduler().get('slow').history]")
    assert statuses.count("ok") == len(spans), f"a run was lost: {statuses} for {len(spans)} runs"


# ------------------------------------------------------------- async jobs
def test_await_job_runs_as_a_task_and_a_concurrent_cell_keeps_its_output(kernel: Kernel) -> None:
    ok(kernel, "done = []")
    jid = create(
        kernel,
        '%%cron create --name slow "@every 5s"\n'
        'print("ASYNC" + "JOB-start")\n'
        "await asyncio.sleep(0.2)\n"
        "done.append(1)\n"
        "await asyncio.sleep(4.0)\n"  # long enough that the next cell surely starts inside the run
        'print("ASYNC" + "JOB-end")',
    )
    kernel.drain_iopub(quiet=0.1)
    assert wait_for(lambda: kernel.evaluate(job(jid, "running")), 15, step=0.05), "the async job never started"
    cell = ok(
        kernel,
        f'print("CELL-one"); _mid = {job(jid, "running")}\n'
        f"for _ in range(400):  # the cell awaits until the job has finished (10 s at most)\n"
        f"    if not {job(jid, 'running')}:\n"
        "        break\n"
        "    await asyncio.sleep(0.025)\n"
        f'print("CELL-two"); _end = {job(jid, "running")}; _done = len(done)',
    )
    assert cell.stdout == "CELL-one\nCELL-two\n" and cell.stderr == "" and cell.displays == []
    # the job was running while the cell started, and went on (finished) while the cell awaited
    assert kernel.evaluate("(_mid, _end, _done)") == (True, False, 1)
    messages = kernel.drain_iopub()
    assert leaks(messages, ("ASYNCJOB",)) == []

    runs = [h for h in history(kernel, jid) if h["status"] == "ok"]
    assert runs, history(kernel, jid)
    first = runs[0]["output"]
    assert first == "ASYNCJOB-start\nASYNCJOB-end\n", first  # and not the cell's prints
    assert kernel.evaluate(job(jid, "failures")) == 0


# ----------------------------------------------------------- %cron wait
def test_cron_wait_lets_the_job_fire_while_the_cell_is_busy(kernel: Kernel) -> None:
    ok(kernel, "wt = []")
    jid = create(kernel, '%cron create --name w "@every 1s" wt.append(time.time())')
    r = ok(kernel, "_s = time.time()\n%cron wait w --runs 3\n_e = time.time()", timeout=20)
    assert r.stdout == r.stderr == ""
    s, e, wt = kernel.evaluate("(_s, _e, wt)")
    inside = [t for t in wt if s <= t <= e]
    assert len(inside) == 3, f"expected 3 fires during the waiting cell: {inside} in [{s}, {e}]"
    assert e - s > 1.5  # three occurrences of the schedule, in real time (the upper bound is the cell's timeout)

    t0 = time.monotonic()
    r = kernel.execute(f"%cron wait {jid} --runs 100 --timeout 2", timeout=20)
    elapsed = time.monotonic() - t0
    assert r.status == "error" and r.ename == "UsageError", (r.ename, r.evalue)
    assert re.match(
        rf"^%cron wait gave up after 2 s: job {jid} \(w\) ran [1-3] of 100 time\(s\); pass --timeout S to wait longer$",
        r.evalue or "",
    ), r.evalue
    # an error output of one line, which papermill, nbmake and nbclient print; nothing on stderr
    assert r.traceback == [f"UsageError: {r.evalue}"] and r.stderr == ""
    assert elapsed > 1.8  # it waited its 2 s before giving up

    r = ok(kernel, "%cron wait w", timeout=10)  # alone on its line: the result is shown
    assert text(r) == f"{jid} (w) ran 1 more time(s)"


# ----------------------------------------------------- run now, --once
def test_run_now_and_once(kernel: Kernel) -> None:
    ok(kernel, "hits = []\nonce_hits = []")
    jid = create(kernel, '%cron create --name manual "@hourly" hits.append(time.time())')
    nf = kernel.evaluate(job(jid, "next_fire.timestamp()"))
    r = ok(kernel, "%cron run manual")
    assert re.match(rf"^ran {jid} \(manual\): ok in [\d.]+ ms; output in %cron log {jid}$", text(r)), text(r)
    assert len(kernel.evaluate("hits")) == 1
    assert kernel.evaluate(job(jid, "next_fire.timestamp()")) == nf  # the schedule is unchanged
    assert kernel.evaluate(f"[(h.status, h.trigger) for h in {job(jid, 'history')}]") == [("ok", "run-now")]

    oid = create(kernel, '%cron create --once "@every 1s" once_hits.append(time.time())')
    assert wait_for(lambda: kernel.evaluate("len(once_hits)") >= 1, 4), "the --once job did not fire"
    # A witness on the same schedule proves the window: two more occurrences came, the one-shot stayed gone.
    ok(kernel, "witness = []")
    wid = create(kernel, '%cron create "@every 1s" witness.append(1)')
    assert wait_for(lambda: kernel.evaluate("len(witness)") >= 2, 15), "the witness did not fire twice"
    assert len(kernel.evaluate("once_hits")) == 1
    ok(kernel, f"%cron delete {wid}")
    ids = kernel.evaluate(f"[j.id for j in {SCHED}.jobs()]")
    assert ids == [jid], ids
    log = ok(kernel, f"%cron log {oid}")  # a removed job's log is still there
    assert "ok" in text(log) and oid in text(log)


# ---------------------------------------------------------- bad inputs
BAD_INPUTS = [
    (
        "missing schedule",
        None,
        "%cron create",
        r'%cron create: no schedule given; usage: %cron create "\*/5 \* \* \* \*" CODE',
    ),
    (
        "missing code",
        None,
        '%cron create "@every 10s"',
        r"%cron create: no code given after the schedule '@every 10s'; e\.g\. .+",
    ),
    (
        "missing code, blank",
        None,
        '%cron create "@every 10s"    ',
        r"%cron create: no code given after the schedule '@every 10s'; e\.g\. .+",
    ),
    (
        "unknown subcommand",
        None,
        "%cron frobnicate x",
        r"%cron has no subcommand 'frobnicate'; valid subcommands are: create, edit, list, delete, .+",
    ),
    ("unknown id (delete)", None, "%cron delete nosuchid", r"no job 'nosuchid'; known jobs: [a-z0-9]{8} \(keeper\)"),
    ("unknown id (run)", None, "%cron run nosuchid", r"no job 'nosuchid'; known jobs: [a-z0-9]{8} \(keeper\)"),
    (
        "unknown id among good ones",
        None,
        "%cron delete keeper nosuchid",
        r"no job 'nosuchid'; known jobs: [a-z0-9]{8} \(keeper\)",
    ),
    (
        "6 fields",
        None,
        '%cron create "*/5 * * * * *" x = 1',
        r"6 fields given; cron takes 5 — for sub-minute schedules use @every 1s",
    ),
    (
        "4 fields",
        None,
        '%cron create "*/5 * * *" x = 1',
        r"4 fields given in '\*/5 \* \* \*'; cron takes 5 \(minute hour day-of-month month day-of-week\) — use .+",
    ),
    (
        "impossible date",
        None,
        '%cron create "0 0 30 2 *" x = 1',
        r"'0 0 30 2 \*' never matches a real date \(day-of-month 30 does not occur in month 2\); pick a day .+",
    ),
    ("@every 0s", None, '%cron create "@every 0s" x = 1', r"@every 0s is too short: the minimum is @every 1s"),
    (
        "@every bad unit",
        None,
        '%cron create "@every 10x" x = 1',
        r"bad duration '10x': write whole numbers with units d, h, m, s in that order, e\.g\. 10s, 5m, 1h30m",
    ),
    ("unknown macro", None, '%cron create "@fortnightly" x = 1', r"unknown macro '@fortnightly'; use 5-field cron .+"),
    (
        "unknown timezone",
        None,
        '%cron create --tz Mars/Olympus "@every 10s" x = 1',
        r"unknown timezone 'Mars/Olympus'; use an IANA name such as 'UTC', .+",
    ),
    (
        "code does not compile",
        None,
        '%cron create "@every 10s" x = (',
        r"code does not compile: .+ \(line 1\); nothing was created",
    ),
    (
        "code over the size limit",
        "%config Cron.max_code_chars = 10",
        '%cron create "@every 10s" x = 1 + 2 + 3 + 4',
        r"code is 17 characters; the limit is 10 \(Cron\.max_code_chars\) — put the work in a function .+",
    ),
    (
        "more than max_jobs",
        "%config Cron.max_jobs = 1",
        '%cron create "@every 10s" x = 1',
        r"this session already has 1 job, the limit \(Cron\.max_jobs = 1\); delete some with %cron delete, .+",
    ),
    (
        "unquoted cron schedule",
        None,
        "%cron create */5 * * * * x = 1",
        r'%cron create: put the schedule in quotes, e\.g\. %cron create "\*/5 \* \* \* \*" CODE \(it is one word; .+\)',
    ),
    (
        "unknown option",
        None,
        '%cron create --every "@every 10s" x = 1',
        r"%cron create: unknown option '--every'; options are --once, --durable, --show, --name N, --tz TZ, "
        r"--timeout S, --retries N, --retry-delay S, --catch-up \[GRACE\], --if-exists update\|keep\|error",
    ),
    (
        "name taken",
        None,
        '%cron create --if-exists error --name keeper "@every 10s" x = 1',
        r"name 'keeper' is already used by job [a-z0-9]{8}; pick another or delete that job",
    ),
    ("bad name", None, '%cron create --name "a b" "@every 10s" x = 1', r"bad job name 'a b': use a letter then .+"),
    (
        "wait for an unknown job",
        None,
        "%cron wait nosuchid --runs 1 --timeout 1",
        r"no job 'nosuchid'; known jobs: [a-z0-9]{8} \(keeper\)",
    ),
    (
        "wait with a bad --runs",
        None,
        "%cron wait keeper --runs many",
        r"%cron wait: --runs takes a whole number and --timeout seconds, e\.g\. .+",
    ),
]


@pytest.fixture(scope="module")
def bad_kernel(module_kernel: Kernel) -> Kernel:
    create(module_kernel, '%cron create --name keeper "@hourly" pass')
    ok(module_kernel, "%cron pause keeper")
    return module_kernel


@pytest.mark.parametrize(("setup", "line", "pattern"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_changes_nothing(
    bad_kernel: Kernel, setup: str | None, line: str, pattern: str
) -> None:
    k = bad_kernel
    snapshot = f"[(j.id, j.name, j.schedule, j.code, j.paused, j.runs) for j in {SCHED}.jobs()]"
    before = k.evaluate(snapshot)
    if setup:
        ok(k, setup)
    try:
        r = k.execute(line)
    finally:
        if setup:
            ok(k, "%config Cron.max_jobs = 50\n%config Cron.max_code_chars = 65536")
    assert r.status == "error", f"{line!r} was accepted: {r.stdout} {r.execute_result}"
    assert r.ename == "UsageError", (r.ename, r.evalue)
    evalue = r.evalue or ""
    assert "\n" not in evalue, f"more than one line: {evalue!r}"
    assert re.fullmatch(pattern, evalue), f"message does not match:\n  got:    {evalue}\n  wanted: {pattern}"
    assert r.traceback == [f"UsageError: {evalue}"] and r.stdout == "" and r.stderr == ""
    assert k.evaluate(snapshot) == before, "a failed command changed the job list"
    limits = f"({SCHED}.core.settings.max_jobs, {SCHED}.core.settings.max_code_chars)"
    assert k.evaluate(limits) == (50, 65_536)
