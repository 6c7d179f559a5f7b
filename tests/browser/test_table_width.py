"""The table fits a narrow notebook (issue 22 item 3): at 1400 px with JupyterLab's file browser open,
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
