"""All-or-nothing file replacement: write a temp file, fsync, rename, fsync the folder.

A crash at any instant leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600, no symlink following) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | _NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a stale temp file may have had other bits
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; some file systems cannot fsync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, fsync: bool = True, write_bytes: Callable[[Path, bytes], None] = _write_file
) -> None:
    """Replace ``path`` with ``data`` all-or-nothing, via ``<path>.tmp`` in the same directory."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write_bytes(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.isfile(tmp) and not os.path.islink(tmp):
            with contextlib.suppress(OSError):  # the original error is the one worth reporting
                os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)
