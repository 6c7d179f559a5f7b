"""What an export builds (SPEC §10), without a kernel: setup cleaning, cron text for engines, the bundle."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopal_ipy.core.errors import ExportError
from loopal_ipy.core.job import CronJob
from loopal_ipy.storage.export import (
    cron_fields,
    crontab_line,
    engine_schedule,
    job_notebook,
    notebook_code_cells,
    read_notebook,
    run_script,
    setup_cells,
    strip_loopal,
)


def _job(schedule: str, code: str = "refresh()", tz: str = "UTC", name: str | None = "poll") -> CronJob:
    return CronJob(
        id="abcd1234", schedule=schedule, code=code, tz=tz, created_at=datetime(2026, 1, 1, tzinfo=UTC), name=name
    )


@pytest.mark.parametrize(
    ("cell", "kept"),
    [
        ("x = 41", "x = 41"),
        ("%load_ext loopal_ipy", ""),
        ("%reload_ext loopal_ipy\nimport pandas as pd", "import pandas as pd"),
        ('%cron create "*/5 * * * *" refresh()', ""),
        ("%cron wait answer --runs 1 --timeout 3", ""),
        ('%%cron create "@hourly"\nrefresh()', ""),
        ("import loopal_ipy\nx = 1", "x = 1"),
        ("from loopal_ipy import get_scheduler\nsched = get_scheduler()\nx = 2", "x = 2"),
        ('loopal_ipy.get_scheduler().create(\n    "@daily",\n    "refresh()",\n)\ny = 3', "y = 3"),
        ("import loopal_ipy as lp\nlp.table()\nz = 4", "z = 4"),
        ("%matplotlib inline\n%cron list\nimport loopal_ipy\nw = 5", "%matplotlib inline\nw = 5"),
        ("!pip list\n%cron list", "!pip list"),
        ("# %cron create in a comment stays\nv = 6", "# %cron create in a comment stays\nv = 6"),
        ("%load_ext autoreload", "%load_ext autoreload"),
        ("def f():\n    return 1\n", "def f():\n    return 1"),
    ],
)
def test_setup_cells_lose_what_drives_loopal_and_keep_the_rest(cell: str, kept: str) -> None:
    assert strip_loopal(cell) == kept


def test_cells_left_empty_are_dropped() -> None:
    assert setup_cells(["x = 1", "%load_ext loopal_ipy", "   ", '%cron create "@daily" f()', "y = 2"]) == [
        "x = 1",
        "y = 2",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("%cron load_ext loopal_ipy import from =()\n\t\"'#!x1")), max_size=200))
def test_any_cell_text_is_cleaned_without_an_error(cell: str) -> None:
    kept = strip_loopal(cell)
    assert isinstance(kept, str)
    assert not any(line.lstrip().startswith(("%cron", "%%cron")) for line in kept.splitlines())


@pytest.mark.parametrize(
    ("schedule", "fields"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("@every 1m", "* * * * *"),
        ("@every 15m", "*/15 * * * *"),
        ("@every 1h", "0 * * * *"),
        ("@every 6h", "0 */6 * * *"),
        ("@every 1d", "0 0 * * *"),
    ],
)
def test_cron_fields_for_engines(schedule: str, fields: str) -> None:
    assert cron_fields(_job(schedule)) == fields


@pytest.mark.parametrize(
    ("schedule", "message"),
    [("@every 10s", "smallest step is a minute"), ("@every 7m", "restarts every hour"), ("@every 5h", "restarts")],
)
def test_every_that_cron_cannot_say_is_refused(schedule: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        cron_fields(_job(schedule))


def test_jupyter_scheduler_gets_cron_and_refuses_what_its_croniter_reads_otherwise() -> None:
    assert engine_schedule(_job("*/5 * * * *")) == "*/5 * * * *"
    assert engine_schedule(_job("0 9 * * MON-FRI", tz="Europe/Berlin")) == "0 9 * * MON-FRI"
    assert engine_schedule(_job("0 0 13 * FRI")) == "0 0 13 * FRI"  # both ORed, there and here
    with pytest.raises(ExportError, match=r"takes cron schedules, not '@every 5m'"):
        engine_schedule(_job("@every 5m"))
    with pytest.raises(ExportError, match="fires on days matching both day-of-month"):
        engine_schedule(_job("0 0 */2 * MON"))  # Vixie ANDs (a field starts with *), croniter ORs


def test_the_notebook_is_setup_then_the_tagged_job_with_the_kernelspec() -> None:
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = job_notebook(["x = 41"], _job("@hourly", 'print("answer", x + 1)'), origin="a.ipynb", kernelspec=spec)
    kinds = [(c["cell_type"], c["source"]) for c in nb["cells"]]
    assert kinds[1:] == [("code", "x = 41"), ("code", 'print("answer", x + 1)')]
    assert nb["cells"][-1]["metadata"]["tags"] == ["loopal-job"]
    assert nb["metadata"]["kernelspec"] == spec and nb["nbformat"] == 4
    assert len({c["id"] for c in nb["cells"]}) == len(nb["cells"])


def test_run_script_and_crontab_quote_what_they_name() -> None:
    script = run_script("poll.ipynb", "/opt/my env/bin/python", "python3", _job("@hourly"))
    assert "exec '/opt/my env/bin/python' -m papermill poll.ipynb" in script
    assert '"outputs/poll-$(date -u +%Y%m%dT%H%M%SZ).ipynb" -k python3' in script
    line = crontab_line("0 * * * *", "Europe/Berlin", "/srv/my jobs/run.sh")
    assert line == "CRON_TZ=Europe/Berlin\n0 * * * * '/srv/my jobs/run.sh' >> '/srv/my jobs/outputs/cron.log' 2>&1\n"


def test_a_schedule_the_engines_croniter_misreads_is_refused_where_that_croniter_is_installed() -> None:
    """croniter 1.4.1 (jupyter-scheduler's pin, in the ipykernel-6 leg) skips March 1st for ``*/5`` in
    the day field; where no croniter is installed (the other leg) there is nothing to ask, and cron
    text that means the same everywhere goes through."""
    job = _job("0 12 */5 * *")
    if importlib.util.find_spec("croniter") is None:
        assert engine_schedule(job) == "0 12 */5 * *"
        return
    if importlib.metadata.version("croniter").startswith("1."):
        with pytest.raises(ExportError, match=r"reads '0 12 \*/5 \* \*' differently from cron: it would run at"):
            engine_schedule(job)
    else:
        assert engine_schedule(job) == "0 12 */5 * *"
    assert engine_schedule(_job("30 6 * * 1-5")) == "30 6 * * 1-5"  # what most jobs look like passes


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
_CELL = st.fixed_dictionaries(
    {}, optional={"cell_type": st.sampled_from(["code", "markdown", 3, None]), "source": _JSON, "metadata": _JSON}
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries({"cells": st.lists(_CELL | _JSON, max_size=5)}, optional={"metadata": _JSON}),
        st.fixed_dictionaries(
            {"cells": st.just([])},
            optional={"metadata": st.fixed_dictionaries({}, optional={"kernelspec": _JSON, "language_info": _JSON})},
        ),
    )
)
def test_any_notebook_document_gives_cells_or_one_export_error(document: object) -> None:
    """A hand-edited or half-written notebook: its cells, or ExportError with what to do; never a traceback."""
    try:
        sources, spec, info = notebook_code_cells(document, "nb.ipynb")
    except ExportError as e:
        assert "--setup history" in str(e) and "\n" not in str(e)
        return
    assert all(isinstance(s, str) for s in sources)
    assert spec is None or isinstance(spec, dict)
    assert info is None or isinstance(info, dict)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b"", "empty"),
        (b'{"cells": "none"}', "no cells list"),
    ],
)
def test_a_notebook_file_that_is_not_one_is_one_export_error(tmp_path, content: bytes, why: str) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    with pytest.raises(ExportError, match=r"use --setup history or --setup none$") as caught:
        read_notebook(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value), why


def test_a_notebook_path_that_is_a_folder_is_one_export_error(tmp_path) -> None:
    with pytest.raises(ExportError, match=r"^cannot read the notebook .*; use --setup history or --setup none$"):
        read_notebook(tmp_path)


def test_a_good_notebook_file_gives_its_code_cells(tmp_path) -> None:
    path = tmp_path / "nb.ipynb"
    doc = {
        "cells": [
            {"cell_type": "code", "source": ["x = 1\n", "y = 2"]},
            {"cell_type": "markdown", "source": "# title"},
            {"cell_type": "code", "source": "refresh()"},
        ],
        "metadata": {"kernelspec": {"name": "python3"}},
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert read_notebook(path) == (["x = 1\ny = 2", "refresh()"], {"name": "python3"}, None)


RECIPE_CELLS = [
    "%load_ext loopal_ipy",
    "import loopal_ipy\nsched = loopal_ipy.get_scheduler()",
    "def alert(ev):\n    print('failed', ev.job_id)",
    "off = sched.on('failed', alert)",  # uses a loopal object by a name of its own: goes too
    "ticks = 0\nseen = []",
    '%cron create --name tick "@every 1s" ticks += 1',
    "%cron wait tick --runs 3",
    "assert ticks >= 3\nprint('checked', ticks)",
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "seen.append(0)\nimport json\nunused = json.dumps(seen)",
]


@pytest.mark.parametrize(
    ("job_code", "setup"),
    [
        ("ticks += 1; print('tick', ticks)", ["ticks = 0", "%matplotlib inline"]),
        (
            "plt.plot(seen)",
            ["seen = []", "%matplotlib inline\nimport matplotlib.pyplot as plt", "seen.append(0)"],
        ),
        ("print('self-contained')", ["%matplotlib inline"]),
        ("%run report.py", ["%matplotlib inline"]),
    ],
)
def test_the_setup_is_what_the_job_reads_followed_back(job_code: str, setup: list[str]) -> None:
    """Issue 21 item 4: assignments from loopal objects and their uses both go, asserts never stay,
    and what the job reads is defined (its definitions, and theirs, in order)."""
    assert setup_cells(RECIPE_CELLS, job_code) == setup


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("abx=+()[]. \n%!:0123assertimport")), max_size=60), max_size=6))
def test_slicing_any_cells_never_raises_and_keeps_no_assert(cells: list[str]) -> None:
    kept = setup_cells(cells, "a + b(x)")
    assert all(isinstance(cell, str) and cell.strip() for cell in kept)
    assert not any(line.lstrip().startswith("assert ") for cell in kept for line in cell.splitlines())
