"""What came back after a restart is said where the user looks (docs/durable.md).

A kernel that loads the extension at start (``loopal-ipy enable``) restores its durable jobs
before any cell runs, when nothing it prints reaches a notebook (there is no request to answer).
The load summary is kept and printed at the start of the first cell the user runs next, in that
cell's output (``pre_run_cell`` runs inside it), once.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any


class FirstCellNotice:
    """Say ``text`` in the next cell that runs, once; ``close`` takes it back (an unload)."""

    def __init__(self, shell: Any, text: str) -> None:
        self.shell, self.text = shell, text
        shell.events.register("pre_run_cell", self._say)

    def _say(self, info: object = None) -> None:
        self.close()
        print(self.text, file=sys.stdout, flush=True)

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # said already, or never registered
            self.shell.events.unregister("pre_run_cell", self._say)
