"""A job's live view in a real JupyterLab and Notebook 7 + Debian chromium (docs/live.md).

The view's figure changes with each run; a reloaded page draws the kernel's latest run
(not the one saved in the file); after a kernel restart the old view says it is stale.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from browserutil import CHROMIUM
from test_lab import _IDLE, FLAGS, Lab, _notebook, _open_and_run_all, _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CELLS = [
    "%load_ext loopal_ipy",
    "import matplotlib.pyplot as plt\nimport pandas as pd\nn = 0",
    '%%cron create --show --name chart "@every 1s"\n'
    "n += 1\nprint('run', n)\nplt.figure(figsize=(3, 2))\nplt.plot([i * i for i in range(n + 1)])\n"
    "plt.title(f'run {n}')\npd.DataFrame({'n': [n]})",
]
VIEW_IMG = ".loopal-view .loopal-view-body img"


def _src(page) -> str:
    return page.eval_on_selector(VIEW_IMG, "e => e.src")


def _run_shown(page) -> int:
    """The run number the view's printed text shows."""
    text = page.locator(".loopal-view .loopal-view-body").first.inner_text()
    found = re.findall(r"run (\d+)", text)
    return int(found[-1]) if found else 0


def _kernel_do(page, code: str) -> None:
    """Run code in the notebook's kernel as a silent request (the notebook stays unmodified)."""
    page.evaluate(
        "(c) => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        ".requestExecute({code: c, silent: true, store_history: false}).done",
        code,
    )


def test_a_views_figure_follows_each_run_survives_a_reload_and_goes_stale_on_restart(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    (lab.root / "live.ipynb").write_text(json.dumps(_notebook(CELLS)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _open_and_run_all(page, lab, "live.ipynb")
            page.wait_for_selector(VIEW_IMG, timeout=90_000)

            # each run replaces the figure and the table, in place: one image, one table, always
            seen = [_src(page)]
            for _ in range(3):
                _wait(page, "([s, prev]) => { const e = document.querySelector(s); return e && e.src !== prev; }",
                      [VIEW_IMG, seen[-1]], timeout=15)  # fmt: skip
                seen.append(_src(page))
                assert page.locator(VIEW_IMG).count() == 1
                assert page.locator(".loopal-view .loopal-view-body table").count() == 1
            assert len(set(seen)) == 4
            head = page.locator(".loopal-view .loopal-view-head").first.inner_text()
            assert "chart" in head and "ran " in head and "next " in head, head
            # the job's figure is drawn in its view only, never under another cell
            outside = page.eval_on_selector_all(
                ".jp-OutputArea-output img", "els => els.filter(e => !e.closest('.loopal-view')).length"
            )
            assert outside == 0
            assert not page.locator(".loopal-view .loopal-stale").first.is_visible()

            # save, let more runs come, hold the job: the kernel's latest run is newer than the file's
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            _wait(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
            saved = _run_shown(page)
            _wait(page, "([n]) => /run (\\d+)/.test(document.querySelector('.loopal-view-body').innerText) && "
                  "+document.querySelector('.loopal-view-body').innerText.match(/run (\\d+)/)[1] > n",
                  [saved], timeout=15)  # fmt: skip
            _kernel_do(page, "%cron pause chart")
            _wait(page, "() => document.querySelector('.loopal-view-head').innerText.includes('paused')")
            latest = _run_shown(page)
            assert latest > saved

            page.reload()
            reloaded = time.monotonic()
            _wait(page, _IDLE, timeout=90)
            page.wait_for_selector(VIEW_IMG, timeout=60_000)
            drawn = time.monotonic()
            # drawn from the kernel, not from the file: the held job's latest run, at once
            _wait(page, "([n]) => (document.querySelector('.loopal-view-body').innerText.match(/run (\\d+)/) "
                  "|| [0, 0])[1] == n", [latest], timeout=2)  # fmt: skip
            print(f"after the reload: the view drawn {drawn - reloaded:.1f} s after the page began loading,"
                  f" showing run {latest} (the file held run {saved})")  # fmt: skip
            assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()

            # a restarted kernel's old view says so
            assert not page.locator(".loopal-view .loopal-stale").first.is_visible()
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
            page.wait_for_selector(".loopal-view .loopal-stale", state="visible", timeout=30_000)
            assert "stale" in page.locator(".loopal-view .loopal-stale").first.inner_text()
        finally:
            browser.close()
