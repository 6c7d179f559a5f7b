"""All-or-nothing file replacement: write a temp file, fsync, rename, fsync the folder.

A crash at any instant leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a fresh file at ``path`` and fsync it.

    A leftover at ``path`` is removed first and the file is created with O_EXCL:
    a leftover that is a hard link (or a symlink) to some other file is unlinked,
    never written through, so no save can overwrite a file it does not own.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away
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
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    write_bytes: Callable[[Path, bytes], None] = write_file,
    mode: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` all-or-nothing, via ``<path>.tmp`` in the same directory.

    ``mode``: the new file's permission bits (default 0600, the store's).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        if mode is None:
            write_bytes(tmp, data)
        else:
            write_file(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.isfile(tmp) and not os.path.islink(tmp):
            with contextlib.suppress(OSError):  # the original error is the one worth reporting
                os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)
