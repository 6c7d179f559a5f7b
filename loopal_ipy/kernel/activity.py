"""Jobs are activity (docs/running.md): iopub ``status`` busy, then idle, while jobs run outside cells.

Without it a Jupyter server's idle culler kills a kernel whose only life is its
jobs, and the kernel indicator never shows them. One busy/idle pair covers
everything that runs together (a batch of jobs due at once, async runs that
overlap), under a parent header of its own (``msg_type`` ``loopal_job``), so
50 jobs firing each second cost a few messages per wake-up, not 100 a second.
Inside a cell nothing is sent: the kernel says busy already, and an idle from us
would end that too soon. Both messages are built and sent on ipykernel's IOPub
thread, in order, and the busy one is handed over only when a job's code is
about to start, so the start is not delayed by its serialization.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

MSG_TYPE = "loopal_job"


class Activity:
    """Counts what runs; says busy when the count leaves 0 and idle when it comes back."""

    def __init__(self, shell: Any) -> None:
        kernel = getattr(shell, "kernel", None)
        ok = kernel is not None and hasattr(kernel, "session") and hasattr(kernel, "_publish_status")
        self.kernel = kernel if ok else None
        self.count = 0
        self.parent: dict[str, Any] | None = None

    def hold(self) -> None:
        """Something may run soon (a batch): keep one busy period across its runs."""
        self.count += 1

    def enter(self, cells: Sequence[Any]) -> None:
        """A job's code is about to start."""
        self.count += 1
        kernel = self.kernel
        if kernel is None or self.parent is not None or cells:
            return
        parent: dict[str, Any] = {}

        def busy(socket: Any) -> None:
            parent.update(kernel.session.msg_header(MSG_TYPE))
            _status(kernel, socket, "busy", parent)

        if _on_iopub(kernel, busy):
            self.parent = parent

    def exit(self, cells: Sequence[Any]) -> None:
        """A run (or a hold) ended; the last one out says idle, unless a cell runs (its idle will)."""
        self.count = max(0, self.count - 1)
        kernel, parent = self.kernel, self.parent
        if self.count or parent is None:
            return
        self.parent = None
        if kernel is not None and not cells:
            _on_iopub(kernel, lambda socket: _status(kernel, socket, "idle", parent))


def _status(kernel: Any, socket: Any, state: str, parent: dict[str, Any]) -> None:
    """What ``kernel._publish_status`` sends, on ``socket``."""
    kernel.session.send(socket, "status", {"execution_state": state}, parent=parent, ident=kernel._topic("status"))


def _on_iopub(kernel: Any, send: Callable[[Any], None]) -> bool:
    """Run ``send(socket)`` on the IOPub thread (in order with other sends), or here if there is none.

    On the IOPub thread ``socket`` is its own zmq socket, written directly: the kernel's iopub_socket
    would schedule the send onto that same thread again, and past ~1,000 at once the thread blocks on
    its own full event pipe, hanging the kernel (tests/kernel/test_abuse.py, a burst of 3,000 fires).
    """
    thread = getattr(kernel, "iopub_thread", None)

    try:
        if thread is not None and hasattr(thread, "schedule") and getattr(thread, "socket", None) is not None:

            def quietly() -> None:
                with contextlib.suppress(Exception):  # on the IOPub thread: a failed courtesy must not kill it
                    send(thread.socket)

            thread.schedule(quietly)
        else:
            send(kernel.iopub_socket)
    except Exception:  # a kernel without iopub (tests, odd embeddings): activity is only a courtesy
        return False
    return True
