"""The table fits a narrow notebook: at 1400 px with JupyterLab's file browser open,
every row's buttons are on screen, without scrolling the table sideways."""

from __future__ import annotations

import json

import pytest
from browserutil import CHROMIUM
from test_lab import FLAGS, Lab, _notebook, _open_and_run_all, _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

WIDE = [
    "%load_ext loopal_ipy",
    '%cron create --name a_rather_long_job_name_for_a_report "0 9 * * MON-FRI" '
    'report = build_the_weekly_report_for_the_sales_team(region="emea", include_forecast=True)',
    '%cron create --name flaky "@every 1s" raise ConnectionError("the upstream service at api.example.org timed out")',
    "%cron list",
]

_OVERFLOW = """() => {
    const panel = window.jupyterapp.shell.currentWidget.content.node.getBoundingClientRect();
    return [...document.querySelectorAll('.loopal-cron .loopal-btn-log')].map(b => {
        const r = b.getBoundingClientRect();
        return {right: r.right, panel: panel.right, visible: r.right <= panel.right && r.width > 0};
    });
}"""


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_every_rows_buttons_are_on_screen_at_1400_px_with_the_sidebar_open(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    (lab.root / "wide.ipynb").write_text(json.dumps(_notebook(WIDE)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            _open_and_run_all(page, lab, "wide.ipynb")
            page.wait_for_selector(".loopal-cron .loopal-btn-log", timeout=60_000)
            _wait(page, "() => document.querySelectorAll('.loopal-cron .loopal-btn-log').length === 2")
            if not page.evaluate("() => window.jupyterapp.shell.leftCollapsed === false"):
                page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
            _wait(page, "() => window.jupyterapp.shell.leftCollapsed === false")
            _wait(
                page,
                "() => document.querySelectorAll('.loopal-cron .loopal-cell-last')[1]?.innerText.includes('timed out')",
            )
            page.wait_for_timeout(500)  # the layout settles after the sidebar opens
            buttons = page.evaluate(_OVERFLOW)
            assert buttons and all(b["visible"] for b in buttons), buttons
        finally:
            browser.close()


_AFTER_RESTART = """() => {
    const table = document.querySelector('.loopal-cron');
    const icons = [...table.querySelectorAll('.jupyter-widgets-disconnected'), table]
        .filter(e => getComputedStyle(e, '::before').content !== 'none').length;
    const rows = [...table.querySelectorAll('.loopal-cell-job')].map(c => c.getBoundingClientRect().top);
    const logs = [...table.querySelectorAll('.loopal-btn-log')].map(b => b.getBoundingClientRect().top);
    return {stale: table.classList.contains('jupyter-widgets-disconnected'), icons,
            said: getComputedStyle(table, '::after').content, rows, logs};
}"""


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_a_table_of_a_restarted_kernel_says_so_in_one_line(lab: Lab) -> None:
    """After a restart every old view is disconnected: no broken-link icon per cell, every row's buttons
    stay in their row, and one line says to run %cron list again."""
    from playwright.sync_api import sync_playwright

    (lab.root / "wide.ipynb").write_text(json.dumps(_notebook(WIDE)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            _open_and_run_all(page, lab, "wide.ipynb")
            _wait(page, "() => document.querySelectorAll('.loopal-cron .loopal-btn-log').length === 2", timeout=60)
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
            _wait(page, "() => document.querySelector('.loopal-cron.jupyter-widgets-disconnected') !== null")
            state = page.evaluate(_AFTER_RESTART)
            assert state["icons"] == 0, state
            assert "run %cron list again" in state["said"], state
            assert len(state["rows"]) == len(state["logs"]) == 2, state
            assert all(abs(row - log) < 10 for row, log in zip(state["rows"], state["logs"], strict=True)), state
        finally:
            browser.close()
