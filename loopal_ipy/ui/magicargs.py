"""Reading ``%cron`` arguments: shell words, create's options, ``%cron wait`` and its transformer.

Bad input is one ``UsageError`` line (IPython shows only that class as one line);
magics.py routes the subcommands and turns domain errors into the same.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
from typing import Any

from IPython.core.error import UsageError

from ..core.limits import CreateOptions
from ..core.options import OPTIONS, Option


class Text(str):
    """A plain-text result that displays without quotes."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


_TOKEN = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|\S+)""")
CRON_FIELD = re.compile(r"^[0-9*A-Za-z,/-]+$")


class InputError(Exception):
    """Input that no subcommand could read (an open quote): the router names the subcommand."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> Any:
        raise UsageError(f"%cron {self.prog}: {message}; usage: %cron {self.prog} {self.usage or ''}".rstrip())

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise UsageError(" ".join((message or f"usage: %cron {self.prog} {self.usage or ''}").split()))


def shell_words(text: str) -> list[str]:
    """Shell words; an unterminated quote or a dangling backslash is one clear error."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise InputError(f"{str(e).lower()} in {short(text)}; close the quote, or escape it with a backslash") from None


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


HELP_WIDTH = 88  # a notebook cell shows about 100 columns before it wraps


def wrapped(text: str, first: str, rest: str, width: int = HELP_WIDTH) -> list[str]:
    """``text`` in lines of at most ``width`` columns (a longer word has a line of its own), never breaking
    inside ``[...]`` (one option, which may nest) or a quoted example; no lines for blank text."""
    lines: list[str] = []
    line = first
    for atom in _atoms(text):
        if line.strip() and len(line) + 1 + len(atom) > width:
            lines.append(line)
            line = rest
        line += atom if not line.strip() else " " + atom
    return [*lines, line] if line.strip() else lines


def _atoms(text: str) -> list[str]:
    """Words, with ``[...]`` and ``"..."`` kept whole; an unclosed one is words again, a stray ``]`` a letter."""
    atoms, depth, quoted, word = [], 0, False, ""
    for ch in text:
        if ch.isspace() and not depth and not quoted:
            atoms += [word] if word else []
            word = ""
            continue
        word += ch
        if not quoted:
            depth = max(0, depth + (ch == "[") - (ch == "]"))
        quoted ^= ch == '"'
    return [*atoms, *(word.split() if depth or quoted else [word] if word else [])]


def split_word(rest: str) -> tuple[str, bool, str]:
    """Take one shell word off ``rest``: (word, was_quoted, remainder verbatim)."""
    m = _TOKEN.match(rest)
    if not m:
        return "", False, ""
    raw = m.group(1)
    quoted = raw[0] in "\"'"
    word = (shell_words(raw) or [""])[0] if quoted else raw
    return word, quoted, rest[m.end() :].lstrip(" \t")


def parse_wait(args: str) -> tuple[str | None, int, float | None]:
    """``%cron wait [ID] [--runs N] [--timeout S]`` -> (id, runs, timeout); UsageError if unreadable."""
    usage = "usage: %cron wait [ID] [--runs N] [--timeout S]"
    try:
        words = shell_words(args)
    except InputError as e:
        raise UsageError(f"%cron wait: {e}") from None
    key, runs, timeout = None, 1, None
    try:
        while words:
            w = words.pop(0)
            if w in ("--runs", "-n"):
                runs = int(words.pop(0))
            elif w == "--timeout":
                timeout = float(words.pop(0))
            elif w.startswith("-") or key is not None:
                raise UsageError(f"%cron wait: unexpected {short(w, 30)}; {usage}")
            else:
                key = w
    except (IndexError, ValueError):
        raise UsageError(
            "%cron wait: --runs takes a whole number and --timeout seconds, e.g. %cron wait tick --runs 3 --timeout 30"
        ) from None
    if not 1 <= runs <= 100_000:
        raise UsageError(f"%cron wait: --runs must be between 1 and 100000, got {runs}")
    if timeout is not None and not 0 <= timeout <= 7 * 86400:  # also refuses nan
        raise UsageError(f"%cron wait: --timeout must be between 0 and 604800 seconds (a week), got {timeout:g}")
    return key, runs, timeout


# create's own options; the run-policy options come from core/options.py (OPTIONS), in their order.
_FLAGS = {"--name": "report", "--tz": "UTC", "--if-exists": "keep"}  # those that take a value: an example
_SWITCHES = ("--once", "--durable", "--show")


def create_usage() -> str:
    """``--once, --durable, --show, --name N, --tz TZ, --timeout S, … --if-exists update|keep|error``."""
    policy = ", ".join(option.usage for option in OPTIONS.values())
    return f"--once, --durable, --show, --name N, --tz TZ, {policy}, --if-exists update|keep|error"


def edit_usage() -> str:
    policy = " ".join(f"[{option.usage}]" for option in OPTIONS.values())
    return f"ID [--schedule S] [--tz TZ] {policy} [--code CODE...]"


def create_options(rest: str) -> tuple[CreateOptions, str, bool]:
    """create's options (``create_usage()``) off the front of ``rest`` (also ``--name=N``), and whether
    ``--show`` asked for a live view (a display, not part of the job)."""
    opts, rest = _options(rest, CreateOptions(once=False, durable=False, name=None, tz=None, timeout=None))
    given: dict[str, Any] = opts  # type: ignore[assignment]
    return opts, rest, bool(given.pop("show", False))


_EDIT_ONLY = ("--schedule", "--code")
_NOT_EDITED = ("--once", "--durable", "--name", "--if-exists")


def edit_options(rest: str) -> tuple[str | None, str | None, CreateOptions]:
    """``%cron edit ID``'s rest: ``--schedule S``, create's policy options, and ``--code CODE...`` (last,
    the rest of the line) -> (schedule, code, options given)."""
    schedule, code, opts = None, None, CreateOptions()
    while rest:
        word, quoted, after = split_word(rest)
        flag, eq, _ = word.partition("=")
        if quoted or not word.startswith("-"):
            raise UsageError(f"%cron edit: unexpected {short(word, 30)}; usage: %cron edit {edit_usage()}")
        if flag == "--show":
            raise UsageError("%cron edit: --show changes no job; %cron show ID shows its latest run live here")
        if flag in _NOT_EDITED:
            raise UsageError(
                f"%cron edit changes the schedule, code and run policy; for {flag} run %cron create again with it "
                "(the same name updates the job in place)"
            )
        if flag == "--code":
            if eq:
                raise UsageError("%cron edit: put the code after --code and a space: --code x = 1 (the line's rest)")
            code, rest = after, ""
        elif flag == "--schedule":
            tail = rest.lstrip()[len("--schedule=") :] if eq else after  # --schedule="@every 5s" too
            schedule, quoted, rest = split_word(tail)
            if not quoted and schedule.lower() == "@every":
                duration, _, rest = split_word(rest)
                schedule = f"@every {duration}"
            if not schedule:
                raise UsageError('%cron edit: --schedule needs a value, e.g. --schedule "*/5 * * * *"')
        else:
            opts, left = _options(rest, opts, stop=_EDIT_ONLY + _NOT_EDITED, prog="edit")
            if left == rest:  # nothing taken: never loop on it
                raise UsageError(f"%cron edit: unexpected {short(word, 30)}; usage: %cron edit {edit_usage()}")
            rest = left
    return schedule, code, opts


def _options(
    rest: str, opts: CreateOptions, stop: tuple[str, ...] = (), prog: str = "create"
) -> tuple[CreateOptions, str]:
    given: dict[str, Any] = opts  # type: ignore[assignment]  # a registered option may be any name
    while rest.startswith("-") and split_word(rest)[0].partition("=")[0] not in stop:
        word, _, rest = split_word(rest)
        flag, eq, value = word.partition("=")
        option = next((o for o in OPTIONS.values() if o.flag == flag), None)
        if flag in _SWITCHES and not eq:
            given[flag[2:]] = True
        elif option is not None:
            if eq and not value and option.optional:
                given[option.name] = option.bare
                continue
            if not eq:
                ahead, _, after = split_word(rest)
                if option.optional and not (ahead and looks_like_value(option, ahead)):
                    given[option.name] = option.bare  # the flag alone; the word after it is not its value
                    continue
                value, rest = ahead, after
            given[option.name] = _read(option, value, prog)
        elif flag in _FLAGS:
            if not eq:
                value, _, rest = split_word(rest)
            if not value:
                raise UsageError(f"%cron {prog}: {flag} needs a value, e.g. {flag} {_FLAGS[flag]}")
            given[flag[2:].replace("-", "_")] = value  # the core says which values work
        elif prog == "edit":
            raise UsageError(f"%cron edit: unknown option {word!r}; usage: %cron edit {edit_usage()}")
        else:
            raise UsageError(f"%cron create: unknown option {word!r}; options are {create_usage()}")
    return opts, rest


def looks_like_value(option: Option, word: str) -> bool:
    """Whether the word after an optional-valued flag is its value (else it is the schedule)."""
    try:
        option.parse(word)
    except (ValueError, OverflowError):
        return False
    return True


def _read(option: Option, value: str, prog: str) -> Any:
    example = f"e.g. {option.flag} {option.example}"
    if not value:
        raise UsageError(f"%cron {prog}: {option.flag} needs a value, {example}")
    try:
        return option.parse(value)
    except (ValueError, OverflowError):
        raise UsageError(f"%cron {prog}: {option.flag} takes {option.takes}, got {value!r}; {example}") from None


_WAIT_LINE = re.compile(
    r"^(?P<lhs>(?:[A-Za-z_][A-Za-z0-9_]*\s*=\s*)?)get_ipython\(\)\.run_line_magic\('cron', (?P<arg>.+)\)\s*$"
)


_MAGIC = "get_ipython().find_magic('cron').__self__"  # the CronMagics instance
_WAIT_CALL = f"await {_MAGIC}.wait_line"
_WAIT_BLOCKING = f"{_MAGIC}.wait_line_blocking"


def wait_transformer(lines: list[str]) -> list[str]:
    """Turn a top-level ``%cron wait ...`` into an ``await`` of ``CronMagics.wait_line``.

    A line magic cannot await, but a cell that awaits lets the kernel's loop
    run, and that is what lets jobs fire while the cell waits. Where the cell
    cannot await (the body of ``%%time`` or ``%%capture``, ``%time %cron wait``,
    ``%autoawait off``), the line becomes a call that drives the scheduler itself.
    """
    out = []
    call: str | None = None
    for line in lines:
        m = _WAIT_LINE.match(line.rstrip("\n"))
        if m:
            try:
                arg = ast.literal_eval(m.group("arg"))
            except (ValueError, SyntaxError):
                arg = None
            if isinstance(arg, str) and (arg == "wait" or arg.startswith("wait ")):
                call = call or (_WAIT_CALL if _can_await() else _WAIT_BLOCKING)
                line = f"{m.group('lhs')}{call}({arg[4:].strip()!r})\n"
        out.append(line)
    return out


def _can_await() -> bool:
    from IPython import get_ipython

    shell = get_ipython()
    magic = shell.find_magic("cron") if shell is not None else None
    owner = getattr(magic, "__self__", None)
    return owner is None or not hasattr(owner, "can_await") or owner.can_await()
