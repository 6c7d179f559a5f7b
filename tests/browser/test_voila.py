"""The dashboard notebook served by Voila, in Debian's chromium (docs/dashboards.md, docs/live.md).

Voila runs the notebook in a kernel of its own and keeps it while the page is
open; the notebook's ``%cron`` job redraws its live view there (``%cron show``) and
the page follows, with nothing polling from the browser. Reads a few seconds
apart must show the chart, the view's header and the job table's counters moving.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from browserutil import CHROMIUM, free_port, server_env, stop

from loopal_ipy.kernel.shown import GRACE

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"


VIEW_IMG = ".loopal-view .loopal-view-body img"


def _read(page) -> tuple[str, int]:
    """The view's chart (its image) and the table's run counter."""
    chart = page.eval_on_selector(VIEW_IMG, "e => e.src")
    runs = page.locator(".loopal-cron .loopal-cell-runs").first.inner_text()
    return chart, int(runs.split("/")[0])


@contextlib.contextmanager
def voila(tmp_path: Path, *extra: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """Voila serving the dashboard notebook; yields its process and the page URL."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the browser test never skips)")
    root = tmp_path / "root"
    root.mkdir()
    (root / "dashboard.ipynb").write_bytes(NOTEBOOK.read_bytes())
    port, token = free_port(), secrets.token_hex(16)
    env = server_env(tmp_path, tmp_path / "config")
    log = tmp_path / "voila.log"
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           f"--token={token}", *extra, str(root / "dashboard.ipynb")]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()  # Voila has no /api/status
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"voila not ready in 60 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield proc, f"http://127.0.0.1:{port}/?token={token}"
    finally:
        stop(proc)


def _open(p, url: str):
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, timeout=90_000)
    page.wait_for_selector(VIEW_IMG, timeout=90_000)
    page.wait_for_selector(".loopal-cron .loopal-cell-runs", timeout=60_000)
    return browser, page


def test_voila_serves_a_dashboard_that_moves(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with voila(tmp_path) as (_proc, url), sync_playwright() as p:
        browser, page = _open(p, url)
        try:
            charts = [_read(page)]
            for _ in range(3):  # each run redraws the chart in place
                page.wait_for_function(
                    "([s, prev]) => { const e = document.querySelector(s); return e && e.src !== prev; }",
                    arg=[VIEW_IMG, charts[-1][0]],
                    timeout=15_000,
                )
                charts.append(_read(page))
                assert page.locator(VIEW_IMG).count() == 1
                assert page.locator(".loopal-view .loopal-view-body table").count() == 1  # the summary
            assert len({chart for chart, _ in charts}) == 4
            assert charts[-1][1] >= charts[0][1] + 2, charts  # the table's run counter too
            assert "sensor" in page.locator(".loopal-view .loopal-view-head").first.inner_text()
            assert "Error displaying widget" not in page.content()
            # what a viewer reads: no notes for the notebook's author, no echo of the job setup
            body = page.locator("body").inner_text()
            assert "created job" not in body and "pip install" not in body, body[:2000]

            # a reload is a new page and a new kernel: its view has a run within 2 s of being drawn
            page.reload()
            page.wait_for_selector(".loopal-view .loopal-view-head", timeout=90_000)
            page.wait_for_selector(VIEW_IMG, timeout=2_000)
        finally:
            browser.close()


CULL_IDLE_TIMEOUT, CULL_INTERVAL = 20, 5


def _kernels(proc: subprocess.Popen) -> list[psutil.Process]:
    """The server's live kernel processes: one that has exited (a zombie its server has not reaped yet, or
    gone between the listing and the look) is not one."""
    live = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                live.append(child)
        except psutil.Error:
            continue
    return live


def test_a_dashboards_kernel_is_culled_once_its_page_closes(tmp_path: Path) -> None:
    """Cron.keep_alive "auto" is "while-shown" under Voila: the page's jobs keep its kernel busy while
    it is open, and once it closes the kernel falls silent and the server's culler ends it."""
    from playwright.sync_api import sync_playwright

    culling = (
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL}",
    )
    with voila(tmp_path, *culling) as (proc, url), sync_playwright() as p:
        browser, page = _open(p, url)
        try:
            first = _read(page)
            page.wait_for_timeout(CULL_IDLE_TIMEOUT * 1000 + 5000)  # longer than the idle timeout: open, alive
            second = _read(page)
            assert second[1] > first[1] + CULL_IDLE_TIMEOUT // 2, (first, second)
            assert _kernels(proc), "the kernel of an open page was culled"
        finally:
            browser.close()
        closed = time.monotonic()
        # jobs stop GRACE s after the last beat; the kernel is idle for the timeout, seen at the next cull
        # pass, then shut down (up to the server's shutdown_wait_time, 5 s, before a kill), plus 5 s for a
        # loaded machine. Without keep_alive the kernel stays for good, so the margin hides nothing.
        budget = GRACE + CULL_IDLE_TIMEOUT + CULL_INTERVAL + 5 + 5
        while _kernels(proc) and time.monotonic() - closed < budget + 30:
            time.sleep(0.5)
        took = time.monotonic() - closed
        print(f"the dashboard's kernel was gone {took:.1f} s after its page closed", file=sys.stderr)
        assert not _kernels(proc), f"the kernel outlived its page by {took:.0f} s"
        assert took <= budget, f"the kernel went {took:.1f} s after its page closed, over {budget} s"
