"""What a newcomer met: words that read right, and no warnings for routine things."""

from __future__ import annotations

import types
from datetime import timedelta

import loopal_ipy
from loopal_ipy.ui import cells, columns, render


def test_a_job_that_is_due_says_due_now_never_in_due(kshell) -> None:
    sched = loopal_ipy.get_scheduler()
    job = sched.create("@every 10s", "pass", name="soon")
    late = job.next_fire + timedelta(seconds=1)
    assert columns.row(job, late)["next fire"].endswith("(due now)")
    assert "in due" not in cells.next_cell(job, late) and "due now" in cells.next_cell(job, late)
    assert "in due" not in columns.table_text([job], late)
    assert "in due" not in columns.table_html([job], late)


def test_the_first_durable_create_of_a_session_raises_no_store_warning(shell, monkeypatch, tmp_path) -> None:
    """A session's first durable job makes its folder and loads nothing: routine, so no ⚠ 'store -:
    restored 0 durable jobs' in the table's footer."""
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPAL_SESSION_ID", "quiet")
    shell.kernel = types.SimpleNamespace()
    try:
        shell.run_line_magic("load_ext", "loopal_ipy")
        sched = loopal_ipy.get_scheduler()
        sched.create("@hourly", "pass", durable=True, name="first")
        said = [e.message for e in sched.events if e.kind == "store"]
        assert said == [], said
        assert render.footer_lines(sched.events) == []
    finally:
        if "loopal_ipy" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "loopal_ipy")
        del shell.kernel
