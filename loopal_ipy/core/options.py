"""A job's run-policy options, each declared once (docs/development.md, "One place for each fact").

An option is a field of a job that a create sets: ``timeout``, ``retries``, ``retry_delay``,
``catch_up``. Its ``Option`` says its default, the check a create and a stored entry pass, how
``%cron create`` and ``%cron edit`` read it (flag, value, example) and how ``%cron list`` shows it.
Everything else is derived from ``OPTIONS``: the job's attribute (job.py), its key in ``cron.json``
(written when not the default), both store readers, the definition a re-run create compares (and
the journal rewrites ``cron.json`` on), the option parser, the usage text and the list's words.
Adding a field is ``register(Option(...))``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import LimitError
from .schedule import parse_duration

MAX_TIMEOUT = 7 * 86400.0
MAX_RETRIES = 100
MAX_GRACE = 10 * 365 * 86400.0


def _never(job: Any) -> str | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One run-policy field of a job."""

    name: str  # the job's attribute, create()'s keyword and cron.json's key
    flag: str  # how %cron create and %cron edit take it
    default: Any  # the value of a job that was not given it (not written to cron.json)
    check: Callable[[Any, bool], Any]  # (value given, recurring) -> value kept; LimitError says what works
    parse: Callable[[str], Any]  # the word after the flag -> value; ValueError when it cannot be read
    takes: str  # what that word is, for the error: "seconds", "a whole number"
    example: str  # a value that works, for errors and help
    metavar: str = "S"
    bare: Any = None  # with ``optional``: the value of the flag given alone (--catch-up: one period)
    optional: bool = False  # the flag may come without a value
    shown: Callable[[Any], str | None] = _never  # (job) -> its words in %cron list's policy, or None
    help: str = ""

    @property
    def usage(self) -> str:
        """``--retries N``; ``--catch-up [GRACE]``."""
        return f"{self.flag} [{self.metavar}]" if self.optional else f"{self.flag} {self.metavar}"


OPTIONS: dict[str, Option] = {}  # by name, in the order they were declared (their order in a definition)
_installed: list[Callable[[Option], None]] = []  # what a new option must reach at once (job.py's attribute)


def register(option: Option) -> Option:
    """Declare an option: every job has it from now on (its default where it was not given)."""
    if option.name in OPTIONS or not option.name.isidentifier() or not option.flag.startswith("--"):
        raise ValueError(f"option {option.name!r} ({option.flag}) is declared already or badly named")
    OPTIONS[option.name] = option
    for install in _installed:
        install(option)
    return option


def unregister(name: str) -> None:
    """Take an option back (tests that declare one of their own)."""
    OPTIONS.pop(name, None)


def on_register(install: Callable[[Option], None]) -> None:
    """Call ``install`` for every option, now and when one is declared."""
    _installed.append(install)
    for option in OPTIONS.values():
        install(option)


def check_options(given: dict[str, Any], *, recurring: bool) -> dict[str, Any]:
    """The run policy a create (or a stored entry) asks for, every option checked: {name: value kept}."""
    return {name: option.check(given.get(name, option.default), recurring) for name, option in OPTIONS.items()}


# ------------------------------------------------------------------ the options
def _seconds(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def check_timeout(timeout: Any, recurring: bool = True) -> float | None:
    """None (Cron.job_timeout), 0 (no limit), or seconds up to a week."""
    if timeout is None:
        return None
    if not _seconds(timeout):
        raise LimitError(f"timeout must be a number of seconds, got {timeout!r}; e.g. --timeout 60 (0 = no limit)")
    if not 0 <= timeout <= MAX_TIMEOUT:
        raise LimitError(f"timeout {timeout:g} s is out of range: use 0 (no limit) up to {MAX_TIMEOUT:g} s (a week)")
    return float(timeout)


def _check_retries(n: object, recurring: bool) -> int:
    n = 0 if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_RETRIES:
        raise LimitError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {n!r}; e.g. --retries 3")
    return n


def _check_delay(delay: Any, recurring: bool) -> float:
    delay = 30.0 if delay is None else delay
    if not _seconds(delay) or not 1 <= delay <= MAX_TIMEOUT:
        raise LimitError(f"retry delay must be 1 to {MAX_TIMEOUT:g} seconds, got {delay!r}; e.g. --retry-delay 30")
    return float(delay)


def _check_grace(grace: Any, recurring: bool) -> float | None:
    if grace is None:
        return None
    if not recurring:
        raise LimitError("--catch-up is for recurring jobs: a --once job whose time passed is dropped, not run")
    if not _seconds(grace) or not 0 <= grace <= MAX_GRACE:
        raise LimitError(f"catch-up grace must be 0 (one period) to {MAX_GRACE:g} seconds, got {grace!r}")
    return float(grace)


_GRACE = re.compile(r"^(?:\d+(?:\.\d+)?|(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?)$")


def parse_grace(text: str) -> float:
    """--catch-up's GRACE: seconds, or a duration as @every takes it (2h, 1d12h)."""
    if not _GRACE.match(text):
        raise ValueError(text)
    try:
        return float(text)
    except ValueError:
        return parse_duration(text).total_seconds()


def looks_like_grace(word: str) -> bool:
    """Whether the word after a bare ``--catch-up`` is its GRACE (else it is the schedule)."""
    return bool(_GRACE.match(word))


def _shown_retries(job: Any) -> str | None:
    return f"retries {job.retries} from {job.retry_delay:g} s" if job.retries else None


def _shown_grace(job: Any) -> str | None:
    if job.catch_up is None:
        return None
    return "catch-up " + (f"within {job.catch_up:g} s" if job.catch_up else "one period")


register(
    Option(
        name="timeout",
        flag="--timeout",
        default=None,
        check=check_timeout,
        parse=float,
        takes="seconds",
        example="60",
        help="seconds a run may last (0: no limit; default Cron.job_timeout)",
    )
)
register(
    Option(
        name="retries",
        flag="--retries",
        default=0,
        check=_check_retries,
        parse=int,
        takes="a whole number",
        example="3",
        metavar="N",
        shown=_shown_retries,
        help="try a failed run again up to N times",
    )
)
register(
    Option(
        name="retry_delay",
        flag="--retry-delay",
        default=30.0,
        check=_check_delay,
        parse=float,
        takes="seconds",
        example="30",
        help="seconds before the first retry; each next one waits twice as long",
    )
)
register(
    Option(
        name="catch_up",
        flag="--catch-up",
        default=None,
        check=_check_grace,
        parse=parse_grace,
        takes="a grace like 2h, 1d or 3600",
        example="2h",
        metavar="GRACE",
        optional=True,
        bare=0.0,
        shown=_shown_grace,
        help="after downtime, run once for the last missed occurrence within GRACE (default one period)",
    )
)
