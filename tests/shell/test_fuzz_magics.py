"""Every ``%cron`` line is accepted or is one one-line ``UsageError`` that changes nothing (docs/configuration.md).

A real ``InteractiveShell`` with a real scheduler (the shell poses as a kernel:
the extension builds its bridge on a loop that is not running, so nothing
fires on its own) takes 20,000+ generated lines: grammar-shaped ones built from
the words users and attackers type (flags, schedules, quotes left open,
backslashes, huge numbers, far dates, surrogates, deep expressions) and raw
text. Any other exception, a second line in a message, or a rejected line that
changed the jobs, the settings or the store's bytes fails the test.
"""

from __future__ import annotations

import sys
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

SUBCOMMANDS = ["create", "list", "delete", "pause", "resume", "run", "log", "wait", "next", "session", "help"]
WORDS = [
    "--once",
    "--durable",
    "--name",
    "--tz",
    "--timeout",
    "--all",
    "--runs",
    "-n",
    "--from",
    "--adopt",
    "--to",
    "-",
    "--",
    "=",
    "--name=",
    "--tz=UTC",
    "--timeout=nan",
    "--timeout=inf",
    "--timeout=-1",
    "--timeout=1e308",
    '"*/5 * * * *"',
    '"* * * * * *"',
    '"0 0 30 2 *"',
    '"59/15 * * * *"',
    '"@every 1s"',
    '"@every 0s"',
    '"@every 1000000000d"',
    '"@every 99999999999999d"',
    "@every",
    "10s",
    "@daily",
    "@reboot",
    "@yearly",
    '"@every 1h30m"',
    "'@hourly'",
    '"',
    "'",
    '"unterminated',
    "'open",
    "\\",
    "trailing\\",
    '"a\\"b"',
    "UTC",
    "Europe/Berlin",
    "Mars/Olympus",
    "America/New_York",
    "",
    " ",
    "\t",
    "9999-12-31T23:59",
    "9999-06-01",
    "0001-01-01",
    "2026-03-08T02:30",
    "not-a-date",
    "1e400",
    "0",
    "1",
    "-1",
    "1000000",
    "99999999999999999999",
    "nan",
    "inf",
    "x",
    "keeper",
    "ab12cd34",
    "x=1",
    "pass",
    "1/0",
    "print('hi')",
    "'\ud800'",
    "café",
    "a b",
    "a/b",
    "..",
    "../../etc",
    "%cron list",
]
CODES = ["1+" * 30000 + "1", "-" * 60000 + "1", "(" * 5000, "x = '\udcff'", "await asyncio.sleep(0)", "yield 1"]


def line_strategy() -> st.SearchStrategy[str]:
    word = st.one_of(st.sampled_from(WORDS), st.text(min_size=0, max_size=6))
    shaped = st.builds(
        lambda sub, words: " ".join([sub, *words]),
        st.sampled_from([*SUBCOMMANDS, "frobnicate", "CREATE", ""]),
        st.lists(word, max_size=7),
    )
    huge_code = st.builds(lambda code: f'create "@every 10s" {code}', st.sampled_from(CODES))
    return st.one_of(shaped, shaped, shaped, huge_code, st.text(max_size=40))


def snapshot(shell) -> tuple:
    import loopal_ipy

    sched = loopal_ipy.get_scheduler()
    jobs = tuple(
        (j.id, j.name, j.schedule, j.code, j.tz, j.paused, j.durable, j.recurring, j.timeout, j.runs)
        for j in sched.jobs()
    )
    store = sched.store.store if sched.store is not None else None
    raw = store.path.read_bytes() if store is not None and store.path.exists() else b""
    return jobs, sched.core.settings, sched.store.info.id if sched.store.info else None, raw


def test_twenty_thousand_lines_are_accepted_or_one_clean_usage_error(kshell) -> None:
    import loopal_ipy

    seen: Counter[str] = Counter()

    @settings(
        max_examples=20_000,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(line_strategy(), st.booleans())
    def check(line: str, as_cell: bool) -> None:
        sched = loopal_ipy.get_scheduler()
        if len(sched.jobs()) > 30:  # keep room: a full session only ever says "limit"
            for job in sched.jobs()[1:]:
                sched.delete(job.id)
        sched.flush()
        before = snapshot(kshell)
        try:
            if as_cell and line.startswith("create"):
                head, _, body = line.partition(" ")
                kshell.run_cell_magic("cron", head + " " + body.split(" ")[0] if body else head, body or "pass")
            else:
                kshell.run_line_magic("cron", line)
        except UsageError as e:
            message = str(e)
            shown = repr(line[:120])
            assert message and "\n" not in message, f"{shown}: more than one line: {message[:300]!r}"
            sched.flush()
            assert snapshot(kshell) == before, f"{shown} was refused ({message[:200]}) but changed the state"
            seen["refused"] += 1
            return
        except Exception as e:  # anything but a UsageError is a defect
            raise AssertionError(f"{line[:120]!r} raised {type(e).__name__}: {str(e)[:300]}") from None
        seen["accepted"] += 1

    check()
    total = seen["accepted"] + seen["refused"]
    print(f"%cron fuzz: {total} lines, {seen['accepted']} accepted, {seen['refused']} refused", file=sys.stderr)
    assert total >= 20_000
    assert seen["accepted"] >= 1_000 and seen["refused"] >= 1_000  # both kinds really exercised
