"""``%cron export`` where no jupyter-scheduler is (docs/export.md): every failure is one line and writes
nothing; with no server the papermill bundle is the default. A real kernel, no Jupyter server: the
servers here are a ``jpserver-<pid>.json`` file and, for "no extension", a tiny HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from kernelutil import Kernel, kernel_env, ok, text

JOB = '%cron create --name a "0 * * * *" print("a ran", y * 2)'


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    path = tmp_path / "runtime"
    path.mkdir()
    return path


@pytest.fixture
def k(tmp_path: Path, runtime: Path) -> Iterator[Kernel]:
    """A kernel whose runtime dir is ours: jupyter_client sets its JPY_PARENT_PID to this process."""
    kernel = Kernel(env=kernel_env(tmp_path, JUPYTER_RUNTIME_DIR=str(runtime), TZ="UTC"))
    kernel.start()
    try:
        ok(kernel, "%load_ext loopal_ipy")
        ok(kernel, "y = 5")
        ok(kernel, JOB)
        yield kernel
    finally:
        kernel.shutdown()


def _server_file(runtime: Path, url: str, token: str) -> None:
    info = {"url": url, "token": token, "root_dir": str(runtime.parent), "pid": os.getpid()}
    (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))


@pytest.fixture
def not_jupyter() -> Iterator[str]:
    """An HTTP server that answers 404 to everything: a Jupyter server without jupyter-scheduler."""

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


def _refused(k: Kernel, line: str, message: str, tmp_path: Path) -> str:
    before = sorted(p for p in tmp_path.rglob("*") if "ipython" not in p.parts)
    r = k.execute(line)
    assert r.status == "error" and r.ename == "UsageError", (r.status, r.ename, r.evalue)
    assert message in r.evalue and "\n" not in r.evalue, r.evalue
    assert sorted(p for p in tmp_path.rglob("*") if "ipython" not in p.parts) == before  # nothing written
    return r.evalue


def test_no_notebook_file_for_setup_notebook(k: Kernel, tmp_path: Path) -> None:
    said = _refused(
        k, f"%cron export a --to papermill --dir {tmp_path / 'd'}", "does not know its notebook file", tmp_path
    )
    assert "--setup history" in said


def test_no_server(k: Kernel, tmp_path: Path) -> None:
    said = _refused(k, "%cron export a --to jupyter-scheduler --setup none", "no Jupyter server started", tmp_path)
    assert "--to papermill" in said


def test_a_server_without_a_token(k: Kernel, tmp_path: Path, runtime: Path) -> None:
    _server_file(runtime, "http://127.0.0.1:9/", "")
    _refused(k, "%cron export a --to jupyter-scheduler --setup none", "has no token this kernel can use", tmp_path)


def test_a_server_without_the_extension(k: Kernel, tmp_path: Path, runtime: Path, not_jupyter: str) -> None:
    _server_file(runtime, not_jupyter, "secret")
    said = _refused(
        k, "%cron export a --setup none --to jupyter-scheduler", "has no jupyter-scheduler extension", tmp_path
    )
    assert "pip install jupyter-scheduler" in said


def test_a_dir_that_cannot_be_written(k: Kernel, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    _refused(
        k, f"%cron export a --to papermill --setup none --dir {tmp_path / 'file' / 'sub'}", "not a directory", tmp_path
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%cron export", "the following arguments are required: id"),
        ("%cron export nosuch --setup none", "no job 'nosuch'"),
        ("%cron export a --to airflow", "invalid choice: 'airflow'"),
        ("%cron export a --setup sometimes", "invalid choice: 'sometimes'"),
    ],
)
def test_bad_export_lines(k: Kernel, tmp_path: Path, line: str, message: str) -> None:
    _refused(k, line, message, tmp_path)


def test_every_that_cron_cannot_say(k: Kernel, tmp_path: Path) -> None:
    ok(k, '%cron create --name odd "@every 7m" pass')
    _refused(k, f"%cron export odd --to papermill --setup none --dir {tmp_path / 'd'}", "has no crontab form", tmp_path)


def test_with_no_server_the_default_is_a_papermill_bundle_from_history(k: Kernel, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    label = k.evaluate("__import__('loopal_ipy').get_scheduler().get('a').label")
    said = text(ok(k, f"%cron export a --setup history --dir {bundle}"))
    assert said.startswith(f"exported {label} as a papermill bundle in {bundle}"), said
    assert "(no jupyter-scheduler: no Jupyter server started this kernel" in said, said
    notebook = json.loads((bundle / "a.ipynb").read_text())
    code = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code == ["y = 5", 'print("a ran", y * 2)'], code  # no %load_ext, no %cron line, not the export cell
    assert (bundle / "crontab").read_text().startswith("CRON_TZ=UTC\n0 * * * * ")
    assert os.access(bundle / "run.sh", os.X_OK)
    out = tmp_path / "out.ipynb"
    env = {name: v for name, v in os.environ.items() if name != "PYTEST_CURRENT_TEST"}
    subprocess.run(
        [sys.executable, "-m", "papermill", str(bundle / "a.ipynb"), str(out), "-k", "python3"],
        check=True,
        capture_output=True,
        timeout=180,
        env=env,
    )
    printed = ["".join(o.get("text", "")) for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])]
    assert "a ran 10\n" in printed
