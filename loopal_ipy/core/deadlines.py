"""One timer for the earliest deadline (docs/running.md): the jobs by their next deadline, in one heap.

A job's deadline is the earliest of its next fire, a retry it waits for and its expiry.
trio's ``Deadlines`` idea: lazy deletion (an entry holds the job's generation; a job
that changed is pushed again and its older entries are skipped when they surface).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import datetime

from .job import CronJob


class Deadlines:
    """The live jobs (``jobs``, shared with the scheduler) by ``deadline_of``, earliest first."""

    def __init__(self, jobs: dict[str, CronJob], deadline_of: Callable[[CronJob], datetime | None]) -> None:
        self._jobs, self._deadline_of = jobs, deadline_of
        self._heap: list[tuple[datetime, int, str]] = []

    def push(self, job: CronJob) -> None:
        """The job changed: its one live entry is this one (older ones are stale now)."""
        job._gen += 1
        deadline = self._deadline_of(job)
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, job._gen, job.id))
        if len(self._heap) > 2 * len(self._jobs) + 64:  # lazy deletion left too much garbage
            self.rebuild()

    def rebuild(self) -> None:
        self._heap = [(d, j._gen, j.id) for j in self._jobs.values() if (d := self._deadline_of(j)) is not None]
        heapq.heapify(self._heap)

    def _live(self, entry: tuple[datetime, int, str]) -> CronJob | None:
        job = self._jobs.get(entry[2])
        return job if job is not None and job._gen == entry[1] else None

    def first(self) -> datetime | None:
        """The earliest live deadline; None when nothing is scheduled."""
        heap = self._heap
        while heap and self._live(heap[0]) is None:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: datetime) -> Iterator[CronJob]:
        """The jobs whose deadline has come, earliest first (each taken out: push it to keep it)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            job = self._live(heapq.heappop(heap))
            if job is not None:
                yield job
