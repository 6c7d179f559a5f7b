"""File descriptors 1 and 2 during a sync job (SPEC §5): ``os.system``, subprocesses and C
extensions write there, not to ``sys.stdout``. capture.py routes everything else."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capture import Buffer


class FdFile:
    """An anonymous file that fd 1/2 point at during a sync run; read as it grows."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 - lives as long as the runner
        self.fd = self.file.fileno()
        self.offset = 0
        self.limit = 0

    def take(self) -> tuple[str, int]:
        """What was written since the last take: its last ``limit`` bytes, and how many came before them."""
        size = os.fstat(self.fd).st_size
        if size <= self.offset:
            return "", 0
        start = max(self.offset, size - self.limit)
        skipped = start - self.offset
        data = os.pread(self.fd, size - start, start)
        self.offset = size
        return data.decode("utf-8", "replace"), skipped

    def start(self, limit: int) -> None:
        """A run begins: its bytes start at the end of the file (writes share this offset)."""
        self.offset = os.lseek(self.fd, 0, os.SEEK_END)
        self.limit = limit

    def settle(self) -> None:
        """A run ended: empty the file once it is big. Not before a run: truncating costs ~0.3 ms."""
        if self.offset > 1 << 20:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            self.offset = 0

    def close(self) -> None:
        self.file.close()


def _libc_fflush() -> Any:
    try:
        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError):  # no libc to ask (an odd platform): nothing to flush
        return None


_FFLUSH = _libc_fflush()


def _flush_c_stdio() -> None:
    """Push out what C code left in its stdio buffers, so it lands on the right side of the swap."""
    if _FFLUSH is not None:
        _FFLUSH(None)


class FdCapture:
    """Point fd 1 and 2 at a private file for the length of a sync run, then back."""

    def __init__(self) -> None:
        self._file: FdFile | None = None
        self._depth = 0  # runs inside runs (a job that calls %cron run): only the outermost swaps
        self._closing = False
        self.enabled = hasattr(os, "dup2") and hasattr(os, "pread")

    @contextlib.contextmanager
    def around(self, buf: Buffer) -> Iterator[None]:
        if not self.enabled or self._closing or self._depth:
            yield
            return
        try:
            if self._file is None:
                self._file = FdFile()
            self._file.start(buf.limit * 4)  # bytes, for up to 4-byte characters
            for stream in (sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    stream.flush()
            saved = (os.dup(1), os.dup(2))
        except OSError:  # no fds to spare, or none to save: run without fd capture
            yield
            return
        _flush_c_stdio()
        os.dup2(self._file.fd, 1)
        os.dup2(self._file.fd, 2)
        buf.fd_file = self._file
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            _flush_c_stdio()
            for stream in (sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            buf.text()  # collect the rest now: the file is reused by the next run
            buf.fd_file = None
            with contextlib.suppress(OSError):
                self._file.settle()
            if self._closing:
                self.close()

    def close(self) -> None:
        """Close the file, or, while a run uses it (a job that reloads the extension), once that run ends."""
        self._closing = True
        if self._depth == 0 and self._file is not None:
            self._file.close()
            self._file = None
