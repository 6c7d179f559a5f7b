"""Create cells are declarations (docs/running.md, "Create cells are declarations").

A notebook is re-run all day, so a create says "this job exists, defined so", not "add one
more". Named jobs are found by name. An unnamed job is found again when the same cell runs
again (JupyterLab and Notebook 7 send each cell's id with its request): the job that cell
declared with the same definition, else its next one in creation order; where no cell id
comes (nbclient, papermill), the job with the same definition that this request has not
declared yet. A create outside any request (a thread, a job's own code) always makes a new
unnamed job. This module keeps the unnamed jobs indexed for that and says what changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .job import CronJob, definition_fields
from .options import OPTIONS


@dataclass(frozen=True, slots=True)
class Declaring:
    """Where a create comes from: the execute request (``run``, its msg id) and the cell's id, if sent."""

    run: str
    cell: str | None = None


@dataclass(frozen=True, slots=True)
class Declared:
    """What a create did: ``outcome`` is created, unchanged, updated (``changes`` says what) or kept."""

    job: CronJob
    outcome: str
    changes: tuple[str, ...] = ()


class Unnamed:
    """The live unnamed jobs, by the cell that declared them and by definition (no scan per create)."""

    def __init__(self) -> None:
        self._by_cell: dict[str, list[CronJob]] = defaultdict(list)
        self._by_definition: dict[tuple[Any, ...], list[CronJob]] = defaultdict(list)

    def add(self, job: CronJob) -> None:
        if job.name is None:
            if job.cell is not None:
                self._by_cell[job.cell].append(job)
            self._by_definition[job.definition()].append(job)

    def redefined(self, job: CronJob, old: tuple[Any, ...]) -> None:
        """``job``'s definition changed from ``old``: it keeps its place among its cell's jobs (their order is
        what a re-run cell walks), and is found under its new definition."""
        if job.name is None:
            _drop(self._by_definition, old, job)
            self._by_definition[job.definition()].append(job)

    def found_by_cell(self, job: CronJob, cell: str) -> None:
        """An unnamed job made where no cell id came (papermill, an older store) is now declared by ``cell``:
        it is that cell's job from now on, so editing the cell updates it rather than adding a twin."""
        if job.name is None and job.cell is None:
            job.cell = cell
            self._by_cell[cell].append(job)

    def discard(self, job: CronJob, definition: tuple[Any, ...] | None = None) -> None:
        """Forget ``job`` (indexed under ``definition``: its definition before a change)."""
        if job.name is not None:
            return
        if job.cell is not None:
            _drop(self._by_cell, job.cell, job)
        _drop(self._by_definition, job.definition() if definition is None else definition, job)

    def find(self, declaring: Declaring, definition: tuple[Any, ...]) -> CronJob | None:
        """The unnamed job this create declares again, or None (a new one)."""
        fresh = [j for j in self._by_definition.get(definition, ()) if j.declared_in != declaring.run]
        if declaring.cell is None:
            return fresh[0] if fresh else None
        same = next((j for j in fresh if j.cell == declaring.cell), None)
        if same is not None:
            return same
        of_cell = (j for j in self._by_cell.get(declaring.cell, ()) if j.declared_in != declaring.run)
        return next(of_cell, None) or next((j for j in fresh if j.cell is None), None)


def _drop(index: dict[Any, list[CronJob]], key: Any, job: CronJob) -> None:
    jobs = index.get(key)
    if jobs is None:
        return
    for i, j in enumerate(jobs):
        if j is job:
            del jobs[i]
            break
    if not jobs:
        del index[key]


# How a user writes each part of a definition, for the line a changed create says (an option: its flag).
LABELS = {"schedule": "schedule", "code": "code", "tz": "--tz", "recurring": "--once", "durable": "--durable"}


def changes(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[str, ...]:
    """What differs between two definitions: 'schedule "@every 1s" → "@every 5s"', '--once off → on'."""
    said = []
    for field, a, b in zip(definition_fields(), old, new, strict=True):
        if a != b:
            if field == "recurring":
                a, b = not a, not b
            label = LABELS[field] if field in LABELS else OPTIONS[field].flag
            said.append(f"{label} {_value(a)} → {_value(b)}")
    return tuple(said)


def _value(value: Any, limit: int = 40) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        one = " ".join(value.split())
        return '"' + (one if len(one) <= limit else one[: limit - 1] + "…") + '"'
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
