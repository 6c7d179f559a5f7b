"""One run's output (docs/running.md, "Output"): what capture.py routes to, fdcapture.py feeds, and the log keeps."""

from __future__ import annotations

from typing import Protocol

from ..core.job import tail_text


class FdReader(Protocol):
    """What a run's fd-level file offers its buffer (fdcapture.FdFile)."""

    def take(self) -> tuple[str, int]: ...


class Buffer:
    """One run's output; keeps its *last* ``limit`` characters (the latest output matters most)."""

    def __init__(self, limit: int, owner: str | None = None) -> None:
        self.owner = owner  # the job whose run this is (None: a hook's)
        self.parts: list[str] = []
        self.kept = 0  # characters in parts
        self.size = 0  # characters written in all
        self.limit = limit
        self.fd_file: FdReader | None = None
        self.images: list[str] = []  # base64 PNGs the run displayed
        self.html: list[str] = []  # HTML it displayed
        self.nested_error: str | None = None  # a traceback a nested run_cell or %run showed: the run failed
        # The run ended. A callback it scheduled (loop.call_later copies the context, buffer
        # and all) may still write: that goes out like a thread's output, never into a void.
        self.closed = False

    def write(self, text: str) -> None:
        if self.fd_file is not None:  # what reached fd 1/2 before this write comes first
            self._take_fd()
        self._add(text)

    def _take_fd(self) -> None:
        assert self.fd_file is not None
        text, skipped = self.fd_file.take()
        self.size += skipped
        self._add(text)

    def _add(self, text: str) -> None:
        if not text:
            return
        self.parts.append(text)
        self.kept += len(text)
        self.size += len(text)
        if self.kept > 2 * self.limit + 1024:  # amortised: drop the oldest beyond the limit
            tail = "".join(self.parts)[-self.limit :]
            self.parts, self.kept = [tail], len(tail)

    def text(self) -> str:
        """The output so far, cut to its last ``limit`` characters with a note saying how many went."""
        if self.fd_file is not None:
            self._take_fd()
        return tail_text("".join(self.parts), self.limit, dropped=self.size - self.kept)
