"""The live table in a real JupyterLab and Notebook 7 + Debian chromium (docs/table.md).

Needs `apt-get install chromium` and `pip install playwright jupyterlab "notebook>=7,<8"`
(never `playwright install`: we drive the system chromium). The same checks run
against both frontends (`lab`, `notebook7`); only the server command, the page
URL and the screenshot differ (see `FRONTENDS`). The server runs on 127.0.0.1
with a fresh root, config, data, runtime and IPython dir, a token, and (lab) a
fresh workspace; everything is stopped in `finally`, even on failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browserutil import CHROMIUM, free_port, server_env, stop

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's picture is refreshed only on request (LOOPAL_UPDATE_SCREENSHOT=1), so a
# test run never dirties the work tree; otherwise it lands in the ignored artifacts folder.
SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "docs" / "table.png"
    if os.environ.get("LOOPAL_UPDATE_SCREENSHOT") == "1"
    else Path(__file__).resolve().parent / "artifacts" / "table.png"
)
CELLS = [
    "%load_ext loopal_ipy",
    '%cron create --name tick "@every 1s" ticks = globals().get("ticks", 0) + 1',
    '%cron create --name boom "@every 1s" 1/0',
    "%cron list",
]


@dataclass(frozen=True)
class Frontend:
    """What differs between the two frontends; the checks themselves are shared."""

    name: str
    module: str  # `python -m <module>` is `jupyter lab` / `jupyter notebook`
    app_name: str  # `window.jupyterapp.name`: proves which frontend the page really is
    args: tuple[str, ...]
    screenshot: bool  # only JupyterLab writes docs/table.png

    def page_path(self, token: str, notebook: str = "cron.ipynb") -> str:
        if self.name == "lab":  # a fresh workspace, or an old one reopens
            return f"/lab/workspaces/w{secrets.token_hex(4)}/tree/{notebook}?reset&token={token}"
        return f"/notebooks/{notebook}?token={token}"


FRONTENDS = {
    "lab": Frontend("lab", "jupyterlab", "JupyterLab", ("--LabApp.news_url=",), screenshot=True),
    "notebook7": Frontend("notebook7", "notebook", "Jupyter Notebook", (), screenshot=False),
}


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    frontend: Frontend

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None


MANY_CELLS = [
    "%load_ext loopal_ipy",
    "import loopal_ipy\nfor i in range(50): loopal_ipy.get_scheduler().create('@every 1h', f'x{i} = 1')",
    "%cron list",
]


PLOT_CELLS = [
    "%load_ext loopal_ipy",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport loopal_ipy",
    '%cron create --name plotter "@every 1s" plt.plot([1, 3, 2]); plt.title("from the job")',
    "%cron wait plotter --runs 1 --timeout 30",
    "t = loopal_ipy.table()\nt.show_log('plotter')\nt",
]


ALERT_CELLS = [
    "%load_ext loopal_ipy",
    "%cron list",
    '%cron create --name flaky "@every 1s" 1/0',
]


def _notebook(cells: list[str] = CELLS) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
            for i, src in enumerate(cells)
        ],
    }


@pytest.fixture(params=list(FRONTENDS))
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    frontend = FRONTENDS[request.param]
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the browser test never skips)")
    root, conf = tmp_path / "root", tmp_path / "config"
    root.mkdir()
    (root / "cron.ipynb").write_text(json.dumps(_notebook()))
    (root / "many.ipynb").write_text(json.dumps(_notebook(MANY_CELLS)))
    (root / "plot.ipynb").write_text(json.dumps(_notebook(PLOT_CELLS)))
    (root / "alerts.ipynb").write_text(json.dumps(_notebook(ALERT_CELLS)))
    settings = conf / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    token = secrets.token_hex(16)
    env = server_env(tmp_path, conf)
    log = tmp_path / "lab.log"
    # A free port can be taken between asking and binding (kernels of a suite running beside this
    # one pick ports too): then the server exits, or another process answers; try a new port.
    for _attempt in range(3):
        proc, server = _start_server(frontend, root, token, env, log)
        if proc is not None:
            break
    else:
        pytest.fail(f"{frontend.module} could not start on a free port:\n{log.read_text()[-3000:]}")
    try:
        yield server
    finally:
        # Closing the browser does not stop kernels: end the sessions and kernels, then the server.
        for kind in ("sessions", "kernels"):
            try:
                for item in server.api("GET", f"/api/{kind}") or []:
                    server.api("DELETE", f"/api/{kind}/{item['id']}")
            except (OSError, urllib.error.URLError, ValueError):
                pass
        stop(proc)


def _start_server(
    frontend: Frontend, root: Path, token: str, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen | None, Lab]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        frontend.module,
        "--no-browser",
        "--allow-root",
        "--expose-app-in-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *frontend.args,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, frontend)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            if b"already in use" in log.read_bytes() or b"Address already in use" in log.read_bytes():
                return None, server
            pytest.fail(f"{frontend.module} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            server.api("GET", "/api/status")
            return proc, server
        except http.client.HTTPException:  # something else answers on that port
            proc.terminate()
            proc.wait(15)
            return None, server
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                pytest.fail(f"{frontend.module} not ready in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def _wait(page, js: str, arg: object = None, timeout: float = 30) -> object:
    return page.wait_for_function(js, arg=arg, timeout=timeout * 1000, polling=100).json_value()


def _run_cell_until(page, index: int, count: int, timeout: float = 90) -> None:
    """Run cell ``index`` until its execution count reaches ``count`` and it is not running. The count
    is read from the cell's model (JupyterLab 4 detaches cells scrolled out of view from the DOM) and
    is set when a run starts. An execute request can sit unread in ipykernel 7's shell socket, the
    kernel idle, until another message wakes its stream (ipython/ipykernel#1554; ~1 run in 10 here, the
    kernel's threads all idle under py-spy): after 15 s the run is sent again, which wakes it; an
    extra run only makes more widgets for the test that counts them."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        page.evaluate(
            "(i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
            " nb.activeCellIndex = i; window.jupyterapp.commands.execute('notebook:run-cell'); }",
            index,
        )
        try:
            _wait(
                page,
                "([i, n]) => { const m = window.jupyterapp.shell.currentWidget.content.widgets[i].model;"
                " return m.executionCount >= n && m.executionState !== 'running'; }",
                [index, count],
                timeout=15,
            )
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _runs(page, job_id: str) -> int:
    return int(_text(page, f".loopal-cell-runs.loopal-job-{job_id}").split("/")[0])


def _prompts(page) -> list[str]:
    """Each code cell's prompt, from the models (JupyterLab 4 detaches cells out of view from the DOM)."""
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".filter(w => w.model.type === 'code').map(w => `[${w.model.executionCount ?? ' '}]:`)"
    )


_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle';
}"""


def _open_and_run_all(page, lab: Lab, notebook: str = "cron.ipynb") -> None:
    """Open the notebook, wait for an idle kernel, run every cell (both frontends expose `window.jupyterapp`)."""
    page.goto(f"{lab.url}{lab.frontend.page_path(lab.token, notebook)}")
    _wait(
        page,
        """() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle';
        }""",
        timeout=90,
    )
    assert page.evaluate("() => window.jupyterapp.name") == lab.frontend.app_name, page.url
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def test_live_table_in_the_browser(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab)
            page.wait_for_selector(".loopal-cron .loopal-cell-job", timeout=60_000)
            _wait(page, "() => document.querySelectorAll('.loopal-cron .loopal-cell-job').length === 2")

            # both rows, named
            ids = {}
            for text in page.locator(".loopal-cron .loopal-cell-job").all_inner_texts():
                m = re.match(r"^([a-z0-9]{8})\s+(\w+)", text.strip())
                assert m, text
                ids[m.group(2)] = m.group(1)
            assert set(ids) == {"tick", "boom"}
            tick, boom = ids["tick"], ids["boom"]
            _wait(page, "() => !document.querySelector('.jp-Notebook .jp-mod-running')")  # run-all finished
            prompts = _prompts(page)
            assert prompts == ["[1]:", "[2]:", "[3]:", "[4]:"], prompts

            # the counter rises with no cell executed
            start = _runs(page, tick)
            _wait(
                page,
                "([sel, n]) => parseInt(document.querySelector(sel).innerText) >= n",
                [f".loopal-cell-runs.loopal-job-{tick}", start + 2],
                timeout=10,
            )
            assert _prompts(page) == prompts

            # the raising job shows its error, in red
            _wait(
                page,
                "(sel) => document.querySelector(sel).innerText.includes('error')",
                f".loopal-cell-state.loopal-job-{boom}",
            )
            assert "ZeroDivisionError: division by zero" in _text(page, f".loopal-cell-last.loopal-job-{boom}")
            red = page.eval_on_selector(
                f".loopal-cell-state.loopal-job-{boom} span", "e => getComputedStyle(e).backgroundColor"
            )
            assert red == "rgb(198, 40, 40)", red
            assert _runs(page, boom) >= 1

            # pause stops the counter and shows the paused state
            page.click(f".loopal-btn-toggle.loopal-job-{tick}")
            _wait(
                page,
                "(sel) => document.querySelector(sel).innerText.trim() === 'paused'",
                f".loopal-cell-state.loopal-job-{tick}",
            )
            assert _text(page, f".loopal-btn-toggle.loopal-job-{tick}").strip() == "resume"
            paused_at = _runs(page, tick)
            page.wait_for_timeout(2500)
            assert _runs(page, tick) == paused_at
            assert _runs(page, boom) >= 2  # the other job kept going

            # the log view of the failing job, then (JupyterLab only) the screenshot for the README
            page.click(f".loopal-btn-log.loopal-job-{boom}")
            _wait(
                page,
                "() => (document.querySelector('.loopal-cron-log') || {}).innerText?.includes('ZeroDivisionError')",
            )
            if lab.frontend.screenshot:
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.locator(".loopal-cron").first.screenshot(path=str(SCREENSHOT))

            # delete removes the row; the other stays
            page.click(f".loopal-btn-delete.loopal-job-{tick}")
            _wait(page, "(sel) => document.querySelectorAll(sel).length === 0", f".loopal-cell-job.loopal-job-{tick}")
            assert page.locator(f".loopal-cell-job.loopal-job-{boom}").count() == 1
            assert _prompts(page) == prompts
        finally:
            browser.close()
    if lab.frontend.screenshot:
        assert SCREENSHOT.stat().st_size > 10_000


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_a_table_cell_run_16_times_still_shows_after_a_reload(lab: Lab) -> None:
    """Regression: 16 runs of `%cron list` over 50 jobs left 10,160 widget models alive, and
    after a reload JupyterLab drew no widget at all ("Error displaying widget: model not found")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, "many.ipynb")
            rows = "() => document.querySelectorAll('.loopal-cron .loopal-cell-job').length === 50"
            _wait(page, rows, timeout=60)
            _wait(page, "() => !document.querySelector('.jp-Notebook .jp-mod-running')")
            for n in range(16):  # the %cron list cell, again and again (it stays the active cell)
                _run_cell_until(page, 2, n + 4)
            _wait(page, rows, timeout=60)
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_timeout(1500)
            page.reload()
            _wait(page, _IDLE, timeout=90)
            _wait(page, rows, timeout=60)  # the table is drawn again from the live kernel
            assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
        finally:
            browser.close()


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_a_jobs_figure_shows_in_the_log_view_and_not_under_a_cell(lab: Lab) -> None:
    """A job's plot is kept as a PNG in its run and drawn in the log view (docs/running.md, "Output")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, "plot.ipynb")
            img = page.wait_for_selector(".loopal-cron-log img", timeout=90_000)
            assert (img.get_attribute("src") or "").startswith("data:image/png"), img.get_attribute("src")[:40]
            _wait(page, "() => !document.querySelector('.jp-Notebook .jp-mod-running')")
            # no cell shows the job's figure: the only images on the page are in the log view
            outside = page.eval_on_selector_all(
                ".jp-OutputArea-output img", "els => els.filter(e => !e.closest('.loopal-cron-log')).length"
            )
            assert outside == 0, outside
        finally:
            browser.close()


def _toasts(page, text: str) -> int:
    return page.evaluate(
        "(t) => [...document.querySelectorAll('.Toastify__toast')].filter(e => e.innerText.includes(t)).length", text
    )


QUIET_FAILED_TWICE = """() => {
  const job = [...document.querySelectorAll('.loopal-cron .loopal-cell-job')].find(e => e.innerText.includes('quiet'));
  const runs = job && document.querySelector('.loopal-cell-runs.loopal-job-' + job.innerText.split(/\\s/)[0]);
  return !!runs && parseInt(runs.innerText) >= 2;
}"""


def test_a_failing_job_raises_one_notification_whose_action_opens_its_log(lab: Lab) -> None:
    """Alerts (docs/alerts.md): one toast when a job starts failing, none for the next failures, none when off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _open_and_run_all(page, lab, "alerts.ipynb")
            page.wait_for_selector(".loopal-cron .loopal-cell-job", timeout=60_000)
            job_id = _text(page, ".loopal-cron .loopal-cell-job").split()[0]
            said = f"job {job_id} (flaky) failed: ZeroDivisionError: division by zero"
            _wait(page, "(t) => document.body.innerText.includes(t)", said, timeout=30)
            # three more failures in a row: no second toast
            _wait(
                page,
                "(s) => parseInt(document.querySelector(s).innerText) >= 4",
                f".loopal-cell-runs.loopal-job-{job_id}",
            )
            page.wait_for_timeout(500)  # a toast the 4th failure sent would be drawn by now
            assert _toasts(page, "(flaky) failed") == 1
            page.locator(".Toastify__toast", has_text="(flaky) failed").get_by_text("Show log").click()
            _wait(
                page,
                "(t) => (document.querySelector('.loopal-cron-log') || {}).innerText?.includes(t)",
                f"log of {job_id} (flaky)",
            )
            # Cron.notify = "off": a new failing job says nothing
            page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.requestExecute("
                '{code: \'%config Cron.notify = "off"\\n%cron create --name quiet "@every 1s" 1/0\'})'
            )
            _wait(page, QUIET_FAILED_TWICE)  # it exists, and fails
            page.wait_for_timeout(500)  # a toast its failures sent would be drawn by now
            assert _toasts(page, "(quiet) failed") == 0
        finally:
            browser.close()


def test_chromium_is_the_system_one() -> None:
    """Guard against a silent `playwright install` download standing in for Debian's chromium."""
    assert shutil.which("chromium") is not None or os.path.exists(CHROMIUM)
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    assert "Chromium" in out.stdout, out.stdout + out.stderr
