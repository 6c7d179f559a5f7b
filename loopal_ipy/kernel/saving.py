"""Saving the durable set from the kernel (docs/durable.md): once a cell yields, with backoff when it fails.

A mixin of the bridge: the store decides what to write; this decides when.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.scheduler import Scheduler
    from .face import SessionStore


class Saving:
    """When the durable set reaches the disk: soon after a change, now at unload/exit, retried on failure."""

    store: SessionStore | None
    core: Scheduler
    loop: asyncio.AbstractEventLoop
    started: bool
    _dirty: bool  # a definition, or the job set, may have changed: the next save writes the whole set
    _touched: set[str]  # jobs whose state or runs changed since the last save
    _save_soon: asyncio.Handle | None
    _retry: asyncio.TimerHandle | None

    off_loop: Callable[[], bool]  # the bridge's (busy.py knows the loop's thread)

    def _save_if_dirty(self, settled: bool = False) -> None:
        """Write what changed: the whole set when a definition may have, else only the jobs whose state or
        runs did (``_touched``), in time of their own size."""
        self._save_soon = None
        if not self._dirty and not self._touched:
            return
        if self.store is None:
            self._dirty, self._touched = False, set()
            return
        if self._dirty or settled:
            saved = self.store.save(self.core.jobs(), settled=settled)
        else:
            saved = self.store.save_some([job for i in self._touched if (job := self.core.live(i)) is not None])
        self._dirty = not saved
        self._touched = set()
        if self._dirty and self._retry is None and self.started:
            # The store warned once; keep everything in memory and try again with backoff.
            self._retry = self.loop.call_later(max(1.0, self.store.retry_delay), self._retry_save)

    def _retry_save(self) -> None:
        self._retry = None
        self._save_if_dirty()

    def _request_save(self) -> None:
        """Save once the current cell yields: 1,000 creates in a loop make one write, not 1,000."""
        if self.off_loop():
            self.loop.call_soon_threadsafe(self._request_save)
            return
        if (self._dirty or self._touched) and self._save_soon is None and self.started:
            self._save_soon = self.loop.call_soon(self._save_if_dirty)
        elif not self.started:
            self._save_if_dirty()

    def flush(self, settled: bool = False) -> None:
        """Write pending changes now (unload, exit, session switch)."""
        if self._save_soon is not None:
            self._save_soon.cancel()
        self._save_if_dirty(settled)
