"""File descriptors 1 and 2 during a sync job (docs/running.md, "Output"): ``os.system``, subprocesses and C
extensions write there, not to ``sys.stdout``. capture.py routes everything else.

A child process the run started may outlive it, holding the file: what it
writes after the run is that job's "after the run" output (``Lingering``),
never the next run's. When the run ends with a child of this process alive,
the file goes with the job and the next run gets a fresh one; a file that grew
between runs (a writer we did not see, say a daemon's grandchild) goes to the
job that used it last.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from .buffer import Buffer


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

    def grew(self) -> bool:
        """Something wrote to the file since the last take: a writer outlived its run."""
        return os.fstat(self.fd).st_size > self.offset

    def settle(self) -> None:
        """A run ended: empty the file once it is big. Not before a run: truncating costs ~0.3 ms."""
        if self.offset > 1 << 20:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            self.offset = 0

    def close(self) -> None:
        self.file.close()


def _has_children() -> bool:
    """This process has a child (alive, or not yet reaped) that may hold a run's file. One syscall."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (OSError, AttributeError):  # no way to tell: assume one, which costs a new file
        return True
    return True


HOOKS = "(hooks)"  # the owner of a hook's file


class Lingering:
    """Files that children of ended runs may still write to, by owner (a job id), read as they grow."""

    MAX_FILES = 32  # open at once; past it the oldest is read one last time and closed
    MAX_CHARS = 10_000  # kept per owner, the latest
    MAX_OWNERS = 256  # owners whose text is kept; the oldest goes first

    def __init__(self) -> None:
        self._files: dict[str, FdFile] = {}
        self._text: dict[str, str] = {}

    def adopt(self, owner: str, file: FdFile) -> None:
        old = self._files.pop(owner, None)
        if old is not None:
            self._let_go(owner, old)
        self._files[owner] = file
        while len(self._files) > self.MAX_FILES:
            first = next(iter(self._files))
            self._let_go(first, self._files.pop(first))

    def _let_go(self, owner: str, file: FdFile) -> None:
        self._read(owner, file)
        file.close()
        self._add(owner, "[loopal_ipy: what child processes of earlier runs write from now on is not kept]\n")

    def _read(self, owner: str, file: FdFile) -> None:
        try:
            text, skipped = file.take()
        except OSError:
            return
        if skipped:
            text = f"[{skipped:,} earlier bytes not kept]\n{text}"
        self._add(owner, text)

    def _add(self, owner: str, text: str) -> None:
        if text:
            self._text[owner] = (self._text.pop(owner, "") + text)[-self.MAX_CHARS :]
            while len(self._text) > self.MAX_OWNERS:
                del self._text[next(iter(self._text))]

    def read(self, owner: str) -> str:
        """What the owner's children wrote after its runs ended, so far."""
        file = self._files.get(owner)
        if file is not None:
            self._read(owner, file)
        return self._text.get(owner, "")

    def forget(self, owner: str) -> None:
        file = self._files.pop(owner, None)
        if file is not None:
            file.close()
        self._text.pop(owner, None)

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()


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
        self._last_owner = HOOKS
        self.lingering = Lingering()
        self.enabled = hasattr(os, "dup2") and hasattr(os, "pread")

    @contextlib.contextmanager
    def around(self, buf: Buffer) -> Iterator[None]:
        if not self.enabled or self._closing or self._depth:
            yield
            return
        try:
            if self._file is not None and self._file.grew():  # a writer outlived the last run: not ours
                self.lingering.adopt(self._last_owner, self._file)
                self._file = None
            if self._file is None:
                self._file = FdFile()
            self._file.start(buf.limit * 4)  # bytes, for up to 4-byte characters
            for stream in (sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    if stream is not None:  # None: no console (pythonw)
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
                    if stream is not None:  # None: no console (pythonw)
                        stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            buf.text()  # collect the rest now: the file is reused by the next run
            buf.fd_file = None
            self._last_owner = buf.owner or HOOKS
            if _has_children():  # one may hold the file: it goes with this run's job
                self.lingering.adopt(self._last_owner, self._file)
                self._file = None
            else:
                with contextlib.suppress(OSError):
                    self._file.settle()
            if self._closing:
                self.close()

    def close(self) -> None:
        """Close the file, or, while a run uses it (a job that reloads the extension), once that run ends."""
        self._closing = True
        if self._depth == 0:
            if self._file is not None:
                self._file.close()
                self._file = None
            self.lingering.close()
