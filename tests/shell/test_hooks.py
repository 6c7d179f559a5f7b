"""Hooks (docs/alerts.md): get_scheduler().on(event, callback) in a shell posing as a kernel."""

from __future__ import annotations

import asyncio

import pytest

import loopal_ipy


def drain(sched) -> None:
    sched.loop.run_until_complete(asyncio.sleep(0.05))


def test_a_run_calls_fired_finished_and_failed_in_order(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    seen: list[tuple[str, str, str | None]] = []
    for name in ("fired", "finished", "failed", "skipped"):
        sched.on(name, lambda ev: seen.append((ev.name, ev.job_id, ev.run.status if ev.run else None)))
    ok = sched.create("@every 1s", "x_ok = 1", name="good")
    bad = sched.create("@every 1s", "1/0", name="bad")
    sched.core.clock = type(sched.core.clock)()  # the real clock: due() at the next occurrence
    sched.loop.run_until_complete(asyncio.sleep(1.2))
    drain(sched)
    mine = [s for s in seen if s[1] == ok.id][:2]
    assert mine == [("fired", ok.id, None), ("finished", ok.id, "ok")], seen
    theirs = [s for s in seen if s[1] == bad.id][:3]
    assert theirs == [("fired", bad.id, None), ("finished", bad.id, "error"), ("failed", bad.id, "error")], seen


def test_unsubscribe_stops_the_calls(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    calls = []
    off = sched.on("finished", calls.append)
    job = sched.create("@hourly", "pass")
    sched.run_now(job.id)
    drain(sched)
    assert len(calls) == 1 and calls[0].job is job and calls[0].run.status == "ok"
    off()
    off()  # twice is harmless
    sched.run_now(job.id)
    drain(sched)
    assert len(calls) == 1


def test_a_raising_callback_is_logged_and_dropped_after_three_errors(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    calls = []

    def broken(ev):
        calls.append(ev)
        print("from the hook")
        raise RuntimeError("webhook down")

    sched.on("finished", broken)
    job = sched.create("@hourly", "ran = True")
    for _ in range(5):
        sched.run_now(job.id)
        drain(sched)
    assert len(calls) == 3 and job.runs == 5  # dropped after 3; the scheduler kept going
    said = [e.message for e in sched.core.events if e.kind == "hook"]
    assert said[-1].endswith("raised RuntimeError: webhook down; unsubscribed after 3 errors"), said
    assert len(said) == 3
    log = list(sched.hooks.log)
    assert sum("RuntimeError: webhook down" in line and "Traceback" in line for line in log) == 3, log


def test_bad_hook_names_and_callbacks_are_refused(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    with pytest.raises(ValueError, match=r"^no hook 'failure'; hooks are: fired, finished, failed, skipped, expired"):
        sched.on("failure", print)
    with pytest.raises(TypeError, match="must be callable"):
        sched.on("failed", "not a function")


def test_notifications_say_a_job_started_failing_then_every_tenth_failure_in_a_row(kshell) -> None:
    """Notifications (docs/alerts.md): what the frontend is asked to show; the toast itself is tested in the browser."""
    from loopal_ipy._extension import _ATTR

    sched = loopal_ipy.get_scheduler()
    alerts = getattr(kshell, _ATTR)["alerts"]
    conf = next(c for c in kshell.configurables if type(c).__name__ == "Cron")
    kshell.user_ns["fail"] = True
    job = sched.create("@hourly", "if fail: raise KeyError('gone')", name="flaky")

    def run(times: int) -> list[str]:
        alerts.sent.clear()
        for _ in range(times):
            sched.run_now(job.id)
            drain(sched)
        return [a["message"] for a in alerts.sent]

    assert run(1) == [f"job {job.label} failed: KeyError: 'gone'"]
    assert run(9) == []  # failures 2..10: quiet
    assert run(1) == [f"job {job.label} failed (11 failures in a row): KeyError: 'gone'"]
    kshell.user_ns["fail"] = False
    assert run(1) == []  # a recovery is no alarm in "failures" mode, but resets the streak
    kshell.user_ns["fail"] = True
    assert len(run(1)) == 1 and alerts.sent[-1]["options"]["actions"][0]["args"] == {"job": job.id}
    conf.notify = "off"
    assert run(3) == []
    conf.notify = "all"
    kshell.user_ns["fail"] = False
    assert run(1) == [f"job {job.label} works again"]
    kshell.user_ns["fail"] = True
    assert len(run(2)) == 2
    conf.notify = "failures"
    with pytest.raises(Exception, match="notify"):
        conf.notify = "sometimes"


def test_what_alerts_keep_is_bounded(kshell) -> None:
    """A job failing every second for weeks must not grow the kernel: the record of alerts is capped."""
    from loopal_ipy._extension import _ATTR
    from loopal_ipy.ui.alerts import SENT_KEPT

    sched = loopal_ipy.get_scheduler()
    alerts = getattr(kshell, _ATTR)["alerts"]
    conf = next(c for c in kshell.configurables if type(c).__name__ == "Cron")
    conf.notify = "all"
    try:
        job = sched.create("@hourly", "1/0", name="always")
        for _ in range(SENT_KEPT + 30):
            sched.run_now(job.id)
            drain(sched)
        assert len(alerts.sent) == SENT_KEPT and job.failures == SENT_KEPT + 30
    finally:
        conf.notify = "failures"
