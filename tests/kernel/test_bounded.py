"""Bounded at scale in a real kernel: store bytes per fire, table lifetime, the log view.

Each test repeats a case that was measured to grow without bound: 20 durable
jobs printing 5,000 characters a second made the kernel write 380 MB (ASCII) to
2.1 GB (``█``) a minute; a 5-table cell re-run 20 times left 15,500 widget
models and 101 scheduler listeners alive; an open log view re-sent its whole
history with every run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from kernelutil import Kernel, ok

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_store import measure

COUNT_MODELS = """
import json
from ipywidgets.widgets import widget as _w
print(json.dumps({"models": len(_w._instances), "listeners": len(loopal_ipy.get_scheduler().core._listeners),
                  "tables": len(__import__("loopal_ipy.ui.widget").ui.widget.live_tables())}))
"""


@pytest.mark.parametrize("char", ["x", "█"])
def test_twenty_chatty_durable_jobs_write_little_more_than_their_output(tmp_path: Path, char: str) -> None:
    row = measure(seconds=15, jobs=20, chars=5000, char=char, root=tmp_path)
    print(row)
    assert row["within_budget"], row  # ≤ 3 × the output + 4 KB a fire, per /proc/<pid>/io wchar
    assert row["missed"] == 0 and row["failures"] == 0, row
    assert row["fires_per_min"] >= 0.9 * row["expected_fires_per_min"], row


def counts(k: Kernel) -> dict[str, int]:
    return json.loads(ok(k, COUNT_MODELS, timeout=120).stdout)


def test_a_cell_run_again_replaces_the_tables_it_showed(kernel: Kernel) -> None:
    # Three jobs, not the ten: 5 tables × 10 rows sent ~3,000 comm messages a run, and on a
    # loaded CI machine the kernel's iopub (a PUB socket) dropped the cell's final idle status now
    # and then, so the harness waited forever for a cell that had ended. What is measured is the same.
    ok(kernel, "for _i in range(3): loopal_ipy.get_scheduler().create('@every 1h', 'pass')")
    base = counts(kernel)
    cell = "from IPython.display import display\nfor _ in range(5): display(loopal_ipy.table())"
    ok(kernel, cell, cell_id="five-tables", timeout=120)  # ~0.5 s on a quiet machine; CI is not quiet
    one = counts(kernel)
    for _ in range(19):
        ok(kernel, cell, cell_id="five-tables", timeout=120)
    after = counts(kernel)
    assert after["tables"] == 5, after
    assert after["models"] - base["models"] <= 2 * (one["models"] - base["models"]), (base, one, after)
    assert after["listeners"] - base["listeners"] <= 2 * (one["listeners"] - base["listeners"]), (one, after)
    # With no cellId (nbclient, papermill), the same code is the same cell; other cells are left alone.
    ok(kernel, "t_other = loopal_ipy.table(); display(t_other)")
    for _ in range(20):
        ok(kernel, "%cron list", timeout=120)
    final = counts(kernel)
    assert final["tables"] <= 5 + 2, final
    assert ok(kernel, "print(t_other._closed)").stdout.strip() in ("False", "True")


def test_tables_past_the_cap_close_oldest_first(kernel: Kernel) -> None:
    ok(kernel, "loopal_ipy.get_scheduler().create('@every 1h', 'pass')")
    for i in range(30):
        ok(kernel, f"t{i} = loopal_ipy.table(); display(t{i})", cell_id=f"cell-{i}")
    r = ok(kernel, "from loopal_ipy.ui import widget as W\nprint(len(W.live_tables()), t0._closed, t29._closed)")
    assert r.stdout.split() == [str(12), "True", "False"]


def test_the_open_log_view_sends_each_run_once(kernel: Kernel) -> None:
    ok(kernel, "%config Cron.history_size = 20")
    ok(kernel, "%cron create --name chat \"@every 1h\" print('y' * 2000)")
    ok(kernel, "t = loopal_ipy.table(); display(t); t.show_log('chat')")
    kernel.drain_iopub(quiet=0.2)
    msgs = []
    for _ in range(6):  # ten runs a cell: each cell's runs reach the view when it ends
        msgs += ok(kernel, "for _ in range(10): loopal_ipy.get_scheduler().run_now('chat')").messages
        msgs += kernel.drain_iopub(quiet=0.3)
    sizes = [len(json.dumps(m["content"])) for m in msgs if m["msg_type"] in ("comm_open", "comm_msg")]
    assert sizes, "the log view sent nothing"
    assert max(sizes) <= 2 * 2000, max(sizes)
    r = ok(kernel, "print(len(t.log_runs), len(t._log.box.children))")
    assert r.stdout.split() == ["20", "20"]


def test_a_jobs_figures_go_to_its_log_never_to_a_cell(kernel: Kernel) -> None:
    """Regression: a job's plot showed under the next cell, and a cell's plt.plot drew into the job's figure."""
    ok(kernel, "%matplotlib inline\nimport matplotlib.pyplot as plt")
    ok(kernel, "%cron create --name plotter \"@every 1s\" plt.plot([1, 2, 3]); plt.title('from the job')")
    waited = ok(kernel, "%cron wait plotter --runs 1", timeout=30)  # the job fires while this cell awaits
    r = ok(kernel, "x = 1")
    for cell in (waited, r):
        assert not [d for d in cell.displays if "image/png" in d.get("data", {})], "the job's figure showed in a cell"
    stray = [m for m in kernel.drain_iopub(quiet=0.3) if "image/png" in m["content"].get("data", {})]
    assert not stray, stray
    ok(kernel, "%cron pause plotter")
    r = ok(
        kernel,
        "import base64\nrun = loopal_ipy.get_scheduler().get('plotter').history[-1]\n"
        "print(run.status, len(run.images), base64.b64decode(run.images[0])[:8] == b'\\x89PNG\\r\\n\\x1a\\n')",
    )
    assert r.stdout.split() == ["ok", "1", "True"], r.stdout
    r = ok(kernel, "plt.plot([3, 2, 1]); print(repr(plt.gca().get_title()), len(plt.gca().lines))")
    assert r.stdout.strip() == "'' 1", r.stdout  # a fresh figure: not the job's
    assert len([d for d in r.displays if "image/png" in d.get("data", {})]) == 1  # the cell's own plot shows


def test_a_callback_a_job_scheduled_prints_after_the_run_instead_of_into_a_void(kernel: Kernel) -> None:
    """Regression: `loop.call_later(0.5, print, ...)` from a sync job was lost (its run's buffer was gone)."""
    ok(
        kernel,
        "%cron create --name later \"@every 1h\" asyncio.get_running_loop().call_later(0.3, print, 'late hello')",
    )
    ok(kernel, "loopal_ipy.get_scheduler().run_now('later')")
    time.sleep(1.0)
    msgs = kernel.drain_iopub(quiet=0.5)
    streams = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    assert "late hello" in streams, msgs


def test_a_hooks_prints_and_errors_never_reach_a_cell(kernel: Kernel) -> None:
    """Hook callbacks run outside cells; what they print goes to the kernel's stderr, not a page."""
    ok(
        kernel,
        "calls = []\ndef h(ev):\n    calls.append(ev.name)\n    print('HOOK PRINT')\n    raise ValueError('HOOK BOOM')",
    )
    ok(kernel, "off = loopal_ipy.get_scheduler().on('failed', h)")
    ok(kernel, '%cron create --name boom "@every 1s" 1/0')
    ok(kernel, "%cron wait boom --runs 4", timeout=30)
    r = ok(kernel, "print(calls, [e.message for e in loopal_ipy.get_scheduler().core.events if e.kind == 'hook'][-1])")
    assert r.stdout.startswith("['failed', 'failed', 'failed']") and "unsubscribed after 3 errors" in r.stdout
    r = ok(kernel, "print(sum('HOOK PRINT' in line for line in loopal_ipy.get_scheduler().hooks.log))")
    assert r.stdout.strip() == "3"  # what the hook printed is in the hooks' log
    msgs = kernel.drain_iopub(quiet=0.3)
    leaked = [m for m in msgs if m["msg_type"] == "stream" and "HOOK PRINT" in m["content"]["text"]]
    leaked += [m for m in msgs if m["msg_type"] == "error" and m["content"]["evalue"] == "HOOK BOOM"]
    assert leaked == [], leaked
