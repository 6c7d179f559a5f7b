"""Schedules are functions of time: ``next_after(instant) -> instant`` (SPEC §2).

Cron is read and walked here, by the man page, in *wall-clock* time (no
croniter: its releases disagree with cron and with each other; 7.0 reads
``5-5`` as ``*``, 1.4 skips March 1st for ``*/5`` in the day field). Turning a
wall time into an instant is done here too, with the classic cron DST rules:

* a *fixed-time* job (no ``*`` at the start of its minute or hour field, like
  Vixie cron) whose wall time falls in a spring-forward gap runs once, at the
  first valid instant after the gap; in a fall-back fold it runs once, at the
  first of the two instants;
* a *wildcard* job (``*/15 * * * *``, ``0 * * * *``, ``@hourly``) and every
  ``@every`` job follow elapsed time: gap wall times do not exist, fold wall
  times happen twice.
"""

from __future__ import annotations

import bisect
import calendar
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ScheduleError

# No zone shifts its offset by more than this in one transition; wall times
# further than this from an instant cannot map to either side of it.
_MAX_SHIFT = timedelta(hours=3)

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
MAX_EVERY_DAYS = 3650
_LAST = datetime(9998, 12, 31, tzinfo=UTC)  # room for any zone's offset before datetime.max
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ACCEPTED = (
    'use 5-field cron ("*/5 * * * *"), a macro (@hourly @daily @weekly @monthly '
    "@yearly), or @every DURATION (@every 10s, @every 1h30m)"
)


@lru_cache(maxsize=256)
def get_zone(name: str | None) -> ZoneInfo:
    """An IANA zone by name; None or "" means the machine's local zone."""
    if not name:
        return ZoneInfo(local_zone_name())
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown timezone {name!r}; use an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York'"
        ) from None


def local_zone_name() -> str:
    """The local IANA zone name; UTC only when the machine says so (never as a silent guess).

    A ``TZ`` that names no IANA zone (a POSIX rule such as ``CET-1CEST,M3.5.0,M10.5.0/3``)
    is refused: tzlocal would fall back to /etc/localtime, and ``0 9 * * *`` would run at
    09:00 of some other zone.
    """
    tz = os.environ.get("TZ")
    if tz:
        name = tz.removeprefix(":")
        if "/zoneinfo/" in name:  # TZ=/usr/share/zoneinfo/Europe/Paris
            name = name.split("/zoneinfo/", 1)[1]
        try:
            ZoneInfo(name)
            return name
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise ScheduleError(
                f"the kernel's time zone TZ={tz!r} is not an IANA zone name, so loopal_ipy cannot tell "
                "what wall time it means; give --tz (e.g. --tz Europe/Paris) or set "
                "%config Cron.timezone = 'Europe/Paris'"
            ) from None
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:
        name = None
    return name or "UTC"


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"need a timezone-aware datetime, got naive {t!r}")
    return t


class Schedule(ABC):
    """When a job is due: a pure function from an instant to the next one."""

    text: str
    tz: ZoneInfo

    @abstractmethod
    def next_after(self, t: datetime) -> datetime:
        """The first occurrence strictly after ``t`` (aware, in UTC)."""

    @abstractmethod
    def describe(self) -> str:
        """Plain English, e.g. 'Every 5 minutes'."""

    def note_for(self, occurrence: datetime) -> str | None:
        """A DST remark about this occurrence, if the clock change moved it."""
        return None

    def count_between(self, after: datetime, upto: datetime, cap: int = 1000) -> int:
        """How many occurrences lie in (after, upto], counting at most ``cap``."""
        n, t = 0, after
        while n < cap:
            t = self.next_after(t)
            if t > upto:
                break
            n += 1
        return n

    def last_at_or_before(self, upto: datetime, after: datetime) -> datetime | None:
        """The latest occurrence in (after, upto], or None."""
        last, t = None, after
        for _ in range(100_000):
            t = self.next_after(t)
            if t > upto:
                return last
            last = t
        return last


@dataclass(frozen=True, slots=True)
class EverySchedule(Schedule):
    """``@every DURATION``: anchor + k·interval, k ≥ 1, no drift."""

    text: str
    interval: timedelta
    anchor: datetime
    tz: ZoneInfo

    def next_after(self, t: datetime) -> datetime:
        k = (_aware(t) - self.anchor) // self.interval + 1
        return (self.anchor + max(k, 1) * self.interval).astimezone(UTC)

    def count_between(self, after: datetime, upto: datetime, cap: int = 1000) -> int:
        if upto <= after:
            return 0
        first = self.next_after(after)
        if first > upto:
            return 0
        return min(cap, (upto - first) // self.interval + 1)

    def last_at_or_before(self, upto: datetime, after: datetime) -> datetime | None:
        n = self.count_between(after, upto, cap=2**62)
        return self.next_after(after) + (n - 1) * self.interval if n else None

    def describe(self) -> str:
        return f"Every {_spell_duration(self.interval)}"


@dataclass(frozen=True, slots=True)
class CronSchedule(Schedule):
    """Five-field POSIX/Vixie cron in one IANA zone."""

    text: str
    expr: str
    tz: ZoneInfo
    fixed_time: bool
    day_or: bool
    values: tuple[frozenset[int], ...]  # minute, hour, day of month, month, weekday (0 = Sunday)

    def _walls(self, start: datetime):
        """Matching wall times (naive, whole minutes) strictly after ``start``, in order."""
        wall = start
        while True:
            wall = _next_wall(self, wall)
            yield wall

    def _instants(self, wall: datetime) -> list[datetime]:
        """The instants a matching wall time stands for (0, 1 or 2 of them)."""
        first = wall.replace(tzinfo=self.tz, fold=0)
        second = wall.replace(tzinfo=self.tz, fold=1)
        if first.utcoffset() == second.utcoffset():
            return [first.astimezone(UTC)]
        a, b = first.astimezone(UTC), second.astimezone(UTC)
        if a.astimezone(self.tz).replace(tzinfo=None) == wall:  # fold: it happens twice
            return [a] if self.fixed_time else sorted((a, b))
        # gap: the wall time never happens
        return [_transition(self.tz, min(a, b), max(a, b))] if self.fixed_time else []

    def next_after(self, t: datetime) -> datetime:
        return _cron_next(self, _aware(t).astimezone(UTC))

    def count_between(self, after: datetime, upto: datetime, cap: int = 1000) -> int:
        return _cron_count(self, after, upto, cap)

    def _next_after(self, t: datetime) -> datetime:
        local = t.astimezone(self.tz)
        off = local.utcoffset()
        near = (
            (t - _MAX_SHIFT).astimezone(self.tz).utcoffset()
            == off
            == ((t + _MAX_SHIFT).astimezone(self.tz).utcoffset())
        )
        try:
            if near:  # no clock change within hours of t: the first match is the answer
                for wall in self._walls(local.replace(tzinfo=None)):
                    hits = [i for i in self._instants(wall) if i > t]
                    if hits:
                        return hits[0]
            best: datetime | None = None
            for wall in self._walls(local.replace(tzinfo=None) - _MAX_SHIFT):
                for i in self._instants(wall):
                    if i > t and (best is None or i < best):
                        best = i
                if best is not None and wall > best.astimezone(self.tz).replace(tzinfo=None) + _MAX_SHIFT:
                    return best
        except _NeverError:
            raise ScheduleError(f"{self.text!r} never matches a real date; {_ACCEPTED}") from None
        raise AssertionError("unreachable")  # pragma: no cover - generators are endless

    def note_for(self, occurrence: datetime) -> str | None:
        local = occurrence.astimezone(self.tz)
        just_before = (occurrence - timedelta(seconds=1)).astimezone(self.tz)
        sprang = just_before.utcoffset() < local.utcoffset()
        if sprang and self.fixed_time and not _matches(self, local):
            return (
                f"clocks spring forward to {local:%H:%M} {local.tzname()}: the skipped wall "
                "time runs once, at the first valid instant after it"
            )
        if local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset():
            return None
        if self.fixed_time:
            return (
                f"{local:%H:%M} happens twice this day (clocks fall back): runs once, at the first ({local.tzname()})"
            )
        return f"clocks fall back: {local:%H:%M} {local.tzname()} is the {'second' if local.fold else 'first'} of two"

    def describe(self) -> str:
        return describe_cron(self.expr)


class _NeverError(Exception):
    """No wall time matches within 400 years (the Gregorian calendar's whole cycle)."""


_CYCLE_MONTHS = 400 * 12


def _next_wall(sched: CronSchedule, after: datetime) -> datetime:
    """The first matching wall minute strictly after ``after`` (naive)."""
    minutes, hours = _sorted(sched.values[0]), _sorted(sched.values[1])
    days, months, weekdays = sched.values[2], sched.values[3], sched.values[4]
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    year, month, day, hour, minute = t.year, t.month, t.day, t.hour, t.minute
    for _ in range(_CYCLE_MONTHS):
        if month in months:
            last = calendar.monthrange(year, month)[1]
            weekday = (calendar.weekday(year, month, day) + 1) % 7  # cron counts from Sunday = 0
            while day <= last:
                on_day, on_weekday = day in days, weekday in weekdays
                if (on_day or on_weekday) if sched.day_or else (on_day and on_weekday):
                    at = _first_time(hours, minutes, hour, minute)
                    if at is not None:
                        return datetime(year, month, day, *at)
                day, weekday, hour, minute = day + 1, (weekday + 1) % 7, 0, 0
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day, hour, minute = 1, 0, 0
        if year > 9999:
            raise OverflowError("past the year 9999")
    raise _NeverError


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


@lru_cache(maxsize=4096)
def _cron_next(sched: CronSchedule, t: datetime) -> datetime:
    # Rehydrating many jobs asks the same (schedule, now) again and again.
    return sched._next_after(t)


@lru_cache(maxsize=1024)
def _cron_count(sched: CronSchedule, after: datetime, upto: datetime, cap: int) -> int:
    return Schedule.count_between(sched, after, upto, cap)


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 happens, in leap years


def _expand_field(index: int, field: str, text: str) -> frozenset[int]:
    """One field's values, by the man page (ranges, lists, steps, names; weekday 7 is Sunday).

    Ours, not croniter's: croniter 7.0 reads ``5-5`` as ``*`` and 1.4 ANDs ``2 * 0,*/1``.
    """
    name = _FIELDS[index]
    low, high = _FIELD_RANGES[index]
    top = 7 if index == 4 else high
    names = {w: i + low for i, w in enumerate(_NAME_ORDER.get(name, ()))}

    def bad(why: str) -> ScheduleError:
        return ScheduleError(f"invalid cron expression {text!r}: {name} field {field!r}: {why}; {_ACCEPTED}")

    def value(word: str) -> int:
        v = names.get(word.upper()) if not word.isdigit() else int(word)
        if v is None:
            raise bad(f"{word!r} is not a value")
        if not low <= v <= top:
            raise bad(f"{v} is out of range {low}-{top}")
        return v

    out: set[int] = set()
    for part in field.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not 0 < int(step_text) <= top - low + 1:
                raise bad(f"step {step_text!r} must be a whole number from 1 to {top - low + 1}")
            step = int(step_text)
        if body == "*":
            a, b = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            a, b = value(first), value(last)
            if a > b:
                raise bad(f"range {body} runs backwards; write it as two ranges ({first}-{top},{low}-{last})")
        else:
            a = b = value(body)
        out.update(v % 7 if index == 4 else v for v in range(a, b + 1, step))
    return frozenset(out)


def _a_date_exists(values: tuple[frozenset[int], ...]) -> bool:
    """Whether some month of the expression has one of its days (``0 0 30 2 *`` never fires)."""
    return any(d <= _MONTH_DAYS[m - 1] for m in values[3] for d in values[2])


def _matches(sched: CronSchedule, local: datetime) -> bool:
    minutes, hours, days, months, weekdays = sched.values
    day, weekday = local.day in days, (local.isoweekday() % 7) in weekdays
    return (
        local.minute in minutes
        and local.hour in hours
        and local.month in months
        and ((day or weekday) if sched.day_or else (day and weekday))
    )


def _transition(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The instant in (lo, hi] where the zone's offset changes (bisection)."""
    target = hi.astimezone(tz).utcoffset()
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


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

        options = Options()
        options.use_24hour_time_format = True
        return get_description(_honest_steps(expr), options)
    except Exception:
        return expr


def _spell_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, s = divmod(s, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " ".join(parts)


def parse_duration(text: str) -> timedelta:
    """``10s``, ``5m``, ``1h30m``, ``2d`` → timedelta (whole seconds, ≥ 1 s)."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip():
        raise ScheduleError("@every needs a duration, e.g. @every 10s, @every 5m or @every 1h30m")
    if not m or not any(m.groups()):
        hint = f"; did you mean @every {text.strip()}s?" if text.strip().isdigit() else ""
        raise ScheduleError(
            f"bad duration {text.strip()!r}: write whole numbers with units d, h, m, s "
            f"in that order, e.g. 10s, 5m, 1h30m{hint}"
        )
    if any(g and len(g) > 7 for g in m.groups()):
        raise ScheduleError(f"@every {_clip(text)} is too long: the longest is @every {MAX_EVERY_DAYS}d (ten years)")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    total = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    if total > timedelta(days=MAX_EVERY_DAYS):
        raise ScheduleError(f"@every {_clip(text)} is too long: the longest is @every {MAX_EVERY_DAYS}d (ten years)")
    if total < timedelta(seconds=1):
        raise ScheduleError(f"@every {text.strip()} is too short: the minimum is @every 1s")
    return total


def _clip(text: str, limit: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_cron_fields(fields: list[str], text: str) -> None:
    if len(fields) == 6:
        raise ScheduleError("6 fields given; cron takes 5 — for sub-minute schedules use @every 1s")
    if len(fields) != 5:
        raise ScheduleError(
            f"{len(fields)} field{'s' if len(fields) != 1 else ''} given in {text!r}; "
            f"cron takes 5 (minute hour day-of-month month day-of-week) — {_ACCEPTED}"
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


def parse_schedule(text: str, tz: str | None = None, *, anchor: datetime | None = None) -> Schedule:
    """Parse and validate a schedule string; raise ScheduleError saying what would work.

    ``anchor`` is the job's creation instant: ``@every`` occurrences are
    ``anchor + k·interval``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(f"no schedule given; {_ACCEPTED}")
    text = text.strip()
    zone = get_zone(tz)
    low = text.lower()
    if low == "@every" or low.startswith("@every "):
        interval = parse_duration(text[len("@every") :])
        start = anchor if anchor is not None else datetime.now(UTC)
        return EverySchedule(text=text, interval=interval, anchor=_aware(start).astimezone(UTC), tz=zone)
    return _parse_cron(text, zone)


@lru_cache(maxsize=1024)
def _parse_cron(text: str, zone: ZoneInfo) -> CronSchedule:
    """Cron schedules are immutable values: jobs with the same text and zone share one."""
    low = text.lower()
    if low.startswith("@"):
        if low.split()[0] == "@reboot":
            raise ScheduleError(
                "@reboot is not supported: durable jobs already come back after a restart; " + _ACCEPTED
            )
        expr = MACROS.get(low)
        if expr is None:
            raise ScheduleError(f"unknown macro {text!r}; {_ACCEPTED}")
    else:
        expr = text
    fields = expr.split()
    _check_cron_fields(fields, text)
    expr = " ".join(fields)
    dom, dow = fields[2], fields[4]
    values = tuple(_expand_field(i, f, text) for i, f in enumerate(fields))
    # Vixie: if either day field starts with '*', the two are ANDed; else ORed.
    day_or = not (dom.startswith("*") or dow.startswith("*"))
    if not day_or and dom != "*" and not _a_date_exists(values):
        raise ScheduleError(
            f"{text!r} never matches a real date (day-of-month {dom} does not occur in month "
            f"{fields[3]}); pick a day that exists, e.g. 28 for February"
        )
    fixed = not (fields[0].startswith("*") or fields[1].startswith("*"))
    sched = CronSchedule(text=text, expr=expr, tz=zone, fixed_time=fixed, day_or=day_or, values=values)
    sched.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # impossible dates raise here
    return sched


def next_fires(schedule: str, n: int = 5, tz: str | None = None, start: datetime | str | None = None) -> list[datetime]:
    """The next ``n`` occurrences after ``start`` (default now) as aware datetimes in ``tz``."""
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    zone = get_zone(tz)
    if start is None:
        start = datetime.now(UTC)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    sched = parse_schedule(schedule, tz, anchor=start)
    out, t = [], start
    try:
        for _ in range(max(0, n)):
            t = sched.next_after(t)
            if t > _LAST:
                raise OverflowError
            out.append(t.astimezone(zone))
    except (OverflowError, ValueError, _NeverError):
        if not out:
            raise ScheduleError(
                f"{_clip(schedule)} has no occurrence after {start.isoformat(timespec='minutes')} before the "
                "year 9999; pick an earlier --from"
            ) from None
    return out
