"""Correctness odds and ends, each seen to go wrong before.

- job code compiled with the runner's own ``from __future__ import annotations``;
- a ``TZ`` naming no IANA zone silently became UTC (``0 9 * * *`` ran at 09:00 UTC);
- ``*/45 * * * *`` described as "Every 45 minutes" (it fires at :00 and :45);
- a long run's log kept its *first* ``output_limit`` characters, dropping the latest.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import loopal_ipy
from loopal_ipy.core.schedule import describe_cron, local_zone_name
from loopal_ipy.kernel.capture import Buffer


def test_job_code_compiles_like_a_cell_not_like_the_runner(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    job = sched.create("@hourly", "def h(a: Undefined): pass")
    sched.run_now(job.id)
    assert job.history[-1].status == "error" and "NameError" in job.history[-1].error
    kshell.run_cell("from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int")
    job2 = sched.create("@hourly", "@dataclass\nclass Q:\n    x: int\nq_type = Q.__dataclass_fields__['x'].type")
    sched.run_now(job2.id)
    assert kshell.user_ns["q_type"] is int  # not the string 'int'
    # A cell's own `from __future__ import annotations` does count, as it does for later cells.
    kshell.run_cell("from __future__ import annotations")
    job3 = sched.create("@hourly", "def h3(a: Undefined): pass\nok3 = True")
    sched.run_now(job3.id)
    assert kshell.user_ns.get("ok3") is True, job3.history[-1].error


@pytest.mark.parametrize("tz", ["CET-1CEST,M3.5.0,M10.5.0/3", "Nowhere/Special"])
def test_a_local_zone_that_is_no_iana_name_is_refused_not_taken_as_utc(kshell, monkeypatch, tz) -> None:
    monkeypatch.setenv("TZ", tz)
    sched = loopal_ipy.get_scheduler()
    before = [j.id for j in sched.jobs()]
    with pytest.raises(UsageError, match=r"TZ='.+' is not an IANA zone name, .+ give --tz"):
        kshell.run_line_magic("cron", 'create "0 9 * * *" pass')
    assert [j.id for j in sched.jobs()] == before
    job = sched.create("0 9 * * *", "pass", tz="Europe/Paris")  # --tz still works
    assert job.tz == "Europe/Paris"


@pytest.mark.parametrize(
    ("tz", "name"),
    [("EST5EDT", "EST5EDT"), (":Europe/Paris", "Europe/Paris"), ("/usr/share/zoneinfo/Asia/Tokyo", "Asia/Tokyo")],
)
def test_a_tz_that_names_a_zone_is_that_zone(monkeypatch, tz, name) -> None:
    monkeypatch.setenv("TZ", tz)
    assert local_zone_name() == name


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("*/45 * * * *", "At 0 and 45 minutes past the hour"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 */5 * * *", "At 00:00, 05:00, 10:00, 15:00 and 20:00"),
        ("0 */6 * * *", "Every 6 hours"),  # 24 / 6: the step is honest as it is
    ],
)
def test_a_step_that_does_not_divide_its_field_is_described_as_it_fires(expr, text) -> None:
    assert describe_cron(expr) == text


def test_a_long_output_keeps_its_latest_characters() -> None:
    buf = Buffer(100)
    for i in range(10_000):
        buf.write(f"line {i:05d}\n")
    text = buf.text()
    assert text.startswith("[… first 109,900 characters cut: Cron.output_limit]\n")
    assert text.endswith("line 09999\n") and len(text.split("\n", 1)[1]) == 100


def test_a_running_async_jobs_output_shows_in_its_log_while_it_runs(kshell) -> None:
    """Regression: a long async run's log was empty until it ended."""
    import asyncio

    sched = loopal_ipy.get_scheduler()
    job = sched.create(
        "@hourly",
        "for i in range(3):\n    print(f'step {i}')\n    await asyncio.sleep(0.05)\nawait asyncio.sleep(60)",
        name="slow",
    )
    kshell.user_ns["asyncio"] = asyncio
    task = sched._spawn(job, None, "run-now")
    sched.loop.run_until_complete(asyncio.sleep(0.3))
    text = str(kshell.run_line_magic("cron", "log slow"))
    assert "running (the output so far)\nstep 0\nstep 1\nstep 2" in text, text
    task.cancel()
    sched.loop.run_until_complete(asyncio.sleep(0.05))
    assert "running" not in str(kshell.run_line_magic("cron", "log slow")).splitlines()[-1]


def test_a_jobs_html_display_is_logged_as_its_words(kshell) -> None:
    """Regression: display(HTML(...)) from a job was logged as `<IPython.core.display.HTML object>`."""
    sched = loopal_ipy.get_scheduler()
    job = sched.create(
        "@hourly",
        "from IPython.display import HTML, Markdown, display\n"
        "display(HTML('<b>up</b> &amp; <i>running</i>'))\ndisplay(Markdown('**md** text'))",
    )
    sched.run_now(job.id)
    run = job.history[-1]
    assert run.output == "up & running\n**md** text\n", run.output
    # and the HTML itself is kept, for the table's log view
    assert run.html == ("<b>up</b> &amp; <i>running</i>",), run.html
    from loopal_ipy.ui.cells import log_outputs

    shown = [o["data"]["text/html"] for o in log_outputs(job, run) if o["output_type"] == "display_data"]
    assert shown == ["<b>up</b> &amp; <i>running</i>"]


def test_create_says_the_description_as_the_table_does(kshell) -> None:
    """Regression: create echoed "at 09:00, monday through friday"; the table says "At 09:00, Monday through Friday"."""
    out = str(kshell.run_line_magic("cron", 'create --tz UTC "0 9 * * MON-FRI" pass'))
    assert " — At 09:00, Monday through Friday; next fire " in out, out


def test_a_routine_restore_is_no_footer_warning_but_a_rename_is(tmp_path) -> None:
    """Regression: every restored job showed in the table's footer as a warning."""
    from datetime import UTC, datetime

    from loopal_ipy.core.events import Event, Kind
    from loopal_ipy.ui.render import footer_lines

    now = datetime(2026, 1, 5, tzinfo=UTC)
    events = [
        Event(now, Kind.RESTORED, "abcd1234", "next fire 2026-01-05T00:01:00+00:00"),
        Event(now, Kind.STORE, "abcd1234", "restored abcd1234; renamed 'poll' to 'poll-2'"),
    ]
    assert [line.split(" ", 1)[1] for line in footer_lines(events)] == [
        "store abcd1234: restored abcd1234; renamed 'poll' to 'poll-2'"
    ]


def test_delete_cancels_a_running_async_run_and_says_so(kshell) -> None:
    """Regression: %cron delete of a running async job left the run going, logged on a job that was gone."""
    import asyncio

    sched = loopal_ipy.get_scheduler()
    kshell.user_ns["asyncio"] = asyncio
    job = sched.create("@hourly", "print('start')\nawait asyncio.sleep(60)\nprint('never')", name="longrun")
    sched.run_now("longrun")
    sched.loop.run_until_complete(asyncio.sleep(0.1))
    assert job.running
    out = str(kshell.run_line_magic("cron", f"delete longrun {job.id}"))
    assert out == f"deleted {job.label}; its run still going was cancelled"
    sched.loop.run_until_complete(asyncio.sleep(0.1))
    run = job.history[-1]
    assert run.status == "error" and run.error == "CancelledError: cancelled by %cron delete", run
    assert "start" in run.output and "never" not in run.output and not job.running
