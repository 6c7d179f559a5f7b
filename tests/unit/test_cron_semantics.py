"""The cron semantics are ours (docs/schedules.md): checked against a plain reading of Vixie cron.

This test is why loopal_ipy walks cron itself: with croniter 7.0 ``* * 20-20 * *`` fired every
minute of every day, and croniter 1.4.1 (what jupyter-scheduler 2.12 pins) ANDed ``* * 2 * 0,*/1``
and skipped March 1st for ``* * */5 * *``. The examples below are those cases.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loopal_ipy.core.errors import ScheduleError
from loopal_ipy.core.schedule import parse_schedule

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def _part(draw, field: int) -> str:
    low, high = _RANGES[field]
    names = _MONTHS if field == 3 else _DAYS if field == 4 else None

    def value(v: int) -> str:
        if names and draw(st.booleans()):
            return names[v - low]
        return str(v)

    kind = draw(st.sampled_from(["star", "star-step", "value", "range", "range-step"]))
    if kind == "star":
        return "*"
    if kind == "star-step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    a = draw(st.integers(low, high))
    if kind == "value":
        return value(a)
    b = draw(st.integers(a, high))
    if kind == "range":
        return f"{value(a)}-{value(b)}"
    return f"{a}-{b}/{draw(st.integers(1, high - low + 1))}"


@st.composite
def _field(draw, field: int) -> str:
    parts = draw(st.lists(_part(field), min_size=1, max_size=3))
    return "*" if "*" in parts and len(parts) > 1 else ",".join(parts)


_EXPRS = st.tuples(*(_field(i) for i in range(5))).map(" ".join)


def _values(field: int, text: str) -> set[int]:
    low, high = _RANGES[field]
    names = {n: i + low for i, n in enumerate(_MONTHS if field == 3 else _DAYS)} if field >= 3 else {}
    out: set[int] = set()
    for part in text.split(","):
        body, _, step = part.partition("/")
        if body == "*":
            a, b = low, high
        elif "-" in body:
            x, y = body.split("-")
            a, b = (names[v] if v in names else int(v) for v in (x, y))
        else:
            a = b = names[body] if body in names else int(body)
        out.update(range(a, b + 1, int(step) if step else 1))
    return out


def _oracle(expr: str, after: datetime) -> datetime | None:
    """Vixie cron, read off the man page: the first whole minute after ``after`` (UTC) that matches,
    looked for over the Gregorian calendar's whole 400-year cycle (``* * */7 */12 3`` waits 11 years)."""
    f = expr.split()
    minutes, hours, doms, months, dows = (_values(i, f[i]) for i in range(5))
    day_or = not (f[2].startswith("*") or f[4].startswith("*"))
    year, month = after.year, after.month
    for _ in range(400 * 12):
        if month in months:
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                dow = (calendar.weekday(year, month, day) + 1) % 7  # cron: 0 is Sunday
                dom_ok, dow_ok = day in doms, dow in dows
                if not ((dom_ok or dow_ok) if day_or else (dom_ok and dow_ok)):
                    continue
                for h in sorted(hours):
                    for m in sorted(minutes):
                        t = datetime(year, month, day, h, m, tzinfo=UTC)
                        if t > after:
                            return t
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=_EXPRS,
    start=st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2040, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
@example(expr="* * 20-20 * *", start=datetime(2000, 1, 1, tzinfo=UTC))
@example(expr="0 9 * * 5-5", start=datetime(2026, 11, 30, tzinfo=UTC))
@example(expr="* * 2 * 0,*/1", start=datetime(2000, 1, 1, tzinfo=UTC))
@example(expr="* * */5 * *", start=datetime(2000, 2, 27, tzinfo=UTC))
@example(expr="* * 30 2 0", start=datetime(2000, 1, 1, tzinfo=UTC))
@example(expr="0 0 29 2 1", start=datetime(2000, 1, 1, tzinfo=UTC))
@example(expr="* * */7 */12 3", start=datetime(2003, 2, 1, tzinfo=UTC))
def test_next_fire_is_what_vixie_cron_says(expr: str, start: datetime) -> None:
    expected = _oracle(expr, start)
    try:
        sched = parse_schedule(expr, "UTC")
    except ScheduleError as e:  # refused only when no date can match (30 2, 31 4...)
        assert "never matches a real date" in str(e), (expr, str(e))
        assert expected is None, (expr, expected)
        return
    assert expected is not None, expr
    assert sched.next_after(start) == expected, (expr, start)


def test_the_oracle_itself_reads_cron() -> None:
    """The oracle is code too: a few hand-checked answers."""
    t = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday
    assert _oracle("*/15 * * * *", t) == datetime(2026, 11, 30, 12, 15, tzinfo=UTC)
    assert _oracle("0 9 * * MON-FRI", t) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert _oracle("0 0 13 * FRI", t) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 13th OR Friday
    assert _oracle("0 0 30 2 *", t) is None
    assert _oracle("* * */7 */12 3", datetime(2003, 2, 1, tzinfo=UTC)) == datetime(2014, 1, 1, tzinfo=UTC)
    assert calendar.weekday(2026, 12, 4) == calendar.FRIDAY
