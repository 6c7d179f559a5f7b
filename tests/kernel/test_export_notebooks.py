"""Exports that run (docs/export.md): every job of every shipped notebook, exported to a papermill bundle
with the notebook as its setup, runs (the export's own check, then run.sh again here), or the export
refuses in one line that names why. Real kernels: nbclient runs the notebook, papermill the bundles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.clients, pytest.mark.timeout(600)]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))

# Every job the notebook made, live or removed since. Each is exported as it is (its @every 1s may
# have no crontab form: a one-line refusal) and as a twin on a cron schedule, so that every job's
# code goes through the setup slicing and the check run.
EXPORT_ALL = """
import json, loopal_ipy
from loopal_ipy.core.errors import CronError
_sched = loopal_ipy.get_scheduler()
_made = {{j.id: j for j in [*_sched.core.removed, *_sched.jobs()]}}
_results = []
def _export(label, key):
    try:
        done = _sched.export(key, to="papermill", directory={out!r} + "/" + key)
        _results.append([label, "ok", list(done.files)])
    except CronError as e:
        _results.append([label, "refused", str(e)])
for _job in list(_made.values()):
    if _sched.core.live(_job.id) is _job:
        _export(_job.label, _job.id)
    _twin = _sched.create("*/5 * * * *", _job.code)
    _sched.pause(_twin.id)
    _export(f"{{_job.label}} on a cron twin", _twin.id)
print(json.dumps(_results))
"""


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_job_of_a_shipped_notebook_exports_to_a_bundle_that_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPAL_HOME", str(tmp_path / "loopal-home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("LOOPAL_SESSION_ID", f"export-{path.stem}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # what a server gives: --setup notebook reads it
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        probe = nbformat.v4.new_code_cell(EXPORT_ALL.format(out=str(tmp_path / "exports")))
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
    printed = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    results = json.loads(printed.strip().splitlines()[-1])
    assert results, f"{path.name} left no job to export"
    for label, outcome, detail in results:
        if outcome == "refused":
            assert "\n" not in detail and len(detail) < 600, (label, detail)
            print(f"{path.name}: {label} refused: {detail}", file=sys.stderr)
            continue
        run_sh = next(f for f in detail if f.endswith("run.sh"))
        done = subprocess.run([run_sh], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (label, done.stderr[-2000:])
    ran = [label for label, outcome, _ in results if outcome == "ok"]
    print(f"{path.name}: {len(ran)} of {len(results)} jobs exported and ran: {ran}", file=sys.stderr)
    assert ran, f"no job of {path.name} exported to a bundle that runs: {results}"
