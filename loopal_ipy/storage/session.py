"""Session ids and store paths (docs/durable.md): pure functions, no IPython.

A session id names a directory, so it only ever holds ``[A-Za-z0-9._-]`` and
can never be ``.``, ``..`` or empty: whatever a user or a notebook name
supplies, :func:`session_dir` stays one level under ``<home>/sessions``.

The mapping from a name to an id is one-to-one (``a b``, ``a-b``, ``a/b``,
``café`` and ``cafe`` are five sessions). A name that already is a safe id and
holds no ``__`` is its own id, so ids that worked before still do; any other
name is escaped: a character outside ``[A-Za-z0-9.-]`` (``_`` included) becomes
``__`` plus the hex of each of its UTF-8 bytes, as does a leading ``.`` or
``-``. Escaped ids always hold ``__``, kept ones never do, so the two never
meet. Names and notebook paths are NFC-normalised first: the same text typed
on a Mac (NFD) and on Linux (NFC) is one session.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_ID_LEN = 96
_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_PROCESS_SESSION: str | None = None
THIS_KERNEL = "this kernel only"  # SessionInfo.source of the fallback session
PRIVATE_PREFIX = "kernel-run-"  # the fallback session's id: <prefix><pid>-<8 hex>, one kernel run's only
_SLUG_LEN = 40
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_KERNEL_FILE = re.compile(r"^kernel-(.+)\.json$")
_NOTEBOOK_SOURCES: tuple[tuple[str, str], ...] = (
    ("env", "JPY_SESSION_NAME"),
    ("ns", "__session__"),
    ("ns", "__vsc_ipynb_file__"),
)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A resolved session id and where it came from (for ``%cron session``)."""

    id: str
    source: str  # override | env | notebook | kernel
    detail: str = ""  # the notebook path or connection file it was derived from


def _sha8(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _ascii_fold(text: str) -> str:
    # "Café" -> "Cafe": keep what a reader recognises rather than dropping letters.
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _escape(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in _KEEP and not (i == 0 and ch in ".-"):
            out.append(ch)
        else:
            out.append("".join(f"__{b:02x}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)


def sanitize_session_id(text: str) -> str:
    """The session id of a name: safe, one-to-one (see the module docstring). ValueError if blank.

    A name longer than the id limit keeps its first part and gets a sha256 suffix,
    so distinct names stay distinct.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a session id must be a non-empty string, got {text!r:.80}")
    text = unicodedata.normalize("NFC", text)
    sid = text if is_safe_session_id(text) and "__" not in text else _escape(text)
    if len(sid) > MAX_ID_LEN:
        sid = f"{sid[: MAX_ID_LEN - 9]}-{_sha8(text)}"
    return sid


def random_session_id() -> str:
    """This process's own session, for kernels nothing else names (papermill, nbconvert --execute)."""
    global _PROCESS_SESSION
    if _PROCESS_SESSION is None:
        _PROCESS_SESSION = f"{PRIVATE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    return _PROCESS_SESSION


def is_safe_session_id(text: str) -> bool:
    """True if ``text`` is already a valid, path-safe session id."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_ID_LEN
        and bool(_SAFE_ID.match(text))
        and text.strip(".") != ""
        and not text.startswith(("-", "."))
    )


def notebook_session_id(path: str, cwd: str | None = None) -> str:
    """``<slug of file stem>-<first 8 hex of sha256 of the absolute path>``."""
    absolute = unicodedata.normalize(
        "NFC", os.path.normpath(os.path.join(cwd if cwd is not None else os.getcwd(), path))
    )
    stem = os.path.splitext(os.path.basename(absolute))[0]
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii_fold(stem).lower()).strip("-")[:_SLUG_LEN].strip("-")
    return f"{slug or 'notebook'}-{_sha8(absolute)}"


def notebook_of(env: Mapping[str, str], user_ns: Mapping[str, Any]) -> str | None:
    """The notebook file this kernel runs, as Jupyter or VS Code tells it; None when nothing does."""
    for where, key in _NOTEBOOK_SOURCES:
        value = env.get(key) if where == "env" else user_ns.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def resolve_session(
    env: Mapping[str, str],
    user_ns: Mapping[str, Any],
    connection_file: str | None,
    override: str | None = None,
    *,
    cwd: str | None = None,
    fallback: str | None = None,
) -> SessionInfo | None:
    """Pick the session id in the order docs/durable.md gives; ``fallback`` (or None) when nothing identifies one.

    ``cwd`` only matters for a relative notebook path (default: the process's).
    """
    if override and override.strip():
        return SessionInfo(sanitize_session_id(override), "override", override)
    from_env = env.get("LOOPAL_SESSION_ID")
    if from_env and from_env.strip():
        return SessionInfo(sanitize_session_id(from_env), "env", "LOOPAL_SESSION_ID")
    notebook = notebook_of(env, user_ns)
    if notebook is not None:
        return SessionInfo(notebook_session_id(notebook, cwd), "notebook", notebook)
    if connection_file:
        match = _KERNEL_FILE.match(os.path.basename(connection_file))
        if match and match.group(1).strip():
            return SessionInfo(sanitize_session_id(match.group(1)), "kernel", connection_file)
    if fallback:
        return SessionInfo(fallback, THIS_KERNEL)
    return None


def loopal_home(env: Mapping[str, str], configured: str | None) -> Path:
    """The store root: configured ``Cron.home`` > ``$LOOPAL_HOME`` > ``~/.loopal``."""
    raw = configured or env.get("LOOPAL_HOME") or os.path.join("~", ".loopal")
    if raw.startswith("~"):
        home = env.get("HOME") or str(Path.home())
        raw = home + raw[1:] if raw == "~" or raw.startswith("~/") else os.path.expanduser(raw)
    return Path(os.path.abspath(raw))


def session_dir(home: Path, session_id: str) -> Path:
    """``<home>/sessions/<id>``; refuses any id that could name another place."""
    if not is_safe_session_id(session_id):
        raise ValueError(
            f"unsafe session id {session_id!r}: use only letters, digits, '.', '_', '-' "
            f"(at most {MAX_ID_LEN}), not starting with '.' or '-'"
        )
    root = Path(os.path.abspath(home)) / "sessions"
    path = root / session_id
    # Belt and braces: the checks above already make this one plain component.
    if path.parent != root or os.path.normpath(path) != str(path):
        raise ValueError(f"session id {session_id!r} would leave {root}")
    return path


_WHAT_TO_DO = {
    errno.ENOTDIR: "part of that path is a file, not a folder: point LOOPAL_HOME (or Cron.home) at a folder",
    errno.EROFS: "that file system is read-only: point LOOPAL_HOME (or Cron.home) at a writable folder",
    errno.EACCES: "this user may not write there: point LOOPAL_HOME (or Cron.home) at a folder of yours",
    errno.EPERM: "this user may not write there: point LOOPAL_HOME (or Cron.home) at a folder of yours",
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is used up: free some space",
}


def os_trouble(e: OSError, path: Path | str) -> str:
    """An OSError as the user needs it: what happened (with its errno name), where, and what to do."""
    code = errno.errorcode.get(e.errno or 0, "")
    said = f"{e.strerror or e}{f' ({code})' if code else ''} at {path}"
    advice = _WHAT_TO_DO.get(e.errno or 0)
    return f"{said}: {advice}" if advice else said


def ensure_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700; leave existing ones alone."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p == p.parent:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask; be explicit
