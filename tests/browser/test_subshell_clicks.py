"""Table clicks over subshells (docs/kernel.md): JupyterLab 4.6 sends comm messages to kernel subshells by
default ("Kernel Comms over subshells": perCommTarget), so a button click is handled on a thread of
its own. With exactly one job (nothing else keeps the loop awake), pause then resume by the buttons:
the row says active within 2 s, the job fires on its next occurrence, and nothing says it "came due
while the kernel was busy"."""

from __future__ import annotations

import json

import pytest
from browserutil import CHROMIUM
from test_lab import FLAGS, Lab, _notebook, _open_and_run_all, _runs, _text, _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ONE_JOB = [
    "%load_ext loopal_ipy",
    '%cron create --name tick "@every 1s" ticks = globals().get("ticks", 0) + 1',
    "%cron list",
]
STATE = ".loopal-cell-state.loopal-job-{}"


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_resume_by_the_button_with_comms_over_subshells(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    (lab.root / "one.ipynb").write_text(json.dumps(_notebook(ONE_JOB)))
    settings = lab.root.parent / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    assert not (settings / "kernels-settings.jupyterlab-settings").exists()  # the default: perCommTarget
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, "one.ipynb")
            page.wait_for_selector(".loopal-cron .loopal-cell-job", timeout=60_000)
            tick = _text(page, ".loopal-cron .loopal-cell-job").split()[0]
            _wait(page, "() => !document.querySelector('.jp-Notebook .jp-mod-running')")
            subshells = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.supportsSubshells"
            )
            assert subshells, "this kernel does not take comms over subshells: the test would prove nothing"
            runs = f".loopal-cell-runs.loopal-job-{tick}"
            _wait(page, "(s) => parseInt(document.querySelector(s).innerText) >= 2", runs)  # it fires
            for _round in range(3):
                page.wait_for_timeout(700)  # two toggles within 0.6 s are one double click (DOUBLE_CLICK)
                page.click(f".loopal-btn-toggle.loopal-job-{tick}")
                _wait(page, "(s) => document.querySelector(s).innerText.trim() === 'paused'", STATE.format(tick))
                page.wait_for_timeout(2500)  # occurrences pass while paused
                paused_at = _runs(page, tick)
                page.click(f".loopal-btn-toggle.loopal-job-{tick}")
                _wait(
                    page,
                    "(s) => document.querySelector(s).innerText.trim() !== 'paused'",
                    STATE.format(tick),
                    timeout=10,  # at once, not after the loop's longest sleep (60 s); 10 s for a loaded machine
                )
                _wait(
                    page,
                    "([s, n]) => parseInt(document.querySelector(s).innerText) > n",
                    [runs, paused_at],
                    timeout=10,
                )
            page.click(f".loopal-btn-log.loopal-job-{tick}")
            _wait(page, "() => (document.querySelector('.loopal-cron-log') || {}).innerText?.includes('log of')")
            log = page.locator(".loopal-cron-log").first.inner_text()
            assert "came due while the kernel was busy" not in log, log
            assert "coalesced" not in _text(page, ".loopal-cron-footer"), _text(page, ".loopal-cron-footer")
        finally:
            browser.close()
