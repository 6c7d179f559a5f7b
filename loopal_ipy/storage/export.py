"""Graduating a job (docs/export.md): what the standalone notebook, the papermill bundle and the engine's
schedule are. Pure: no IPython, no network; ``graduate`` finds the server and writes the files.
"""

from __future__ import annotations

import ast
import calendar
import itertools
import json
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypedDict
from zoneinfo import ZoneInfo

from ..core.cronfields import MACROS
from ..core.errors import ExportError
from ..core.job import CronJob
from ..core.schedule import CronSchedule, EverySchedule
from .slicing import needed_setup

# A line that drives loopal_ipy: its extension, any %cron line (create, wait, export, ...).
_DRIVES = re.compile(r"^\s*(?:%(?:load_ext|reload_ext|unload_ext)\s+loopal_ipy\b|%cron\b)")
_CELL_MAGIC = re.compile(r"^%%cron\b")
_IMPORT = re.compile(r"^\s*(?:import\s+loopal_ipy\b|from\s+loopal_ipy\b)")
JOB_TAG = "loopal-job"
JSONObject: TypeAlias = dict[str, Any]  # a notebook, a cell, their metadata


def strip_loopal(source: str, bound: set[str] | None = None) -> str:
    """A setup cell without what drives loopal_ipy; "" when nothing else is left.

    Magic lines go by their text; Python statements go whole, by the names they use (a
    multi-line ``get_scheduler().create(...)`` call leaves no half behind). A cell that is not
    Python once its magics are out (other magics, shell escapes) keeps its other lines as they are.
    ``bound``: names that hold loopal_ipy objects, carried from cell to cell; a statement that
    uses one goes, and what it binds joins them (``sched = get_scheduler()``, then ``sched.on(...)``).
    """
    if _CELL_MAGIC.match(source.lstrip()):
        return ""
    lines = [line for line in source.splitlines() if not _DRIVES.match(line)]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        kept = [line for line in lines if not _IMPORT.match(line) and "loopal_ipy." not in line]
        return "\n".join(kept).strip("\n") if any(line.strip() for line in kept) else ""
    if bound is None:
        bound = set()
    bound.add("loopal_ipy")
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "loopal_ipy":
            bound.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            bound.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.startswith("loopal_ipy")
            )
    drop: set[int] = set()
    for node in tree.body:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if _imports_loopal(node) or names & bound:
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            bound.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    kept = [line for i, line in enumerate(lines, 1) if i not in drop]
    return "\n".join(kept).strip("\n") if any(line.strip() for line in kept) else ""


def _imports_loopal(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "loopal_ipy"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "loopal_ipy" for a in node.names)


def setup_cells(sources: list[str], job_code: str | None = None) -> list[str]:
    """The cells without what drives loopal_ipy; with ``job_code``, only what it needs (slicing.py)."""
    bound: set[str] = set()
    cells = [cell for cell in (strip_loopal(source, bound) for source in sources) if cell.strip()]
    return cells if job_code is None else needed_setup(cells, job_code)


def read_notebook(path: Path) -> tuple[list[str], JSONObject | None, JSONObject | None]:
    """The code cells, kernelspec and language_info of the notebook file at ``path``; ExportError if unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        why = (
            "nested too deep" if isinstance(e, RecursionError) else (str(e).splitlines() or [type(e).__name__])[0][:120]
        )
        raise ExportError(f"cannot read the notebook {path} ({why}); use --setup history or --setup none") from None
    return notebook_code_cells(document, str(path))


def notebook_code_cells(document: object, path: str) -> tuple[list[str], JSONObject | None, JSONObject | None]:
    """The code cells of a saved notebook, its kernelspec and language_info; ExportError if it is not one."""
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(cells, list):  # (no dict, no cells list)
        raise ExportError(
            f"{path} is not a notebook this can read (no cells list); use --setup history or --setup none"
        )
    sources = []
    for i, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            lines = source if isinstance(source, list) else [source]
            if not all(isinstance(line, str) for line in lines):
                raise ExportError(
                    f"{path}: cell {i}'s source is not text (nbformat wants a string or a list of strings); "
                    "use --setup history or --setup none"
                )
            sources.append("".join(lines))
    metadata = document.get("metadata")
    meta = metadata if isinstance(metadata, dict) else {}
    spec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else None
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else None
    return sources, spec, info


def job_notebook(
    setup: list[str], job: CronJob, *, origin: str, kernelspec: JSONObject, language_info: JSONObject | None = None
) -> JSONObject:
    """The standalone notebook: a note, the setup cells, then the job's code tagged ``loopal-job``."""
    note = (
        f"# {job.name or job.id}\n\nExported by loopal_ipy from {origin} on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. In the kernel it ran on `{job.schedule}` ({job.tz}).\n"
        f"The cells before the last are its setup; the last cell (tagged `{JOB_TAG}`) is the job."
    )
    cells = [_cell("markdown", note, 0)]
    cells += [_cell("code", source, i) for i, source in enumerate(setup, 1)]
    job_cell = _cell("code", job.code, len(cells))
    job_cell["metadata"] = {"tags": [JOB_TAG]}
    cells.append(job_cell)
    metadata: JSONObject = {"kernelspec": kernelspec, "loopal_ipy": {"job": job.id, "name": job.name, "from": origin}}
    if language_info:
        metadata["language_info"] = language_info
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _cell(kind: str, source: str, index: int) -> JSONObject:
    cell: JSONObject = {"cell_type": kind, "id": f"loopal-{index}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook_bytes(notebook: JSONObject) -> bytes:
    return (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def cron_fields(job: CronJob) -> str:
    """The job's schedule as five cron fields (macros spelled out), for engines that read cron."""
    sched = job.compiled
    if isinstance(sched, EverySchedule):
        return _every_as_cron(sched.interval, job.schedule)
    assert isinstance(sched, CronSchedule)
    return MACROS.get(sched.expr.lower(), sched.expr)


def _every_as_cron(interval: timedelta, text: str) -> str:
    """``@every 5m`` → ``*/5 * * * *`` where cron can say it (a step that divides the hour or day)."""
    seconds = int(interval.total_seconds())
    minutes, hours = seconds // 60, seconds // 3600
    if seconds % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if seconds % 3600 == 0 and hours < 24 and 24 % hours == 0:
        return f"0 {'*' if hours == 1 else f'*/{hours}'} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    why = "cron's smallest step is a minute" if seconds < 60 else "a cron step restarts every hour and day"
    raise ExportError(
        f"{text} has no crontab form ({why}); re-create the job with a cron schedule such as "
        '"*/5 * * * *" or an @every that divides an hour or a day (@every 5m, @every 2h)'
    )


def engine_schedule(job: CronJob) -> str:
    """The schedule jupyter-scheduler gets; ExportError for what it would read differently.

    jupyter-scheduler takes cron text and reads it with its croniter (1.4, day fields ORed):
    ``@every`` has no cron text, and a schedule that ANDs restricted day fields cannot be said.
    """
    if isinstance(job.compiled, EverySchedule):
        raise ExportError(
            f"jupyter-scheduler takes cron schedules, not {job.schedule!r}; use --to papermill (its crontab "
            'line), or re-create the job with cron, e.g. "*/5 * * * *"'
        )
    if job.retries:
        raise ExportError(
            f"jupyter-scheduler runs a job once per occurrence and cannot retry it (--retries {job.retries}); "
            "use --to papermill, whose run.sh retries as the kernel does"
        )
    expr = cron_fields(job)
    fields = expr.split()
    sched = job.compiled
    assert isinstance(sched, CronSchedule)
    dom_all, dow_all = len(sched.values[2]) == 31, len(sched.values[4]) == 7
    if not sched.day_or and not dom_all and not dow_all:
        raise ExportError(
            f"{job.schedule!r} fires on days matching both day-of-month {fields[2]} and day-of-week {fields[4]} "
            "(one starts with *), but jupyter-scheduler's croniter fires on either; "
            "use --to papermill, whose cron reads it as here"
        )
    _check_engine_reading(expr, sched)
    return expr


def _check_engine_reading(expr: str, sched: CronSchedule) -> None:
    """Where croniter is importable here (jupyter-scheduler installed beside us), walk it and us."""
    try:
        from croniter import croniter
    except ImportError:
        return
    utc = CronSchedule(
        text=sched.text,
        expr=sched.expr,
        tz=ZoneInfo("UTC"),
        fixed_time=sched.fixed_time,
        day_or=sched.day_or,
        values=sched.values,
    )
    # From New Year, then across every month's end of four years (a leap year among them).
    starts = [(datetime(2026, 1, 1, tzinfo=UTC), 400)]
    for year, month in itertools.product(range(2026, 2030), range(1, 13)):
        last = calendar.monthrange(year, month)[1]
        starts.append((datetime(year, month, last, 23, 50, tzinfo=UTC), 20))
    for start, count in starts:
        theirs = croniter(expr, start.replace(tzinfo=None))
        ours = start
        for _ in range(count):
            ours = utc.next_after(ours)
            other = theirs.get_next(datetime)
            if other != ours.replace(tzinfo=None):
                _differs(expr, other, ours)


def _differs(expr: str, other: datetime, ours: datetime) -> None:
    raise ExportError(
        f"jupyter-scheduler's croniter reads {expr!r} differently from cron: it would run at "
        f"{other:%Y-%m-%d %H:%M}, cron at {ours:%Y-%m-%d %H:%M}; write the schedule another way "
        "(list the days) or use --to papermill"
    )


def run_script(notebook: str, python: str, kernel: str, job: CronJob) -> str:
    """``run.sh``: one papermill run of the notebook into a dated output, next to it; with the job's
    ``--retries``, a failed run is tried again after S, 2S, 4S ... seconds, as in the kernel."""
    stem = notebook.removesuffix(".ipynb")
    run = (
        f"{shlex.quote(python)} -m papermill {shlex.quote(notebook)} \\\n"
        f'  "outputs/{stem}-$(date -u +%Y%m%dT%H%M%SZ).ipynb" -k {shlex.quote(kernel)} "$@"'
    )
    head = f"""#!/bin/sh
# {job.name or job.id}: exported by loopal_ipy (job {job.id}, "{job.schedule}" in {job.tz}).
# Runs the notebook once with papermill; each run leaves outputs/{stem}-<UTC time>.ipynb.
set -eu
cd "$(dirname "$0")"
mkdir -p outputs
"""
    if not job.retries:
        return f"{head}exec {run}\n"
    return f"""{head}# --retries {job.retries} --retry-delay {job.retry_delay:g}: a failed run is tried again,
# each time waiting twice as long.
tries=0
delay={max(1, round(job.retry_delay))}
until {run}; do
  tries=$((tries + 1))
  if [ "$tries" -gt {job.retries} ]; then exit 1; fi
  echo "run failed; retry $tries of {job.retries} in $delay s" >&2
  sleep "$delay"
  delay=$((delay * 2))
done
"""


def crontab_line(expr: str, tz: str, run_sh: str) -> str:
    """The crontab entry: ``CRON_TZ`` names the job's zone (cronie, systemd-cron; Vixie uses the host's)."""
    log = run_sh.rsplit("/", 1)[0] + "/outputs/cron.log"
    return f"CRON_TZ={tz}\n{expr} {shlex.quote(run_sh)} >> {shlex.quote(log)} 2>&1\n"


class ExportOptions(TypedDict, total=False):
    """``export``'s options, said once (commands, the face and graduate pass them on)."""

    to: str | None  # "jupyter-scheduler" | "papermill"; None: the scheduler if the server has it
    directory: str | None
    setup: str  # "notebook" (default) | "history" | "none"
    check: bool  # run a papermill bundle once before saying it is done (default True)


class _Printer(Protocol):
    """What ``_repr_pretty_`` uses of IPython's pretty printer (no IPython below the kernel)."""

    def text(self, obj: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export made: printed by ``%cron export``, returned by ``get_scheduler().export``."""

    to: str  # "jupyter-scheduler" | "papermill"
    notebook: str  # the written notebook's path
    files: tuple[str, ...]
    message: str
    definition_id: str | None = None

    def __str__(self) -> str:
        return self.message

    def _repr_pretty_(self, p: _Printer, cycle: bool) -> None:
        p.text(self.message)
