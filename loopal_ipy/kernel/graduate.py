"""``%cron export``: hand a job to jupyter-scheduler or to a papermill bundle (docs/export.md).

Everything that can fail is checked before anything is written; a failure is one
``ExportError`` line that names what would work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Unpack

from ..core.errors import ExportError
from ..core.job import CronJob
from ..storage.atomic import write_atomic, write_file
from ..storage.export import (
    Exported,
    ExportOptions,
    cron_fields,
    crontab_line,
    engine_schedule,
    job_notebook,
    notebook_bytes,
    read_notebook,
    run_script,
    setup_cells,
)
from ..storage.session import notebook_of

TARGETS = ("jupyter-scheduler", "papermill")
SETUPS = ("notebook", "history", "none")
_DEFAULT_KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@dataclass(frozen=True, slots=True)
class Server:
    """The Jupyter server that started this kernel, from its ``jpserver-<pid>.json``."""

    url: str
    token: str
    root_dir: Path
    info_file: Path

    def call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


@dataclass(frozen=True, slots=True)
class KernelSide:
    """What the kernel knows that an export needs (gathered by the bridge)."""

    env: Mapping[str, str]
    user_ns: Mapping[str, object]
    history: list[str]  # raw cells this kernel ran, oldest first, this cell excluded
    cwd: Path
    python: str = sys.executable


def find_server(env: Mapping[str, str]) -> Server:
    """The server from the kernel's parent; ExportError naming the papermill way when there is none."""
    pid = env.get("JPY_PARENT_PID") or str(os.getppid())
    runtime = Path(env.get("JUPYTER_RUNTIME_DIR") or _runtime_dir())
    info_file = runtime / f"jpserver-{pid}.json"
    alternative = "use --to papermill --dir DIR"
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        raise ExportError(f"no Jupyter server started this kernel (no {info_file}); {alternative}") from None
    if not isinstance(info, dict) or not info.get("url"):
        raise ExportError(f"{info_file} names no server URL; {alternative}")
    if not info.get("token"):
        raise ExportError(
            f"the Jupyter server at {info['url']} has no token this kernel can use (password or other login); "
            f"start it with a token, or {alternative}"
        )
    return Server(str(info["url"]), str(info["token"]), Path(str(info.get("root_dir") or ".")).expanduser(), info_file)


def _runtime_dir() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


def scheduler_environments(server: Server) -> list[dict]:
    """jupyter-scheduler's runtime environments (Python environments); ExportError without the extension."""
    try:
        envs = server.call("GET", "/scheduler/runtime_environments")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise ExportError(
                f"the Jupyter server at {server.url} has no jupyter-scheduler extension (pip install "
                "jupyter-scheduler, then restart the server); or use --to papermill --dir DIR"
            ) from None
        if e.code in (401, 403):
            raise ExportError(f"the Jupyter server at {server.url} refused this kernel's token ({e.code})") from None
        raise ExportError(f"the Jupyter server at {server.url} answered {e.code} {e.reason}") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"the Jupyter server at {server.url} does not answer ({e}); use --to papermill") from None
    return [env for env in envs if isinstance(env, dict) and env.get("name")] if isinstance(envs, list) else []


def notebook_path(side: KernelSide) -> Path | None:
    notebook = notebook_of(side.env, side.user_ns)
    return side.cwd / notebook if notebook is not None else None


def gather_setup(job: CronJob, setup: str, side: KernelSide) -> tuple[list[str], dict | None, dict | None, str]:
    """(setup cells, kernelspec, language_info, where they came from) for ``--setup``."""
    if setup == "none":
        return [], None, None, "no setup"
    if setup == "history":
        return setup_cells(side.history, job.code), None, None, "this kernel's history"
    path = notebook_path(side)
    if path is None:
        raise ExportError(
            "this kernel does not know its notebook file (started by papermill, a console or an old server): "
            "use --setup history (the code this kernel ran) or --setup none"
        )
    sources, spec, info = read_notebook(path)
    if not any(job.code.strip() in source for source in sources):
        raise ExportError(
            f"the notebook on disk ({path}) has no cell with {job.label}'s code: it was not saved since the job "
            "was made, and the export takes the file on disk; save it (Ctrl+S) and export again, or use "
            "--setup history"
        )
    return setup_cells(sources, job.code), spec, info, str(path)


def _slug(job: CronJob) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", job.name or job.id).strip("-.") or job.id


def _free_name(directory: Path, stem: str) -> Path:
    for n in range(1, 1000):
        candidate = directory / (f"{stem}.ipynb" if n == 1 else f"{stem}-{n}.ipynb")
        if not candidate.exists():
            return candidate
    raise ExportError(f"{directory} already holds 999 exports of {stem}; clear some out")


def _writable_dir(directory: Path) -> None:
    """Make ``directory`` (and parents) or say why not; the one write before the checks are done."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {directory} ({e.strerror}); give a --dir you can write to") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise ExportError(f"{directory} is not a directory you can write to; give another --dir")


def _check_dir(directory: Path) -> None:
    """Refuse a DIR that cannot be written without creating anything."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and (not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK)):
        what = "is not a directory" if not probe.is_dir() else "is not writable"
        raise ExportError(f"cannot write to {directory}: {probe} {what}; give a --dir you can write to")


def export_job(job: CronJob, side: KernelSide, **options: Unpack[ExportOptions]) -> Exported:
    to, directory = options.get("to"), options.get("directory")
    setup, check = options.get("setup", "notebook"), options.get("check", True)
    if to is not None and to not in TARGETS:
        raise ExportError(f"--to takes jupyter-scheduler or papermill, not {to!r}")
    if setup not in SETUPS:
        raise ExportError(f"--setup takes notebook, history or none, not {setup!r}")
    server, why_not = None, ""
    if to in (None, "jupyter-scheduler"):
        try:
            server = find_server(side.env)
            environments = scheduler_environments(server)
        except ExportError as e:
            if to == "jupyter-scheduler":
                raise
            server, why_not = None, str(e).split(";")[0]
    schedule = engine_schedule(job) if server is not None else cron_fields(job)  # before reading any file
    cells, spec, info, origin = gather_setup(job, setup, side)
    spec = spec or _DEFAULT_KERNEL
    notebook = job_notebook(cells, job, origin=origin, kernelspec=spec, language_info=info)
    if server is not None:
        return _to_scheduler(job, server, environments, notebook, directory, len(cells), schedule)
    exported = _to_papermill(job, side, notebook, directory, len(cells), why_not, schedule)
    if check and importlib.util.find_spec("papermill") is None:
        # The bundle is written and right; it only cannot be tried here. Say so, rather than fail the cell.
        note = (
            f"\n  not checked: papermill is not installed for {sys.executable}, so the bundle cannot run here; "
            "pip install papermill where cron runs it, and run run.sh once to check it"
        )
        return replace(exported, message=exported.message + note)
    if check:
        check_bundle(exported, job)
    return exported


def _to_scheduler(
    job: CronJob,
    server: Server,
    environments: list[dict],
    notebook: dict,
    directory: str | None,
    n_setup: int,
    schedule: str,
) -> Exported:
    # The notebook's kernelspec picks the kernel; the runtime environment is the Python environment
    # jupyter-scheduler lists (conda envs, or the server's own): this kernel's if it is listed.
    here = {sys.prefix, sys.executable}
    mine = [e for e in environments if (e.get("metadata") or {}).get("path") in here]
    runtime = str((mine or environments or [{"name": "python3"}])[0]["name"])
    root = server.root_dir.resolve()
    target = (root / (directory or "loopal-jobs")).resolve()
    if target != root and root not in target.parents:
        raise ExportError(
            f"--dir {directory} is outside the server's root {root}; jupyter-scheduler reads files under it"
        )
    _check_dir(target)
    _writable_dir(target)
    path = _free_name(target, _slug(job))
    write_file(path, notebook_bytes(notebook), mode=0o644)
    body = {
        "input_uri": str(path.relative_to(root)),
        "runtime_environment_name": runtime,
        "name": job.name or job.id,
        "schedule": schedule,
        "timezone": job.tz,
        "output_formats": ["ipynb"],
    }
    try:
        answer = server.call("POST", "/scheduler/job_definitions", body)
    except (OSError, ValueError) as e:
        path.unlink(missing_ok=True)
        detail = e.read().decode(errors="replace")[:200] if isinstance(e, urllib.error.HTTPError) else str(e)
        raise ExportError(f"jupyter-scheduler refused the job definition: {' '.join(detail.split())}") from None
    definition = str(answer.get("job_definition_id")) if isinstance(answer, dict) else "?"
    message = (
        f"exported {job.label} to jupyter-scheduler: job definition {definition}, '{schedule}' in {job.tz}\n"
        f"  notebook: {path.relative_to(root)} ({n_setup} setup cells, then the job)\n"
        f"  see it: JupyterLab > Jobs > Job Definitions ({server.url.rstrip('/')}/lab); "
        f"run it now from there, or POST /scheduler/job_definitions/{definition}/jobs\n"
        f"  this kernel's job is unchanged: %cron pause {job.id} or %cron delete {job.id} once the engine runs it"
        + ("\n  note: --catch-up is not kept: jupyter-scheduler skips missed runs" if job.catch_up is not None else "")
    )
    return Exported("jupyter-scheduler", str(path), (str(path),), message, definition)


def _to_papermill(
    job: CronJob, side: KernelSide, notebook: dict, directory: str | None, n_setup: int, why_not: str, expr: str
) -> Exported:
    target = (side.cwd / (directory or f"loopal-export/{_slug(job)}")).resolve()
    _check_dir(target)
    kernel = notebook["metadata"]["kernelspec"].get("name", "python3")
    _writable_dir(target)
    name = f"{_slug(job)}.ipynb"
    paths = [target / name, target / "run.sh", target / "crontab"]
    write_atomic(paths[0], notebook_bytes(notebook), mode=0o644)
    write_atomic(paths[1], run_script(name, side.python, kernel, job).encode(), mode=0o755)
    line = crontab_line(expr, job.tz, str(paths[1]))
    write_atomic(paths[2], line.encode(), mode=0o644)
    lines = [
        f"exported {job.label} as a papermill bundle in {target}"
        + (f" (no jupyter-scheduler: {why_not})" if why_not else ""),
        f"  {name} ({n_setup} setup cells, then the job), run.sh (papermill into outputs/), crontab",
        f"  try it: {paths[1]}",
        f"  schedule it: crontab -e, then add:  {line.splitlines()[1]}  (with {line.splitlines()[0]} above it)",
    ]
    if job.schedule.lower().startswith("@every"):
        lines.append(f"  note: {job.schedule} is '{expr}' in cron, counted from the hour, not from the job's start")
    if job.retries:
        lines.append(f"  run.sh retries a failed run {job.retries} times from {job.retry_delay:g} s, as in the kernel")
    if job.catch_up is not None:
        lines.append("  note: --catch-up is not kept: cron skips what passed while the machine was down")
    lines.append(f"  this kernel's job is unchanged: %cron pause {job.id} or %cron delete {job.id}")
    return Exported("papermill", str(paths[0]), tuple(map(str, paths)), "\n".join(lines))


CHECK_TIMEOUT = 300.0  # seconds the check run of a bundle may take (a job's own --timeout, if longer)


def check_bundle(exported: Exported, job: CronJob) -> None:
    """Run the bundle once (its run.sh, as cron would) before saying it is done; one ExportError line if it fails.

    An export whose setup misses a name, or keeps a cell that fails outside this kernel, would
    otherwise be found by the first scheduled run, at night. ``--no-check`` skips this.
    """
    run_sh = Path(exported.files[1])
    limit = max(CHECK_TIMEOUT, job.timeout or 0.0)
    before = set((run_sh.parent / "outputs").glob("*.ipynb"))
    try:
        done = subprocess.run([str(run_sh)], capture_output=True, timeout=limit, cwd=run_sh.parent)
    except subprocess.TimeoutExpired:
        raise ExportError(
            f"the check run of the bundle in {run_sh.parent} took over {limit:g} s and was stopped; "
            "export with --no-check to keep it unchecked"
        ) from None
    except OSError as e:
        raise ExportError(f"cannot run {run_sh} ({e.strerror or e}); export with --no-check") from None
    if done.returncode == 0:
        return
    made = sorted(set((run_sh.parent / "outputs").glob("*.ipynb")) - before)
    why = _first_error(made[-1]) if made else None
    if why is None:
        tail = done.stderr.decode(errors="replace").strip().splitlines()
        why = tail[-1][:300] if tail else f"run.sh exited with {done.returncode}"
    raise ExportError(
        f"the check run of the bundle in {run_sh.parent} failed: {why}; fix the notebook's setup (or use "
        "--setup history / --setup none), or export with --no-check to keep it unchecked"
    )


def _first_error(output: Path) -> str | None:
    """'cell N (`first line`) raised Name: value' from a papermill output notebook."""
    try:
        cells = json.loads(output.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if isinstance(out, dict) and out.get("output_type") == "error":
                source = cell.get("source", "")
                first = ("".join(source) if isinstance(source, list) else str(source)).strip().splitlines()
                line = (first[0][:60] if first else "").replace("`", "'")
                return f"cell {i} (`{line}`) raised {out.get('ename')}: {str(out.get('evalue'))[:200]}"
    return None
