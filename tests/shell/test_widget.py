"""The live table's model (docs/table.md), without a browser.

A real ``Scheduler`` on a ``FakeClock`` drives the table through its events;
the bridge is a small stand-in (or a real ``KernelScheduler`` on a loop that is
not running). Widget traffic is observed by recording ``Widget._send``.
"""

from __future__ import annotations

import ast
import asyncio
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from loopal_ipy.core.clock import FakeClock
from loopal_ipy.core.job import Run
from loopal_ipy.core.limits import Settings
from loopal_ipy.core.scheduler import Scheduler
from loopal_ipy.kernel.bridge import KernelScheduler
from loopal_ipy.kernel.runner import Runner
from loopal_ipy.ui import cells, columns, tableparts
from loopal_ipy.ui import widget as W
from loopal_ipy.ui.cells import until_change
from loopal_ipy.ui.magics import CronMagics
from loopal_ipy.ui.render import countdown as live_countdown
from loopal_ipy.ui.widget import CronTable

SRC = Path(__file__).resolve().parents[2] / "loopal_ipy"


class FakeBridge:
    """What the table needs from a KernelScheduler, with runs recorded instead of executed."""

    def __init__(self, core: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
        self.core, self.loop = core, loop
        self.started = True
        self.wakeups = 0

    def jobs(self):
        return self.core.jobs()

    def get(self, key):
        return self.core.get(key)

    def find(self, key):
        try:
            return self.core.get(key)
        except Exception:
            return self.core.find_removed(key)

    def now(self):
        return self.core.clock.now()

    @property
    def events(self):
        return self.core.events

    @property
    def settings(self):
        return self.core.settings

    def subscribe(self, listener):
        return self.core.subscribe(listener)

    def output_so_far(self, job_id):
        return None

    def displaying_cell(self):
        return None, None

    def pause(self, key):
        return self.core.pause(key)

    def resume(self, key):
        return self.core.resume(key)

    def delete(self, key):
        return self.core.delete(key)

    def run_now(self, key):
        job = self.core.start_manual(key)
        self.core.finish(job, Run(started_at=self.core.clock.now(), duration=0.004, output="hi\n", trigger="run-now"))
        return job


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()  # never run: call_soon/call_later only queue
    try:
        yield lp
    finally:
        lp.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-05T12:00:00+00:00")


@pytest.fixture
def core(clock) -> Scheduler:
    return Scheduler(clock, Settings(timezone="UTC"), check_code=lambda code: None)


@pytest.fixture
def bridge(core, loop) -> FakeBridge:
    return FakeBridge(core, loop)


@pytest.fixture
def sent(monkeypatch) -> list[tuple[widgets.Widget, dict[str, Any]]]:
    """Every update message any widget sends from now on."""
    log: list[tuple[widgets.Widget, dict[str, Any]]] = []
    monkeypatch.setattr(widgets.Widget, "_send", lambda self, msg, buffers=None: log.append((self, msg)))
    return log


@pytest.fixture
def tables() -> Iterator[list[CronTable]]:
    made: list[CronTable] = []
    yield made
    for t in made:
        t.close()


def value(w: widgets.Widget) -> str:
    return w.get_state()["value"]


def cell_map(table: CronTable) -> dict[int, tuple[str, str]]:
    """id(widget) -> (job id, column) for every cell of every row."""
    return {id(w): (jid, col) for jid in table.row_ids for col, w in table.cells(jid).items()}


def fire(core: Scheduler, clock: FakeClock, seconds: float, status: str = "ok", error: str | None = None) -> None:
    """Move time, let the core decide, and finish each fire as the bridge would."""
    clock.advance(seconds)
    for f in core.due():
        out = "boom\n" + (error or "") if status == "error" else "ran\n"
        core.finish(f.job, Run(started_at=clock.now(), duration=0.012, status=status, output=out, error=error))


def test_rows_come_from_scheduler_state(core, bridge, tables) -> None:
    a = core.create("@every 10s", "x = 1", name="tick", durable=True)
    b = core.create("*/5 * * * *", "import os\nprint(os.getcwd())", once=True)
    t = CronTable(bridge)
    tables.append(t)
    assert t.row_ids == [a.id, b.id]
    ca, cb = t.cells(a.id), t.cells(b.id)
    assert value(ca["job"]) == cells._LINES.format(f"<b>{a.id}</b> <i>tick</i> " + cells.badge("durable", "#1565c0"))
    assert "once" in value(cb["job"]) and "durable" not in value(cb["job"])
    assert "<code>@every 10s</code>" in value(ca["schedule"]) and "Every 10 seconds" in value(ca["schedule"])
    assert ">import os …</code>" in value(cb["code"])
    assert ">active<" in value(ca["state"]) and "#2e7d32" in value(ca["state"])
    assert "12:00:10 UTC<br>" in value(ca["next"]) and "in 10s" in value(ca["next"])
    assert value(ca["last"]) == "—" and value(ca["runs"]) == "0/0"
    assert [b.get_state()["description"] for b in t.buttons(a.id).values()] == ["pause", "run", "delete", "log"]
    grid = t._grid
    assert len(grid.children) == len(tableparts.HEADERS) + 2 * (len(columns.COLUMNS) + 1)
    assert "loopal-cell-runs" in ca["runs"].get_state()["_dom_classes"]


def test_the_widget_the_text_and_the_html_snapshot_draw_the_same_columns(core, clock, bridge, tables) -> None:
    """The columns are declared once (ui/columns.py): every view of the table has them, in their order."""
    job = core.create("@every 1h", "x = 1", name="tick", retries=2)
    fire(core, clock, 3600, status="error", error="ZeroDivisionError: division by zero")
    t = CronTable(bridge)
    tables.append(t)
    titles = [c.title for c in columns.COLUMNS]
    header = [re.sub(r"<style>.*</style>", "", h.value, flags=re.S) for h in t._header]  # the first has the stale rule
    assert header == [f"<b>{html.escape(c)}</b>" for c in [*titles, ""]]
    text, snapshot = columns.table_text([job], clock.now()), columns.table_html([job], clock.now())
    assert text.splitlines()[0].split() == " ".join(titles).split()
    assert re.findall(r"<th[^>]*>([^<]*)</th>", snapshot) == [html.escape(c) for c in titles]
    row = columns.row(job, clock.now())
    for c in columns.COLUMNS:  # each cell of the widget is its column's; the text row has the same fact
        assert value(t.cells(job.id)[c.key]) == c.html(job, clock.now())
        assert f"loopal-cell-{c.key}" in t.cells(job.id)[c.key].get_state()["_dom_classes"]
        assert row[c.title] in text and html.escape(row[c.title]) in snapshot
    assert "retry 1 of 2" in row["next fire"] and "retry 1 of 2" in value(t.cells(job.id)["next"])


def test_long_words_wrap_after_dots_not_mid_word(core, clock, bridge, tables) -> None:
    job = core.create("@every 1s", "df = pandas.read_csv(path)", name="csv")
    t = CronTable(bridge)
    tables.append(t)
    fire(core, clock, 1, status="error", error="pandas.errors.ParserError: Error tokenizing data")
    assert "pandas.<wbr>errors.<wbr>ParserError:" in value(t.cells(job.id)["last"])
    assert "pandas.<wbr>read_<wbr>csv(<wbr>pa…" in value(t.cells(job.id)["code"])


def test_a_job_declared_again_with_a_new_schedule_redraws_its_fixed_cells(core, bridge, tables) -> None:
    job = core.create("@every 10s", "x = 1", name="tick")
    t = CronTable(bridge)
    tables.append(t)
    core.declare("@every 1h", "y = 2", name="tick", retries=2)  # the same create cell, edited and re-run
    row = t.cells(job.id)
    assert "<code>@every 1h</code>" in value(row["schedule"]) and "retries 2 from 30 s" in value(row["schedule"])
    assert ">y = 2</code>" in value(row["code"])
    assert t.row_ids == [job.id]


def test_empty_table_says_how_to_start(bridge, tables) -> None:
    t = CronTable(bridge)
    tables.append(t)
    assert t.row_ids == [] and t._grid.children[-1] is t._empty
    assert "%cron create" in value(t._empty)


def test_a_fire_sends_only_the_changed_cells_of_that_row(core, clock, bridge, sent, tables) -> None:
    a = core.create("@every 10s", "x = 1", name="a")
    b = core.create("@every 1h", "y = 2", name="b")
    t = CronTable(bridge)
    tables.append(t)
    cells = cell_map(t)
    sent.clear()
    fire(core, clock, 10)
    assert list(core.listener_errors) == []
    touched = [cells.get(id(w), ("other", type(w).__name__)) for w, msg in sent if msg["method"] == "update"]
    # loop not running: each event flushes at once, so "running" shows and goes (see the batching test)
    assert sorted(set(touched)) == [(a.id, "last"), (a.id, "next"), (a.id, "runs"), (a.id, "state")]
    assert len(touched) == 5 and touched.count((a.id, "state")) == 2
    assert value(t.cells(a.id)["runs"]) == "1/0"
    assert "12:00:10 UTC<br>" in value(t.cells(a.id)["last"]) and "12 ms,</span> ok" in value(t.cells(a.id)["last"])
    assert value(t.cells(b.id)["runs"]) == "0/0"
    # a full refresh re-sends nothing but b's countdown, which moved with the clock ("1h 00m" -> "59m")
    sent.clear()
    t.refresh()
    assert [cells[id(w)] for w, _ in sent] == [(b.id, "next")]
    sent.clear()
    t.refresh()
    assert sent == []


def test_an_error_turns_the_row_red_with_its_error(core, clock, bridge, tables) -> None:
    job = core.create("@every 1s", "1/0", name="boom")
    t = CronTable(bridge)
    tables.append(t)
    tb = 'Traceback (most recent call last):\n  File "<cron job>", line 1\nZeroDivisionError: division by zero'
    fire(core, clock, 1, status="error", error=tb)
    c = t.cells(job.id)
    assert ">error<" in value(c["state"]) and cells.RED in value(c["state"])
    assert "ZeroDivisionError: division by zero" in value(c["last"]) and cells.RED in value(c["last"])
    assert value(c["runs"]) == f"1/<span style='color:{cells.RED}'>1</span>"


def test_buttons_pause_resume_run_and_delete(core, clock, bridge, sent, tables) -> None:
    a = core.create("@every 10s", "x = 1", name="a")
    b = core.create("@every 10s", "y = 1", name="b")
    t = CronTable(bridge)
    tables.append(t)
    toggle = t.buttons(a.id)["toggle"]
    sent.clear()
    toggle.click()
    assert a.paused and toggle.description == "resume" and "no catch-up" in toggle.tooltip
    assert toggle.tooltip.startswith("resume job a:")  # each row's buttons say which job
    assert [t.buttons(b.id)[k].tooltip.split(":")[0] for k in ("toggle", "delete")] == ["pause job b", "delete job b"]
    assert ">paused<" in value(t.cells(a.id)["state"]) and value(t.cells(a.id)["next"]) == "—"
    toggle_msgs = [m for w, m in sent if w is toggle]
    assert len(toggle_msgs) == 1 and set(toggle_msgs[0]["state"]) == {"description", "tooltip"}
    toggle.click()  # the second click of a double click (it used to resume again)
    assert a.paused and toggle.description == "resume"
    t._toggled[a.id] -= W.DOUBLE_CLICK  # a deliberate click, later
    toggle.click()
    assert not a.paused and toggle.description == "pause" and ">active<" in value(t.cells(a.id)["state"])

    t.buttons(a.id)["run"].click()
    assert a.runs == 1 and value(t.cells(a.id)["runs"]) == "1/0" and a.next_fire is not None

    row_widgets = [*t.cells(b.id).values(), *t.buttons(b.id).values()]
    t.buttons(b.id)["delete"].click()
    assert [j.id for j in core.jobs()] == [a.id] and t.row_ids == [a.id]
    assert len(t._grid.children) == len(tableparts.HEADERS) + len(columns.COLUMNS) + 1
    assert all(w.comm is None for w in row_widgets)  # the deleted row's widgets are closed
    assert t.status.value == ""


def test_a_refused_click_is_shown_in_the_table(core, bridge, tables) -> None:
    a = core.create("@every 10s", "x = 1")
    t = CronTable(bridge)
    tables.append(t)
    core.start_manual(a.id)  # a run is going
    t.buttons(a.id)["run"].click()
    assert "is running already" in t.status.value
    core.finish(a, Run(started_at=core.clock.now()))
    t.buttons(a.id)["run"].click()
    assert t.status.value == ""


def test_footer_lists_expired_coalesced_and_skipped(core, clock, bridge, tables) -> None:
    core.set_settings(max_age=60.0)
    a = core.create("@every 10s", "x = 1", name="busy")
    b = core.create("@every 1h", "y = 1", name="short")
    t = CronTable(bridge)
    tables.append(t)
    assert t.footer.value == ""
    fire(core, clock, 35)  # three occurrences came due at once: coalesced
    assert "coalesced" in t.footer.value and a.id in t.footer.value
    core.start_manual(a.id)
    clock.advance(10)
    core.due()  # a is still running: skipped
    assert "skipped" in t.footer.value
    fire(core, clock, 60)  # b outlived max_age
    assert f"expired {b.id}" in t.footer.value and b.id not in t.row_ids


def test_log_view_shows_history_and_appends_new_runs(core, clock, bridge, tables) -> None:
    job = core.create("@every 1s", "1/0", name="boom")
    t = CronTable(bridge)
    tables.append(t)
    fire(core, clock, 1, status="error", error="ZeroDivisionError: division by zero")
    fire(core, clock, 1)
    t.buttons(job.id)["log"].click()
    assert t._log.layout.display is None and len(t.log_runs) == 2
    streams = [(o["name"], o["text"]) for w in t.log_runs for o in w.get_state()["outputs"]]
    assert [name for name, _ in streams] == ["stdout", "stdout", "stderr", "stdout", "stdout"]
    assert streams[2][1] == "ZeroDivisionError: division by zero\n" and streams[1][1] == "boom\n"
    assert "log of" in t._log.title.value and "runs 2, failures 1" in t._log.title.value
    first = t.log_runs
    fire(core, clock, 1)
    assert t.log_runs[:2] == first and t.log_runs[-1].outputs[-1]["text"] == "ran\n"  # appended, not redrawn
    assert t._log.box.children[0] is t.log_runs[-1]  # shown newest first: "Show log" opens on the latest run
    assert "runs 3" in t._log.title.value
    t.buttons(job.id)["log"].click()  # again: closes it, and frees its run widgets
    assert t._log.layout.display == "none" and t.log_runs == []
    assert all(w.comm is None for w in first)


def test_log_view_is_bounded_and_sends_only_each_new_run(core, clock, bridge, tables, monkeypatch) -> None:
    """Regression: the view held 180 runs after 90 s and re-sent all of them on every append."""
    core.set_settings(history_size=20)
    job = core.create("@every 1s", "chat()", name="chat")
    t = CronTable(bridge)
    tables.append(t)
    t.show_log(job.id)
    opened: list[int] = []
    real_open = widgets.Output.open

    def record_open(self) -> None:
        real_open(self)
        opened.append(len(str(self.get_state())))

    monkeypatch.setattr(widgets.Output, "open", record_open)
    updates: list[int] = []
    monkeypatch.setattr(widgets.Widget, "_send", lambda self, msg, buffers=None: updates.append(len(str(msg))))
    one_run = 2000
    for i in range(60):
        clock.advance(1)
        for f in core.due():
            core.finish(f.job, Run(started_at=clock.now(), output=f"{i:04d}" + "x" * (one_run - 4)))
    assert len(t.log_runs) == 20 and len(t._log.box.children) == 20
    texts = [w.outputs[-1]["text"] for w in t.log_runs]
    assert texts[0].startswith("0040") and texts[-1].startswith("0059")  # the latest 20
    assert len(opened) == 60 and max(opened) <= 2 * one_run, max(opened)
    assert max(updates) <= 2 * one_run, max(updates)


def test_mime_bundle_carries_html_and_text_snapshots(core, bridge, tables) -> None:
    job = core.create("@every 10s", "x = 1", name="snap")
    t = CronTable(bridge)
    tables.append(t)
    assert not t.ticking
    data = t._repr_mimebundle_()
    assert set(data) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == t.model_id
    assert job.id in data["text/plain"] and "snap" in data["text/plain"] and "runs/fail" in data["text/plain"]
    assert data["text/html"].startswith("<table class='loopal-cron'>") and job.id in data["text/html"]
    dated = "snapshot of 2026-01-05 12:00:00 UTC (a live table shows the jobs as they are now)"
    assert data["text/plain"].endswith(dated) and dated in data["text/html"]  # a saved notebook says when
    assert t.ticking  # displayed: countdowns move


def test_ticker_runs_only_while_displayed_and_sends_only_countdowns(core, clock, bridge, loop, sent, tables) -> None:
    job = core.create("@every 1h", "x = 1")
    t = CronTable(bridge)
    tables.append(t)
    clock.advance(2)  # 59m 58s left: the text says "in 59m" for another 59 s
    t._repr_mimebundle_()
    handle = t._ticker
    assert handle is not None and handle.when() - loop.time() == pytest.approx(59.0, abs=0.1)
    cells = cell_map(t)
    sent.clear()
    clock.advance(59)
    t._tick()  # "in 59m" -> "in 58m"
    assert [cells[id(w)] for w, _ in sent] == [(job.id, "next")] and "in 58m" in value(t.cells(job.id)["next"])
    sent.clear()
    clock.advance(0.5)
    t._tick()
    assert sent == [] and bridge.wakeups == 0
    # the frontend counts its views: the last one gone stops the ticker and the updates
    t.set_state({"_view_count": 1})
    t.set_state({"_view_count": 0})
    assert not t.ticking
    sent.clear()
    fire(core, clock, 3600)
    assert value(t.cells(job.id)["runs"]) == "0/0" and sent == []
    t.set_state({"_view_count": 1})  # shown again: catches up, ticks again
    assert value(t.cells(job.id)["runs"]) == "1/0" and t.ticking


def test_ticker_never_faster_than_once_a_second(core, clock, bridge, loop, tables) -> None:
    core.create("@every 5s", "x = 1")
    t = CronTable(bridge)
    tables.append(t)
    t._repr_mimebundle_()
    clock.advance(0.3)
    t._tick()
    assert t._ticker.when() - loop.time() >= 0.99


def test_live_countdown_changes_exactly_when_predicted(clock) -> None:
    now = clock.now()
    for r in (0.4, 1.0, 59.2, 61.0, 599.5, 600.0, 601.0, 3599.9, 3600.0, 7384.2, 86400.5, 200000.0):
        when = now + timedelta(seconds=r)
        text, d = live_countdown(when, now), until_change(when, now)
        assert d is not None and d > 0
        assert live_countdown(when, now + timedelta(seconds=d - 0.002)) == text, r
        assert live_countdown(when, now + timedelta(seconds=d)) != text, r
    assert live_countdown(now, now) == "due" and until_change(now, now) is None
    assert [live_countdown(now + timedelta(seconds=s), now) for s in (5, 125, 1800, 7384, 200000)] == [
        "5s",
        "2m 05s",
        "30m",
        "2h 03m",
        "2d 7h",
    ]


def test_several_tables_all_stay_live_and_close_unsubscribes(core, clock, bridge, tables) -> None:
    job = core.create("@every 10s", "x = 1")
    t1, t2 = CronTable(bridge), CronTable(bridge)
    tables.extend([t1, t2])
    fire(core, clock, 10)
    assert value(t1.cells(job.id)["runs"]) == value(t2.cells(job.id)["runs"]) == "1/0"
    t1._repr_mimebundle_()
    kids = [*t1.cells(job.id).values(), t1._grid, t1._footer]
    before = len(core._listeners)
    t1.close()
    assert len(core._listeners) == before - 1 and not t1.ticking
    assert all(w.comm is None for w in kids) and t1.comm is None
    assert t1._grid.layout.comm is None and t1.layout.comm is None
    fire(core, clock, 10)
    assert value(t2.cells(job.id)["runs"]) == "2/0"
    t1.close()  # twice is fine


def test_events_batch_per_loop_turn_when_the_loop_runs(core, bridge, loop, sent, tables) -> None:
    job = core.create("@every 10s", "x = 1")
    t = CronTable(bridge)
    tables.append(t)
    state = t.cells(job.id)["state"]
    sent.clear()

    async def fire_and_finish() -> None:
        # a sync job: "fired" then "finished" in one callback; "running" never reaches the screen
        core.start_manual(job.id)
        core.finish(job, Run(started_at=core.clock.now()))
        await asyncio.sleep(0)

    loop.run_until_complete(fire_and_finish())
    assert [w for w, _ in sent if w is state] == []
    assert value(t.cells(job.id)["runs"]) == "1/0"


def test_pages_keep_big_tables_light(core, bridge, tables) -> None:
    core.set_settings(max_jobs=500)
    jobs = [core.create("@every 1h", f"x = {i}") for i in range(7)]
    t = CronTable(bridge, page_size=3)
    tables.append(t)
    assert t.row_ids == [j.id for j in jobs[:3]] and t._pager.layout.display is None
    assert value(t._page_label) == "jobs 1–3 of 7"
    t._next.click()
    t._next.click()
    assert t.row_ids == [jobs[6].id] and value(t._page_label) == "jobs 7–7 of 7"
    core.delete(jobs[6].id)  # the last page emptied: back one page
    assert t.row_ids == [j.id for j in jobs[3:6]]
    with pytest.raises(ValueError, match=r"^page_size must be at least 1, got 0$"):
        CronTable(bridge, page_size=0)


def test_real_kernel_scheduler_run_button_and_no_wakeups(shell, clock, loop, tables) -> None:
    core = Scheduler(clock, Settings(timezone="UTC"))
    bridge = KernelScheduler(shell, core, Runner(shell, clock, 10_000), loop)
    bridge.start()
    try:
        job = bridge.create("@every 1s", "1/0", name="boom")
        t = CronTable(bridge)
        tables.append(t)
        t._repr_mimebundle_()
        t.buttons(job.id)["run"].click()
        assert job.failures == 1 and "ZeroDivisionError: division by zero" in value(t.cells(job.id)["last"])
        t.buttons(job.id)["toggle"].click()
        assert job.paused and ">paused<" in value(t.cells(job.id)["state"])
        t._tick()
        assert bridge.wakeups == 0
    finally:
        bridge.stop()


def test_list_magic_uses_the_table_factory(shell, bridge) -> None:
    made = []
    magics = CronMagics(shell, lambda: bridge, lambda: lambda b: made.append(b) or "live table")
    assert magics.cron("list") == "live table" and made == [bridge]
    plain = CronMagics(shell, lambda: bridge)
    assert "no jobs" in repr(plain.cron("list"))


def test_widget_does_not_import_the_magics() -> None:
    tree = ast.parse((SRC / "ui" / "widget.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any("magics" in (m or "") or (m or "").startswith("IPython") for m in imported)


def test_close_leaves_no_widget_behind(core, clock, bridge) -> None:
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    job = core.create("@every 10s", "x = 1")
    core.create("@every 10s", "y = 1")
    t = CronTable(bridge, page_size=1)
    fire(core, clock, 10)
    t.buttons(job.id)["log"].click()
    t._next.click()
    t.close()
    assert set(_instances) == before
