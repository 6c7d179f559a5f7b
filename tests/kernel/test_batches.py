"""Many jobs due at once, in REAL kernels (docs/running.md, "Many jobs at once"): a batch runs one job
per loop turn, so a cell waits for the job that runs, not for the batch; each job's "running" mark is
its own, so a job that kills its kernel takes no batch-mate down; a run's end that raises inside
loopal_ipy is that job's error, and the rest of the batch goes on."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from kernelutil import SCHED, Kernel, history, kernel_env, ok, text, wait_for

from loopal_ipy import cli

# Each run is long: the test sees the first start and sends its cell well before the next could start.
SLOW = "import time\nopen({path!r}, 'a').write(f'{{time.time()}}\\n')\ntime.sleep(4)"


# Jobs of one cron schedule are due at the same instant; @every jobs created in one cell are due
# microseconds apart. This makes them due at one instant, 2 s from now: one batch.
DUE_TOGETHER = (
    "from datetime import UTC, datetime, timedelta\n"
    "_at = datetime.now(UTC) + timedelta(seconds=2)\n"
    f"for _job in {SCHED}.jobs():\n"
    "    _job.next_fire = _at\n"
    f"    {SCHED}.core._push(_job)\n"
    f"{SCHED}.rearm()"
)


def starts(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def test_a_cell_sent_while_jobs_are_due_waits_for_one_job_not_the_batch(kernel: Kernel, tmp_path: Path) -> None:
    marks = tmp_path / "starts.txt"
    code = SLOW.format(path=str(marks))
    ok(kernel, f"for i in range(3):\n    {SCHED}.create('@every 60s', {code!r}, name=f'slow{{i}}')\n{DUE_TOGETHER}")
    assert wait_for(lambda: len(starts(marks)) >= 1, 15), "the batch never started"
    r = ok(kernel, "import time\nanswered = time.time()", timeout=30)
    assert r.status == "ok"
    answered = kernel.evaluate("answered")
    batch = starts(marks)[:3]
    # The first job was running when the cell was sent; the cell ran right after it, before the next.
    assert len([t for t in batch if t < answered]) == 1, (batch, answered)
    assert wait_for(lambda: len(starts(marks)) >= 3, 30), "the rest of the batch never ran"


def test_a_job_that_kills_its_kernel_takes_no_batch_mate_down(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="batch")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    marks = tmp_path / "innocent.txt"
    with Kernel(env=env) as k:
        ok(k, "import os, signal, loopal_ipy")
        # Due together; the killer was created first, so it starts first.
        innocent = f"open({str(marks)!r}, 'a').write('x')"
        ok(
            k,
            f"{SCHED}.create('@every 3s', 'os.kill(os.getpid(), signal.SIGKILL)', name='killer', durable=True)\n"
            f"for i in range(3):\n    {SCHED}.create('@every 3s', {innocent!r}, name=f'innocent{{i}}', durable=True)\n"
            + DUE_TOGETHER,
        )
        assert k.km is not None
        assert wait_for(lambda: not k.km.is_alive(), 15), "the killer did not end its kernel"
        k.km.restart_kernel(now=True)
        k._wait_ready()
        ok(k, "import loopal_ipy")
        assert k.evaluate(f"{SCHED}.get('killer').paused") is True
        for i in range(3):
            name = f"innocent{i}"
            assert k.evaluate(f"{SCHED}.get({name!r}).paused") is False, history(k, name)
            errors = [h["error"] for h in history(k, name) if h["status"] == "error"]
            assert errors == [], errors  # no made-up "was running when its kernel stopped"
        ran = len(marks.read_text()) if marks.exists() else 0
        assert wait_for(lambda: len(marks.read_text()) >= ran + 3 if marks.exists() else False, 15)


def test_one_bad_close_is_that_jobs_error_and_the_batch_goes_on(kernel: Kernel, tmp_path: Path) -> None:
    """Any exception in a run's close (here: a fault injected into the core's finish for one job)."""
    ok(kernel, "import loopal_ipy\nruns = []")
    ok(
        kernel,
        f"core = {SCHED}.core\n_finish = core.finish\n"
        "def finish(job, run):\n"
        "    if job.name == 'bad':\n"
        "        raise OverflowError('date value out of range')\n"
        "    _finish(job, run)\n"
        "core.finish = finish\n"
        "for name in ('bad', 'good'):\n"
        f"    {SCHED}.create('@every 2s', 'runs.append(1)', name=name)",
    )
    assert wait_for(lambda: kernel.evaluate(f"{SCHED}.get('good').runs") >= 2, 15)
    assert kernel.evaluate(f"{SCHED}.get('bad').running") is False
    bad = history(kernel, "bad")
    assert any("OverflowError" in (h["error"] or "") for h in bad), bad
    said = [m for m in kernel.drain_iopub() if "Exception in callback" in json.dumps(m["content"])]
    assert said == [], said


def test_a_durable_create_is_on_disk_when_its_cell_replies(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="reply")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        assert k.km is not None
        for i in range(3):
            ok(k, f'%cron create --durable --name keep{i} "@hourly" x = 1')
            os.kill(k.km.provisioner.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
            assert wait_for(lambda: not k.km.is_alive(), 10)
            k.km.restart_kernel(now=True)
            k._wait_ready()
            ok(k, "import loopal_ipy")
            names = k.evaluate(f"sorted(j.name for j in {SCHED}.jobs())")
            assert names == [f"keep{n}" for n in range(i + 1)], names


def test_a_job_of_another_kernels_session_is_named_with_its_owner(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="shared")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as first, Kernel(env=env) as second:
        ok(first, '%cron create --durable --name n1 "@hourly" x = 1')
        ok(first, "import loopal_ipy")
        for line in ("%cron delete n1", "%cron pause n1", "%cron run n1"):
            r = second.execute(line)
            assert r.status == "error", line
            said = f"{r.stderr} {r.evalue}"
            assert "no job 'n1' here" in said and "pid" in said and "there are no jobs" not in said, said
        assert first.evaluate(f"{SCHED}.get('n1').paused") is False  # nothing changed


def test_with_no_system_locale_a_create_says_no_warning(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LANG="C", LC_ALL="C", PYTHONWARNINGS="always")
    with Kernel(env=env) as k:
        ok(k, "%load_ext loopal_ipy")
        r = ok(k, '%cron create "*/5 * * * *" x = 1')
        assert "Warning" not in r.stderr and "locale" not in r.stderr, r.stderr
        assert "Every 5 minutes" in ok(k, "%cron list").execute_result["text/plain"]


def test_tz_naming_a_zone_file_lets_creates_work(tmp_path: Path) -> None:
    """``TZ=:/etc/localtime`` (common in containers) names a readable zone file."""
    zone = os.path.realpath("/etc/localtime").rsplit("/zoneinfo/", 1)[-1]
    for tz in (":/etc/localtime", "/etc/localtime"):
        with Kernel(env=kernel_env(tmp_path, TZ=tz)) as k:
            ok(k, "%load_ext loopal_ipy")
            ok(k, "import loopal_ipy")
            for schedule in ("0 9 * * *", "@every 10s"):
                r = ok(k, f'%cron create "{schedule}" x = 1')
                assert text(r).startswith("created job"), text(r)
            assert k.evaluate(f"sorted({{j.tz for j in {SCHED}.jobs()}})") == [zone]


def test_every_needs_no_zone_when_tz_is_a_posix_rule(tmp_path: Path) -> None:
    with Kernel(env=kernel_env(tmp_path, TZ="CET-1CEST,M3.5.0,M10.5.0/3")) as k:
        ok(k, "%load_ext loopal_ipy")
        r = ok(k, '%cron create "@every 10s" x = 1')
        assert text(r).startswith("created job"), text(r)
        r = k.execute('%cron create "0 9 * * *" x = 1')  # wall time: which zone is meant is unknown
        assert r.status == "error" and "not an IANA zone name" in f"{r.stderr}{r.evalue}"


def _shift_store(home: Path, session: str, days: float) -> None:
    """As if the kernel had been down ``days`` days: the saved times moved that far back."""
    from datetime import UTC, datetime, timedelta

    from loopal_ipy.storage.store import Store

    store = Store(home, session)
    result = store.load(datetime.now(UTC))
    for job in result.jobs:
        job.created_at -= timedelta(days=days)
        job.next_fire = job.next_fire - timedelta(days=days) if job.next_fire else None
        job.last_fired = job.last_fired - timedelta(days=days) if job.last_fired else None
        job.catch_up_for = None
    store.rewrite_next()
    assert store.save(result.jobs)


def test_catch_up_after_75_days_down_runs_the_last_minute(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="gap")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, '%cron create --durable --catch-up 1h --name minutely "* * * * *" caught = True')
        assert k.km is not None
        k.km.shutdown_kernel(now=False, restart=True)
        _shift_store(Path(env["LOOPAL_HOME"]), "gap", 75)
        k.km.start_kernel(**k.km._launch_args)
        k._wait_ready()
        started = time.monotonic()
        ok(k, "import loopal_ipy")
        assert time.monotonic() - started < 20
        assert wait_for(lambda: k.evaluate("globals().get('caught', False)"), 15), "no catch-up run"
        first = history(k, "minutely")
        assert next(h["trigger"] for h in first if h["status"] == "ok").startswith("catch-up for "), first


def test_a_hand_edited_retry_delay_a_create_would_refuse_is_refused_at_load(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="edited")
    print(cli.enable(cli.config_path("default", env["IPYTHONDIR"])), file=sys.stderr)
    with Kernel(env=env) as k:
        ok(k, '%cron create --durable --retries 1 --retry-delay 5 --name flaky "@every 2s" 1/0')
        ok(k, '%cron create --durable --name steady "@every 2s" steady = globals().get("steady", 0) + 1')
        assert k.km is not None
        k.km.shutdown_kernel(now=False, restart=True)
        path = Path(env["LOOPAL_HOME"]) / "sessions" / "edited" / "cron.json"
        doc = json.loads(path.read_text())
        doc.pop("seal", None)  # a hand edit
        for entry in doc["jobs"]:
            if entry["name"] == "flaky":
                entry["retry_delay"] = 1e300
        path.write_text(json.dumps(doc, indent=1))
        k.km.start_kernel(**k.km._launch_args)
        k._wait_ready()
        said = ok(k, "import loopal_ipy").stdout
        assert "retry delay must be 1 to" in said, said  # the load summary names the entry and why
        assert k.evaluate(f"[j.name for j in {SCHED}.jobs()]") == ["steady"]
        assert wait_for(lambda: k.evaluate("globals().get('steady', 0)") >= 2, 15)
        bad = [p.name for p in path.parent.iterdir() if ".bad-" in p.name or "reject" in p.name]
        assert bad, list(path.parent.iterdir())  # the refused entry is kept, verbatim, beside the store
