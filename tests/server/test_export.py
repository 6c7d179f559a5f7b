"""``%cron export`` to a real jupyter-scheduler and to papermill (docs/export.md).

A real ``jupyter server`` with the jupyter-scheduler extension opens a notebook session over
REST, as JupyterLab does; the test runs the notebook's cells in that kernel, exports the job,
then asks jupyter-scheduler over REST for the definition and runs it. These tests need
jupyter-scheduler installed beside loopal-ipy (the ipykernel-6 leg of scripts/test.sh); where
it is missing they fail, they do not skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from serverutil import Server, jupyter_server, run_cells

pytestmark = pytest.mark.kernel

ZONE = "Europe/Berlin"
CELLS = [
    "x = 41",
    "%load_ext loopal_ipy",
    '%cron create --name answer "*/5 * * * *" print("answer", x + 1)',
    "%cron wait answer --runs 1 --timeout 3",
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
            for i, c in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def _needs_scheduler() -> None:
    if importlib.util.find_spec("jupyter_scheduler") is None:  # a failure, not a skip
        pytest.fail(f"this test needs jupyter-scheduler in {sys.prefix} (pip install 'jupyter-scheduler>=2.12')")


def _definitions(server: Server) -> list[dict[str, Any]]:
    return server.api("GET", "/scheduler/job_definitions")["job_definitions"]


def _files(root: Path) -> set[Path]:
    skip = {"runtime", "data", "config", "ipython", "loopal"}
    return {p for p in root.rglob("*") if p.relative_to(root).parts[0] not in skip and p.name != "server.log"}


def _cell(server: Server, kid: str, code: str) -> dict[str, Any]:
    """Run one cell; its execute_reply content (status, ename, evalue)."""
    kc = BlockingKernelClient(connection_file=str(server.connection_file(kid)))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        return kc.execute_interactive(code, timeout=90, output_hook=lambda msg: None)["content"]
    finally:
        kc.stop_channels()


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory):
    """The server, the notebook's kernel with the first three cells run, and the export's own output."""
    _needs_scheduler()
    root = tmp_path_factory.mktemp("export")
    (root / "answer.ipynb").write_text(json.dumps(_notebook([*CELLS, "%cron export answer"])))
    with jupyter_server(root, env={"TZ": ZONE}) as server:
        kid = server.start_session("answer.ipynb")
        run_cells(server.connection_file(kid), CELLS[:3], timeout=90)
        printed = run_cells(server.connection_file(kid), ["said = %cron export answer\nprint(said)"], timeout=90)[0]
        yield server, kid, printed


def test_a_job_becomes_a_jupyter_scheduler_definition_that_runs(scheduled) -> None:
    server, _kid, printed = scheduled
    print(printed, file=sys.stderr)
    assert printed.startswith("exported ") and "jupyter-scheduler" in printed, printed
    [definition] = _definitions(server)
    assert definition["schedule"] == "*/5 * * * *"
    assert definition["timezone"] == ZONE
    assert definition["name"] == "answer"
    assert definition["job_definition_id"] in printed

    job_id = server.api("POST", f"/scheduler/job_definitions/{definition['job_definition_id']}/jobs", {})["job_id"]
    deadline = time.monotonic() + 180
    while (status := server.api("GET", f"/scheduler/jobs/{job_id}")["status"]) not in ("COMPLETED", "FAILED"):
        assert time.monotonic() < deadline, f"job {job_id} still {status} after 180 s:\n{server.log_tail()}"
        time.sleep(1)
    assert status == "COMPLETED", server.api("GET", f"/scheduler/jobs/{job_id}")
    staged = server.root / "data" / "scheduler_staging_area" / job_id
    outputs = [p for p in staged.glob("*.ipynb") if "answer 42" in _outputs_text(p)]
    assert outputs, sorted(p.name for p in staged.iterdir())
    cells = json.loads(outputs[0].read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert "x = 41" in sources  # the setup came along
    assert not any("%cron" in s or "loopal_ipy" in s for s in sources)  # the wait cell and the magics did not
    job_cell = json.loads(outputs[0].read_text())["cells"][-1]
    assert "".join(job_cell["source"]) == 'print("answer", x + 1)'
    assert job_cell["metadata"]["tags"] == ["loopal-job"]


def test_the_same_job_as_a_papermill_bundle_runs(scheduled, tmp_path: Path) -> None:
    server, kid, _ = scheduled
    bundle = tmp_path / "bundle"
    export = f"said = %cron export answer --to papermill --dir {bundle}\nprint(said)"
    printed = run_cells(server.connection_file(kid), [export], timeout=90)[0]
    assert f"papermill bundle in {bundle}" in printed, printed
    # the export ran the bundle once before it said it was done: its check output is there
    assert sorted(p.name for p in bundle.iterdir()) == ["answer.ipynb", "crontab", "outputs", "run.sh"]
    [checked] = (bundle / "outputs").glob("answer-*.ipynb")
    assert "answer 42" in _outputs_text(checked)
    checked.unlink()
    crontab = (bundle / "crontab").read_text()
    assert crontab.startswith(f"CRON_TZ={ZONE}\n*/5 * * * * {bundle / 'run.sh'} >> "), crontab

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update(JUPYTER_DATA_DIR=str(server.root / "data"), JUPYTER_PREFER_ENV_PATH="0")
    env.pop("PYTEST_CURRENT_TEST", None)
    subprocess.run([str(bundle / "run.sh")], check=True, env=env, timeout=180, capture_output=True)
    [dated] = (bundle / "outputs").glob("answer-*.ipynb")
    assert "answer 42" in _outputs_text(dated)

    direct = tmp_path / "direct.ipynb"
    subprocess.run(
        [sys.executable, "-m", "papermill", str(bundle / "answer.ipynb"), str(direct)],
        check=True,
        env=env,
        timeout=180,
        capture_output=True,
    )
    assert "answer 42" in _outputs_text(direct)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            '%cron create --name fresh "0 * * * *" print("not saved")\n%cron export fresh',
            "the notebook on disk (",
        ),
        ('%cron create --name often "@every 1h" print(1)\n%cron export often', "jupyter-scheduler takes cron"),
        ("%cron export answer --dir /", "is outside the server's root"),
        ("%cron export answer --to papermill --dir answer.ipynb/sub", "is not a directory"),
    ],
)
def test_what_cannot_be_exported_says_why_in_one_line_and_writes_nothing(scheduled, cell: str, message: str) -> None:
    server, kid, _ = scheduled
    before, definitions = _files(server.root), len(_definitions(server))
    reply = _cell(server, kid, cell)
    assert reply["status"] == "error" and reply["ename"] == "UsageError", reply
    assert message in reply["evalue"] and "\n" not in reply["evalue"], reply["evalue"]
    assert _files(server.root) == before
    assert len(_definitions(server)) == definitions
    run_cells(server.connection_file(kid), ["%cron delete --all\n" + CELLS[2]])
