"""Five-field cron on wall-clock time, by the man page (docs/schedules.md): fields, values, the next match.

Ours, not croniter's: its releases disagree with cron and with each other (7.0 reads
``5-5`` as ``*``; 1.4 ANDs ``* * 2 * 0,*/1`` and skips March 1st for ``* * */5 * *``),
and the meaning of a schedule must not depend on which one is installed. Time zones
and DST are schedule.py's: everything here is naive wall time.
"""

from __future__ import annotations

import bisect
import calendar
import re
from datetime import datetime, timedelta
from functools import lru_cache

from .errors import ScheduleError

Values = tuple[frozenset[int], ...]  # minute, hour, day of month, month, weekday (0 = Sunday)

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))  # weekday 7 is read as 0, Sunday


_NAME_ORDER = {
    "month": ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    "day-of-week": ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
}


_NAMES = {field: set(words) for field, words in _NAME_ORDER.items()}


_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*,/-]+$")


_NUMBER_STEP = re.compile(r"(?:^|,)(\d+|[A-Za-z]{3})/\d+")


ACCEPTED = (
    'use 5-field cron ("*/5 * * * *"), a macro (@hourly @daily @weekly @monthly '
    "@yearly), or @every DURATION (@every 10s, @every 1h30m)"
)


class NeverError(Exception):
    """No wall time matches within 400 years (the Gregorian calendar's whole cycle)."""


_CYCLE_MONTHS = 400 * 12


def next_wall(values: Values, day_or: bool, after: datetime) -> datetime:
    """The first matching wall minute strictly after ``after`` (naive)."""
    minutes, hours = _sorted(values[0]), _sorted(values[1])
    days, months, weekdays = values[2], values[3], values[4]
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    year, month, day, hour, minute = t.year, t.month, t.day, t.hour, t.minute
    for _ in range(_CYCLE_MONTHS):
        if month in months:
            last = calendar.monthrange(year, month)[1]
            weekday = (calendar.weekday(year, month, day) + 1) % 7  # cron counts from Sunday = 0
            while day <= last:
                on_day, on_weekday = day in days, weekday in weekdays
                if (on_day or on_weekday) if day_or else (on_day and on_weekday):
                    at = _first_time(hours, minutes, hour, minute)
                    if at is not None:
                        return datetime(year, month, day, *at)
                day, weekday, hour, minute = day + 1, (weekday + 1) % 7, 0, 0
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day, hour, minute = 1, 0, 0
        if year > 9999:
            raise OverflowError("past the year 9999")
    raise NeverError


def _first_time(hours: tuple[int, ...], minutes: tuple[int, ...], hour: int, minute: int) -> tuple[int, int] | None:
    """The first (hour, minute) of the schedule at or after ``hour:minute`` on one day."""
    i = bisect.bisect_left(hours, hour)
    if i < len(hours) and hours[i] == hour:
        j = bisect.bisect_left(minutes, minute)
        if j < len(minutes):
            return hour, minutes[j]
        i += 1
    return (hours[i], minutes[0]) if i < len(hours) else None


@lru_cache(maxsize=4096)
def _sorted(values: frozenset[int]) -> tuple[int, ...]:
    return tuple(sorted(values))


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 happens, in leap years


def expand_field(index: int, field: str, text: str) -> frozenset[int]:
    """One field's values, by the man page (ranges, lists, steps, names; weekday 7 is Sunday).

    Ours, not croniter's: croniter 7.0 reads ``5-5`` as ``*`` and 1.4 ANDs ``2 * 0,*/1``.
    """
    values = _field_values(index, field)
    if isinstance(values, str):
        raise ScheduleError(f"invalid cron expression {text!r}: {_FIELDS[index]} field {field!r}: {values}; {ACCEPTED}")
    return values


class _BadField(Exception):
    pass


@lru_cache(maxsize=4096)
def _field_values(index: int, field: str) -> frozenset[int] | str:
    """The values, or why the field is wrong (cached: 10,000 jobs share a few hundred fields)."""
    try:
        return _expand(index, field)
    except _BadField as e:
        return str(e)


def _expand(index: int, field: str) -> frozenset[int]:
    name = _FIELDS[index]
    low, high = _FIELD_RANGES[index]
    top = 7 if index == 4 else high
    names = {w: i + low for i, w in enumerate(_NAME_ORDER.get(name, ()))}

    def value(word: str) -> int:
        v = names.get(word.upper()) if not word.isdigit() else int(word)
        if v is None:
            raise _BadField(f"{word!r} is not a value")
        if not low <= v <= top:
            raise _BadField(f"{v} is out of range {low}-{top}")
        return v

    out: set[int] = set()
    for part in field.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not 0 < int(step_text) <= top - low + 1:
                raise _BadField(f"step {step_text!r} must be a whole number from 1 to {top - low + 1}")
            step = int(step_text)
        if body == "*":
            a, b = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            a, b = value(first), value(last)
            if a > b:
                raise _BadField(f"range {body} runs backwards; write it as two ranges ({first}-{top},{low}-{last})")
        else:
            a = b = value(body)
        out.update(v % 7 if index == 4 else v for v in range(a, b + 1, step))
    return frozenset(out)


def a_date_exists(values: Values) -> bool:
    """Whether some month of the expression has one of its days (``0 0 30 2 *`` never fires)."""
    return any(d <= _MONTH_DAYS[m - 1] for m in values[3] for d in values[2])


def matches(values: Values, day_or: bool, local: datetime) -> bool:
    minutes, hours, days, months, weekdays = values
    day, weekday = local.day in days, (local.isoweekday() % 7) in weekdays
    return (
        local.minute in minutes
        and local.hour in hours
        and local.month in months
        and ((day or weekday) if day_or else (day and weekday))
    )


_STAR_STEP = re.compile(r"^\*/(\d+)$")


def _honest_steps(expr: str) -> str:
    """``*/45`` fires at :00 and :45, not every 45 minutes: spell out steps that do not divide their field."""
    fields = expr.split()
    if len(fields) != 5:
        return expr
    for i, (low, high) in enumerate(_FIELD_RANGES):
        m = _STAR_STEP.match(fields[i])
        if m is None:
            continue
        step = int(m.group(1))
        if 0 < step <= high - low and (high - low + 1) % step:
            fields[i] = ",".join(str(v) for v in range(low, high + 1, step))
    return " ".join(fields)


@lru_cache(maxsize=1024)
def describe_cron(expr: str) -> str:
    try:
        from cron_descriptor import Options, get_description

        options = Options(locale_code="en_US", use_24hour_time_format=True)  # English, as all our messages
        description: str = get_description(_honest_steps(expr), options)  # cron_descriptor ships no types
        return description
    except Exception:
        return expr


def check_cron_fields(fields: list[str], text: str) -> None:
    if len(fields) == 6:
        raise ScheduleError("6 fields given; cron takes 5 — for sub-minute schedules use @every 1s")
    if len(fields) != 5:
        raise ScheduleError(
            f"{len(fields)} field{'s' if len(fields) != 1 else ''} given in {text!r}; "
            f"cron takes 5 (minute hour day-of-month month day-of-week) — {ACCEPTED}"
        )
    for name, field in zip(_FIELDS, fields, strict=False):
        if not _FIELD_CHARS.match(field):
            raise ScheduleError(
                f"{name} field {field!r} has characters cron does not take; use numbers, names (MON, JAN), * , - and /"
            )
        words = {w.upper() for w in re.findall(r"[A-Za-z]+", field)}
        allowed = _NAMES.get(name, set())
        if words - allowed:
            odd = ", ".join(sorted(words - allowed))
            raise ScheduleError(
                f"{name} field {field!r}: {odd} is not standard cron here (no L, W, H, # "
                "extensions); use numbers, ranges, lists, steps" + (" and 3-letter names" if allowed else "")
            )
        bad_step = _NUMBER_STEP.search(field)
        if bad_step:
            start = bad_step.group(1)
            raise ScheduleError(
                f"{name} field {field!r}: a step needs a range or * before it "
                f"(write {start}-<last>/N or */N), not a single value"
            )
