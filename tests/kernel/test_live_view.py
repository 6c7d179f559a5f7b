"""A job's live view in a real kernel (docs/live.md): what it holds after runs, what it sends per run, that
it sends nothing to the user's cells, and that memory stays flat over many runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kernelutil import Kernel, Msg, kernel_env, ok, wait_for

pytestmark = pytest.mark.kernel

SETUP = "import pandas as pd, matplotlib.pyplot as plt, asyncio, loopal_ipy\nn = 0\nsched = loopal_ipy.get_scheduler()"
# A chart of a file that grows, and the table under it: the guide's example, small.
CHART = (
    "n += 1\nprint('run', n)\nplt.figure(figsize=(3, 2))\nplt.plot([i * i for i in range(n + 1)])\n"
    "pd.DataFrame({'n': [n]})"
)
# The same figure and table every run (its text counts runs): a run's own output has one size.
FIXED = (
    "n += 1\nprint(f'run {n:04}')\nplt.figure(figsize=(3, 2))\nplt.plot([1, 3, 2])\n"
    "pd.DataFrame({'a': [1, 2], 'b': [3, 4]})"
)


def updates(messages: list[Msg]) -> list[dict[str, Any]]:
    """The widget state updates among iopub messages, in order."""
    return [
        m["content"]["data"]["state"]
        for m in messages
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update"
    ]


def outputs_sent(messages: list[Msg]) -> list[list[dict[str, Any]]]:
    """What each update of a view's Output widget held."""
    return [state["outputs"] for state in updates(messages) if "outputs" in state]


def kinds(outputs: list[dict[str, Any]]) -> list[str]:
    return [o["name"] if o["output_type"] == "stream" else "+".join(sorted(o["data"])) for o in outputs]


WIDGET = "application/vnd.jupyter.widget-view+json"


def view_display(r: Any) -> dict[str, Any]:
    """The bundle a cell displayed its view with (the widget's, plus the snapshots)."""
    return next(d for d in r.displays if WIDGET in d.get("data", {}))


def count_a_view(kernel: Kernel, r: Any) -> None:
    """Do what a page does once it draws the view: tell the kernel the widget has a view (``_view_count``)."""
    assert kernel.kc is not None
    model = view_display(r)["data"][WIDGET]["model_id"]
    data = {"method": "update", "state": {"_view_count": 1}, "buffer_paths": []}
    kernel.kc.shell_channel.send(kernel.kc.session.msg("comm_msg", {"comm_id": model, "data": data}))
    ok(kernel, "pass")  # handled in order, before the next request


def size(msg: Msg) -> int:
    """A message's bytes as the kernel sends them: its JSON parts and its buffers."""
    parts = (msg["header"], msg["parent_header"], msg["metadata"], msg["content"])
    return sum(len(json.dumps(p, default=str)) for p in parts) + sum(len(b) for b in msg.get("buffers") or [])


def test_after_three_runs_the_view_holds_exactly_the_last_runs_png_and_html(kernel: Kernel) -> None:
    ok(kernel, SETUP)
    created = ok(kernel, f'%%cron create --show --name chart "@every 1s"\n{CHART}')
    assert created.displays[0]["data"]["text/plain"].startswith("created job"), created.displays
    view = view_display(created)["data"]
    assert "chart" in view["text/plain"] and "no run yet" in view["text/plain"]
    count_a_view(kernel, created)  # a page draws it
    # Paused in the same cell: a 4th run (due a second after the 3rd) cannot come between the wait and the pause.
    waited = ok(kernel, "%cron wait chart --runs 3 --timeout 30\n_ = sched.pause('chart')", timeout=60)
    n, images = kernel.evaluate("(n, sched.get('chart').last_run.images)")
    held = outputs_sent(waited.messages)
    assert len(held) >= 3, f"one update per run, got {len(held)}"
    last = held[-1]
    assert kinds(last) == ["stdout", "text/html+text/plain", "image/png+text/plain"], kinds(last)
    assert last[0]["text"] == f"run {n}\n"
    assert f"<td>{n}</td>" in last[1]["data"]["text/html"]
    assert last[2]["data"]["image/png"] == images[0]
    assert len({tuple(o["data"]["image/png"] for o in out if "image/png" in o.get("data", {})) for out in held}) == len(
        held
    ), "each run's figure is its own"
    # Nothing of the job reached a cell: no display, stream or result under the wait, and none in the next cell.
    job_out = [m for m in waited.messages if m["msg_type"] in ("display_data", "stream", "update_display_data")]
    assert job_out == [], job_out
    mine = ok(kernel, "print('mine')")
    assert mine.stdout == "mine\n" and mine.displays == [] and mine.execute_result is None


def test_a_view_sends_per_run_no_more_than_the_runs_own_output_and_2_kb(kernel: Kernel) -> None:
    ok(kernel, SETUP)
    as_cell = ok(kernel, FIXED)  # what the same code sends when it runs as a cell
    own = sum(size(m) for m in as_cell.messages if m["msg_type"] in ("stream", "display_data", "execute_result"))
    assert own > 10_000, own  # a real figure and table
    count_a_view(kernel, ok(kernel, f'%%cron create --show --name fixed "@yearly"\n{FIXED}'))
    ran = ok(kernel, "for _ in range(50):\n    sched.run_now('fixed')\n    await asyncio.sleep(0.02)", timeout=120)
    sent = [m for m in ran.messages if m["msg_type"] == "comm_msg"]
    assert len(outputs_sent(ran.messages)) == 50, "one update of the view per run"
    per_run = sum(size(m) for m in sent) / 50
    print(f"per run: view {per_run:,.0f} bytes, the same code as a cell {own:,} bytes")
    assert per_run <= own + 2048, (per_run, own)
    heads = [state["value"] for state in updates(ran.messages) if "value" in state]
    assert heads and not any("<style" in h for h in heads), "the stale rule is sent once, not with each header"


def test_memory_is_flat_over_1000_runs_of_a_shown_job(kernel: Kernel) -> None:
    ok(kernel, SETUP + "\nimport tracemalloc, gc")
    ok(kernel, "%matplotlib inline")
    code = "plt.figure(figsize=(1, 1), dpi=20)\nplt.plot([1, 2])\npd.DataFrame({'a': [1]})"
    ok(kernel, f'%%cron create --show --name small "@yearly"\n{code}')
    many = "for _ in range({n}):\n    sched.run_now('small')\n    await asyncio.sleep(0)\ngc.collect()"
    ok(kernel, many.format(n=100), timeout=120)
    ok(kernel, "tracemalloc.start()")
    ok(kernel, many.format(n=100) + "\nm1 = tracemalloc.get_traced_memory()[0]", timeout=120)
    ok(kernel, many.format(n=800) + "\nm2 = tracemalloc.get_traced_memory()[0]", timeout=300)
    m1, m2, runs = kernel.evaluate("(m1, m2, sched.get('small').runs)")
    print(f"traced after 200 runs {m1:,} bytes, after 1,000 runs {m2:,} bytes")
    assert runs == 1000
    assert m2 - m1 < 1_000_000, f"grew {m2 - m1:,} bytes over 800 runs"


def test_show_names_an_existing_job_and_its_latest_run_is_there_at_once(kernel: Kernel) -> None:
    ok(kernel, SETUP)
    ok(kernel, f'%%cron create --name chart "@yearly"\n{CHART}')
    ok(kernel, "sched.run_now('chart'); sched.run_now('chart')")
    shown = ok(kernel, "%cron show chart")
    opened = [m["content"]["data"]["state"] for m in shown.messages if m["msg_type"] == "comm_open"]
    body = next(s for s in opened if "outputs" in s)
    # a run made before any view: its value as its repr (formatting every job's value would cost every fire)
    assert kinds(body["outputs"]) == ["stdout", "text/plain", "image/png+text/plain"]
    assert body["outputs"][0]["text"] == "run 2\n"
    snapshot = view_display(shown)["data"]["text/html"]
    assert "snapshot of" in snapshot and "0  2" in snapshot and "data:image/png;base64," in snapshot
    count_a_view(kernel, shown)
    ran = ok(kernel, "sched.run_now('chart')\nawait asyncio.sleep(0.1)")
    assert kinds(outputs_sent(ran.messages)[-1]) == ["stdout", "text/html+text/plain", "image/png+text/plain"]


COUNTED = """
class Counted:
    calls = 0
    def _repr_html_(self):
        Counted.calls += 1
        return "<b>counted</b>"
"""


def test_a_jobs_value_is_formatted_only_while_the_job_has_a_view(kernel: Kernel) -> None:
    """The firing path: a job's last value is formatted as Out only for a view, never for every fire."""
    ok(kernel, SETUP + COUNTED)
    ok(kernel, '%cron create --name c "@yearly" Counted()')
    ok(kernel, "for _ in range(5): sched.run_now('c')")
    assert kernel.evaluate("Counted.calls") == 0
    ok(kernel, "v1 = loopal_ipy.show('c'); v2 = loopal_ipy.show('c')\nsched.run_now('c')")
    assert kernel.evaluate("Counted.calls") == 1
    ok(kernel, "v1.close()\nsched.run_now('c')")
    assert kernel.evaluate("Counted.calls") == 2  # one view is left
    ok(kernel, "v2.close(); v2.close()\nsched.run_now('c')")  # closing twice unwatches once
    assert kernel.evaluate("(Counted.calls, dict(sched.runner.watched))") == (2, {})


def test_a_failing_run_shows_its_printed_text_then_its_error(kernel: Kernel) -> None:
    ok(kernel, '%%cron create --show --name bad "@yearly"\nprint("before")\n1 / 0')
    ran = ok(kernel, "loopal_ipy.get_scheduler().run_now('bad')\nimport asyncio\nawait asyncio.sleep(0.1)")
    last = outputs_sent(ran.messages)[-1]
    assert kinds(last) == ["stdout", "stderr"]
    assert last[0]["text"] == "before\n" and "ZeroDivisionError" in last[1]["text"]
    head = [s["value"] for s in updates(ran.messages) if "value" in s][-1]
    assert "error" in head and "bad" in head


def test_a_deleted_jobs_view_says_so_and_an_unloaded_ones_says_stale(kernel: Kernel) -> None:
    ok(kernel, '%cron create --show --name a "@yearly" 1')
    ok(kernel, '%cron create --show --name b "@yearly" 2')
    deleted = ok(kernel, "%cron delete a\nimport asyncio\nawait asyncio.sleep(0.1)")
    heads = [s["value"] for s in updates(deleted.messages) if "value" in s]
    assert heads and "deleted" in heads[-1], heads
    reloaded = ok(kernel, "%reload_ext loopal_ipy")
    heads = [s["value"] for s in updates(reloaded.messages) if "value" in s]
    assert heads and "stale: loopal_ipy was unloaded or reloaded" in heads[-1], heads


def test_the_same_cell_run_again_replaces_its_view(kernel: Kernel) -> None:
    ok(kernel, '%cron create --name a "@yearly" 1')
    first = ok(kernel, "%cron show a", cell_id="cell-1")
    second = ok(kernel, "%cron show a", cell_id="cell-1")
    opened = {m["content"]["comm_id"] for m in first.messages if m["msg_type"] == "comm_open"}
    closed = {m["content"]["comm_id"] for m in second.messages if m["msg_type"] == "comm_close"}
    assert opened and opened <= closed, (opened, closed)
    assert kernel.evaluate("len(__import__('loopal_ipy.ui.view').ui.view.live_views())") == 1


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("%cron show", "%cron show takes one job, got 0; usage: %cron show ID (or NAME)"),
        ("%cron show a b", "%cron show takes one job, got 2"),
        ("%cron show --bogus a", "%cron show takes no options, got '--bogus'; usage: %cron show ID (or NAME)"),
        ("%cron show --help", "%cron show takes no options, got '--help'"),
        ("%cron show nosuch", "no job 'nosuch'"),
        ("%cron edit a --show", "%cron edit: --show changes no job; %cron show ID shows its latest run live here"),
        ('%cron create --show=yes "@yearly" 1', "unknown option '--show=yes'"),
    ],
)
def test_show_refuses_bad_input_in_one_line(module_kernel: Kernel, line: str, said: str) -> None:
    ok(module_kernel, '%cron create --name a --if-exists keep "@yearly" 1')
    r = module_kernel.execute(line)
    assert r.status == "error" and r.ename == "UsageError", (r.ename, r.evalue)
    assert said in (r.evalue or ""), r.evalue
    assert "\n" not in (r.evalue or "")


def test_a_durable_jobs_view_after_a_restart_holds_its_saved_run(tmp_path: Path) -> None:
    env = kernel_env(tmp_path, LOOPAL_SESSION_ID="live-view")
    with Kernel(env=env) as k:
        ok(k, "%load_ext loopal_ipy")
        ok(k, SETUP)
        ok(k, f'%%cron create --durable --show --name chart "@yearly"\n{CHART}')
        ok(k, "sched.run_now('chart')")
        png = k.evaluate("sched.get('chart').last_run.images[0]")
        k.restart()
        ok(k, "%load_ext loopal_ipy")
        shown = ok(k, "%cron show chart")
        body = next(
            m["content"]["data"]["state"]
            for m in shown.messages
            if m["msg_type"] == "comm_open" and "outputs" in m["content"]["data"]["state"]
        )
        assert kinds(body["outputs"]) == ["stdout", "text/html+text/plain", "image/png+text/plain"], body["outputs"]
        assert body["outputs"][2]["data"]["image/png"] == png


def test_a_last_expression_whose_html_raises_is_drawn_as_text_and_reaches_no_cell(kernel: Kernel) -> None:
    ok(kernel, SETUP)
    ok(
        kernel,
        "class Bad:\n    def _repr_html_(self):\n        raise ValueError('no html')\n"
        "    def __repr__(self):\n        return 'Bad()'",
    )
    ok(kernel, '%cron create --show --name b "@yearly" Bad()')
    ran = ok(kernel, "sched.run_now('b')\nawait asyncio.sleep(0.1)")
    leaked = [
        m["msg_type"] for m in ran.messages if m["msg_type"] in ("stream", "error", "display_data", "execute_result")
    ]
    assert leaked == [], [m["content"] for m in ran.messages if m["msg_type"] in ("stream", "error", "display_data")]
    last = outputs_sent(ran.messages)[-1]
    assert [o["data"] for o in last if o["output_type"] == "display_data"] == [{"text/plain": "Bad()"}]
    shown_error = [o["text"] for o in last if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert shown_error and "ValueError: no html" in shown_error[0], last  # as a cell shows it
    assert kernel.evaluate("sched.get('b').last_run.status") == "ok"  # and, as a cell's, the run succeeded


def test_a_view_carries_the_pulse_where_jobs_live_only_while_a_page_shows_them(kernel: Kernel) -> None:
    """A dashboard made of views alone must still let its kernel go with its page (docs/dashboards.md)."""
    ok(kernel, '%cron create --name a "@yearly" 1')
    plain = ok(kernel, "%cron show a")
    models = [m["content"]["data"]["state"]["_model_name"] for m in plain.messages if m["msg_type"] == "comm_open"]
    assert "PlayModel" not in models, models
    ok(kernel, '%config Cron.keep_alive = "while-shown"')
    held = ok(kernel, "%cron show a")
    models = [m["content"]["data"]["state"]["_model_name"] for m in held.messages if m["msg_type"] == "comm_open"]
    assert models.count("PlayModel") == 1, models


HOSTILE = "from IPython.display import display, clear_output, HTML\nimport sys\n"
CASES = {
    # a failed run that printed nothing: its traceback once, in red
    "error_alone": ("1 / 0", lambda out: kinds(out) == ["stderr"] and out[0]["text"].count("ZeroDivisionError") == 1),
    # a lone surrogate (a file name that is not UTF-8) is drawn as U+FFFD, and the view still updates
    "surrogate": ("print('a\\ud800b')", lambda out: out[0]["text"] == "a\ufffdb\n"),
    # writing bytes raises at the call, as a cell's stream does, and the job may catch it
    "bytes_write": (
        "try:\n    sys.stdout.write(b'x')\nexcept TypeError as e:\n    print('caught', e)",
        lambda out: out[0]["text"] == "caught write() argument must be str, not bytes\n",
    ),
    # handle.update of the run's own display: the view shows the new value in its place
    "own_update": (
        "h = display('first', display_id=True)\nh.update('second')",
        lambda out: [o["data"]["text/plain"] for o in out] == ["'second'"],
    ),
    # clear_output clears what the run showed so far
    "clear": ("print('a')\nclear_output()\nprint('b')", lambda out: out == [_stream("b\n")]),
    # a part over its bound is said, not dropped in silence
    "too_big": (
        "display(HTML('x' * 150_000))",
        lambda out: "a text/html part of 150,000 characters" in out[0]["text"] and kinds(out)[1] == "text/plain",
    ),
    # a display whose formatter raises: its traceback shown once, the run goes on
    "bad_formatter": (
        "class B:\n    def _repr_mimebundle_(self, **kw):\n        raise ValueError('mb')\n"
        "display(B())\nprint('after')",
        lambda out: (
            "".join(o.get("text", "") for o in out).count("ValueError: mb") == 1 and out[-1] == _stream("after\n")
        ),
    ),
    # a widget as the last expression is drawn as the widget, as Out draws it
    "widget": (
        "import ipywidgets\nipywidgets.IntSlider(3)",
        lambda out: kinds(out) == [f"{WIDGET}+text/plain"] and out[0]["data"][WIDGET]["model_id"],
    ),
    # an image's width is kept, as a cell keeps it
    "metadata": (
        "from IPython.display import Image\nimport base64\n"
        "display(Image(data=base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='), width=40))",
        lambda out: out[0]["metadata"] == {"image/png": {"width": 40}},
    ),
}


def _stream(text: str, name: str = "stdout") -> dict[str, str]:
    return {"output_type": "stream", "name": name, "text": text}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_job_output_is_drawn_as_a_cell_would_and_reaches_no_cell(module_kernel: Kernel, case: str) -> None:
    code, holds = CASES[case]
    ok(module_kernel, HOSTILE + "import asyncio, loopal_ipy\nsched = loopal_ipy.get_scheduler()")
    count_a_view(module_kernel, ok(module_kernel, f'%%cron create --show --name {case} "@yearly"\n{code}'))
    ran = ok(module_kernel, f"sched.run_now('{case}')\nawait asyncio.sleep(0.1)")
    leaked = [m for m in ran.messages if m["msg_type"] in ("stream", "error", "display_data", "update_display_data")]
    assert leaked == [], [m["content"] for m in leaked]
    out = outputs_sent(ran.messages)[-1]
    assert holds(out), out
    status = module_kernel.evaluate(f"sched.get('{case}').last_run.status")
    assert status == ("error" if case == "error_alone" else "ok"), status


def test_only_a_jobs_newest_run_keeps_what_a_view_draws(kernel: Kernel) -> None:
    """A run's shown outputs are held for the newest run only: 20 runs of history hold one."""
    ok(kernel, "import asyncio, loopal_ipy\nsched = loopal_ipy.get_scheduler()")
    ok(kernel, '%cron create --name many "@yearly" print("x" * 5000)')
    ok(kernel, "for _ in range(25):\n    sched.run_now('many')\n    await asyncio.sleep(0)")
    held = kernel.evaluate("[r.shown is not None for r in sched.get('many').history]")
    assert held == [False] * 19 + [True], held


def test_views_made_inside_a_layout_are_replaced_when_their_cell_runs_again(kernel: Kernel) -> None:
    ok(kernel, "import ipywidgets as W, loopal_ipy")
    ok(kernel, '%cron create --name a "@yearly" 1')
    for _ in range(5):
        ok(kernel, 'W.HBox([loopal_ipy.show("a"), loopal_ipy.show("a")])', cell_id="layout")
    assert kernel.evaluate("len(__import__('loopal_ipy.ui.view').ui.view.live_views())") == 2


def test_a_view_follows_its_job_again_when_the_job_comes_back(tmp_path: Path) -> None:
    with Kernel(env=kernel_env(tmp_path, LOOPAL_SESSION_ID="s1")) as k:
        ok(k, "%load_ext loopal_ipy")
        ok(k, "import asyncio, loopal_ipy\nsched = loopal_ipy.get_scheduler()")
        ok(k, '%cron create --durable --show --name d "@yearly" print("ran")')
        away = ok(k, "%cron session s2\nawait asyncio.sleep(0.1)")
        heads = [s["value"] for s in updates(away.messages) if "value" in s]
        assert heads and "gone" in heads[-1], heads
        ok(k, "%cron session s1")
        back = ok(k, "sched.run_now('d')\nawait asyncio.sleep(0.1)")
        assert outputs_sent(back.messages)[-1] == [_stream("ran\n")]
        heads = [s["value"] for s in updates(back.messages) if "value" in s]
        assert "gone" not in heads[-1], heads


def test_an_executed_notebook_saves_the_views_last_run(tmp_path: Path) -> None:
    """Where no page draws widgets (nbclient here; papermill and nbconvert --execute are nbclient), each run
    also refreshes the view's saved snapshot: the executed notebook shows the last run, dated."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    cells = [
        "%load_ext loopal_ipy\n" + SETUP,
        f'%%cron create --show --name chart "@every 1s"\n{CHART}',
        "%cron wait chart --runs 3 --timeout 60\n%cron pause chart",  # no run between the wait and the pause
        "print(n)",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = kernel_env(tmp_path)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        client.execute()
    n = int(nb.cells[3].outputs[-1]["text"])
    saved = next(o for o in nb.cells[1].outputs if WIDGET in o.get("data", {}))["data"]
    assert f"run {n}" in saved["text/plain"] and f"<td>{n}</td>" in saved["text/html"], saved["text/plain"]
    assert "snapshot of" in saved["text/html"] and "data:image/png;base64," in saved["text/html"]


def test_an_executed_notebook_saves_what_later_cells_did_to_the_job(tmp_path: Path) -> None:
    """A run, a pause and a delete by later cells reach the saved snapshot before each cell ends (nbclient
    reads only what a cell sends while it runs)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    cells = [
        "%load_ext loopal_ipy",
        '%cron create --show --name once "@yearly" print("hello from the run")',
        "%cron run once",
        "%cron pause once",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    saved = []
    with pytest.MonkeyPatch.context() as mp:
        for name, value in kernel_env(tmp_path).items():
            mp.setenv(name, value)
        with client.setup_kernel():
            nb.cells.append(nbformat.v4.new_code_cell("%cron delete once"))
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)  # then what the file would hold if the notebook ended here
                saved += [o["data"]["text/plain"] for o in nb.cells[1].outputs if WIDGET in o.get("data", {})]
    created, ran, paused, deleted = saved
    assert "no run yet" in created, created
    assert "hello from the run" in ran and ", ok" in ran.splitlines()[0], ran
    assert "paused" in paused.splitlines()[0], paused
    assert "deleted" in deleted.splitlines()[0] and "hello from the run" in deleted, deleted


@pytest.mark.parametrize("page", [False, True], ids=["executed", "on-a-page"])
def test_a_cell_that_changes_a_shown_job_3000_times_sends_one_update(kernel: Kernel, page: bool) -> None:
    """A view sends what a cell did once, at its end: a loop of pauses and resumes never crowds the cell's
    own output out of IOPub (the kernel drops messages past its queue's limit)."""
    ok(kernel, "import loopal_ipy\ns = loopal_ipy.get_scheduler()")
    created = ok(kernel, '%cron create --show --name busy "@yearly" print("x" * 5000)')
    if page:
        count_a_view(kernel, created)
    ok(kernel, "%cron run busy")
    r = ok(kernel, "for i in range(3000):\n    s.pause('busy'); s.resume('busy')\nprint('END-MARK')", timeout=120)
    assert r.stdout == "END-MARK\n", r.stdout
    sent = [m for m in r.messages if m["msg_type"] in ("comm_msg", "update_display_data")]
    assert len(sent) <= 2, f"{len(sent)} view messages for one cell"


def test_an_executed_notebook_saves_a_change_made_from_a_thread(tmp_path: Path) -> None:
    """A pause from a thread the cell joins reaches the saved snapshot before the cell ends."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    cells = [
        "%load_ext loopal_ipy\nimport threading, loopal_ipy\ns = loopal_ipy.get_scheduler()",
        '%cron create --show --name t "@yearly" print(1)',
        "t = threading.Thread(target=lambda: s.pause('t'))\nt.start(); t.join()",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.MonkeyPatch.context() as mp:
        for name, value in kernel_env(tmp_path).items():
            mp.setenv(name, value)
        client.execute()
    saved = next(o for o in nb.cells[1].outputs if WIDGET in o.get("data", {}))["data"]["text/plain"]
    assert "paused" in saved.splitlines()[0], saved


def test_the_25th_view_closes_the_oldest(kernel: Kernel) -> None:
    ok(kernel, "import loopal_ipy\nfrom loopal_ipy.ui import view as V")
    ok(kernel, '%cron create --name a "@yearly" 1')
    ok(kernel, "views = [loopal_ipy.show('a') for _ in range(25)]")
    assert kernel.evaluate("(len(V.live_views()), views[0]._closed, views[1]._closed, V.MAX_LIVE_VIEWS)") == (
        24,
        True,
        False,
        24,
    )
    assert kernel.evaluate("(s := loopal_ipy.get_scheduler()).runner.watched[s.get('a').id]") == 24


def test_a_view_holds_bounded_text_and_displays_and_says_what_it_left_out(kernel: Kernel) -> None:
    ok(kernel, "import asyncio, loopal_ipy\nsched = loopal_ipy.get_scheduler()")
    code = "print('x' * 3_000_000)\\nfrom IPython.display import display\\nfor i in range(30): display(i)"
    count_a_view(kernel, ok(kernel, f'%cron create --show --name big "@yearly" exec("{code}")'))
    ran = ok(kernel, "sched.run_now('big')\nawait asyncio.sleep(0.1)")
    out = outputs_sent(ran.messages)[-1]
    text = "".join(o["text"] for o in out if o["output_type"] == "stream")
    assert len(text) < 10_200 and "the rest is in the log: %cron log" in text, len(text)
    assert "[more displays not shown here: 20 per run]" in text  # said, though the printed text ran out
    assert [o["data"]["text/plain"] for o in out if o["output_type"] == "display_data"] == [str(i) for i in range(20)]
    sizes = sum(size(m) for m in ran.messages if m["msg_type"] == "comm_msg")
    assert sizes < 15_000, sizes  # 3 MB printed: the view sends its first 10,000 characters


def test_a_hidden_view_sends_nothing_and_catches_up_when_shown_again(kernel: Kernel) -> None:
    ok(kernel, "import asyncio, loopal_ipy\nsched = loopal_ipy.get_scheduler()\nk = 0")
    created = ok(kernel, '%cron create --show --name h "@yearly" k += 1; print(k)')
    count_a_view(kernel, created)
    model = view_display(created)["data"][WIDGET]["model_id"]
    assert kernel.kc is not None
    hide = {"method": "update", "state": {"_view_count": 0}, "buffer_paths": []}
    kernel.kc.shell_channel.send(kernel.kc.session.msg("comm_msg", {"comm_id": model, "data": hide}))
    hidden = ok(kernel, "for _ in range(3):\n    sched.run_now('h')\n    await asyncio.sleep(0.05)")
    assert [m for m in hidden.messages if m["msg_type"] in ("comm_msg", "update_display_data")] == []
    count_a_view(kernel, created)  # shown again (the output came back: a page shows it)
    back = kernel.drain_iopub(quiet=0.5)
    assert outputs_sent(back)[-1] == [_stream("3\n")], outputs_sent(back)


def test_a_restart_in_the_middle_of_a_shown_run_is_said_in_the_next_kernels_view(tmp_path: Path) -> None:
    """Kernel → Restart while a shown durable job runs (jupyter_client interrupts first): the next kernel's
    view of the job draws that run as ended by the restart, and the job is still active."""
    with Kernel(env=kernel_env(tmp_path, LOOPAL_SESSION_ID="mid-run")) as k:
        ok(k, "%load_ext loopal_ipy")
        ok(k, "import time, loopal_ipy\nsched = loopal_ipy.get_scheduler()")
        mark = tmp_path / "started"
        code = f'print("started")\nopen({str(mark)!r}, "w").close()\ntime.sleep(60)'
        ok(k, f'%%cron create --durable --show --name slow "@every 1s"\n{code}')
        assert wait_for(mark.exists, 20)  # the run is going (the kernel is busy: no request is answered)
        k.restart()
        # One cell: jobs fire only while no cell runs, so the restored job (due each second, each run 60 s)
        # cannot start a run between the load and the show.
        shown = ok(k, "%load_ext loopal_ipy\n%cron show slow")
        body = next(
            m["content"]["data"]["state"]
            for m in shown.messages
            if m["msg_type"] == "comm_open" and "outputs" in m["content"]["data"]["state"]
        )
        errors = [o["text"] for o in body["outputs"] if o.get("name") == "stderr"]
        assert errors and "ended by the kernel's restart" in errors[-1], body["outputs"]
        assert "started" in "".join(o.get("text", "") for o in body["outputs"] if o.get("name") == "stdout")
        head = view_display(shown)["data"]["text/plain"]
        assert "paused" not in head.splitlines()[0], head
