"""The limits every job keeps (docs/configuration.md): settings, create's options, and the checks a job
passes whether it is created or read back from a store."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

from .errors import CodeError, LimitError, NameTaken
from .job import CronJob
from .options import MAX_TIMEOUT, check_options, check_timeout

__all__ = ["MAX_TIMEOUT", "check_options", "check_timeout"]  # their home is options.py

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class CreateOptions(TypedDict, total=False):
    """``create``'s keyword options, said once: the bridge and the surfaces' face pass them on."""

    once: bool
    durable: bool
    name: str | None
    tz: str | None
    timeout: float | None  # seconds a run may last; None: Cron.job_timeout, 0: no limit
    retries: int  # a failed run is tried again up to this many times (0: never)
    retry_delay: float  # seconds before the first retry; each next one waits twice as long (default 30)
    catch_up: float | None  # after downtime, run once for a missed occurrence within this grace (0: one period)
    if_exists: str  # a job of this name (or cell) exists: "update" it in place, "keep" it as it is, or "error"
    cell: str | None  # the notebook cell declaring it (the kernel fills it in from the execute request)


IF_EXISTS = ("update", "keep", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Limits and defaults (docs/configuration.md): declared here once; the ``Cron`` traits take their
    defaults from it."""

    max_jobs: int = 50
    max_age: float = 3 * 86400.0
    max_code_chars: int = 65_536
    timezone: str = ""
    history_size: int = 20
    output_limit: int = 10_000
    job_timeout: float = 0.0
    hook_timeout: float = 5.0  # seconds a hook's callback may take before it is abandoned; 0: no limit


def check_name(name: str) -> None:
    """Raise NameTaken unless ``name`` is a valid job name (the syntax; uniqueness is the caller's)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):  # fullmatch: `$` would let "x\n" through
        raise NameTaken(
            f"bad job name {name!r:.80}: use a letter then letters, digits, _ . - (at most 64), e.g. refresh_data"
        )


def check_stored(job: CronJob, names: set[str], settings: Settings, check_code: Callable[[str], None] | None) -> None:
    """A job read from a store passes exactly what a create checks (docs/durable.md); ``names``: taken so far.
    ``check_code`` None: the code is known to have compiled (a sealed entry, storage/seal.py)."""
    if job.name is not None:
        check_name(job.name)
        if job.name in names:
            raise NameTaken(f"name {job.name!r} is used by an earlier entry")
    if not job.code.strip():
        raise CodeError("no code")
    if len(job.code) > settings.max_code_chars:
        raise LimitError(f"code is {len(job.code):,} characters; the limit is {settings.max_code_chars:,}")
    if check_code is not None:  # not sealed (a sealed entry's code compiled when it was created)
        check_code(job.code)


def check_if_exists(value: object) -> str:
    if value not in IF_EXISTS:
        raise LimitError(f"if_exists must be one of {', '.join(IF_EXISTS)}, got {value!r}; e.g. --if-exists keep")
    return str(value)


def compile_check(code: str) -> None:
    """Raise CodeError unless ``code`` compiles (top-level ``await`` allowed)."""
    # A store of 10,000 jobs often holds a few codes many times: each short one compiles once.
    why = _compile_problem(code) if len(code) <= CACHED_CODE_CHARS else _compile_problem.__wrapped__(code)
    if why is not None:
        raise CodeError(why)


CACHED_CODE_CHARS = 4096  # the cache holds at most 1,024 codes of this size: 4 MiB


@lru_cache(maxsize=1024)
def _compile_problem(code: str) -> str | None:
    try:
        compile(code, "<cron job>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # UnicodeEncodeError (lone surrogates) is a ValueError
        lineno = getattr(e, "lineno", None)  # a SyntaxError's; a ValueError has none
        where = f" (line {lineno})" if lineno else ""
        why = e.msg if isinstance(e, SyntaxError) else _one_line(e)
        return f"code does not compile: {why}{where}; nothing was created"
    except (RecursionError, MemoryError, OverflowError):
        return (
            "code does not compile: it is nested too deeply for Python's compiler; put the work in a "
            "function and schedule a call to it — nothing was created"
        )
    return None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 160 else text[:159] + "…"
