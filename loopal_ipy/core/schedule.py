"""Schedules are functions of time: ``next_after(instant) -> instant`` (docs/schedules.md).

Cron's fields are read and walked in *wall-clock* time by ``cronfields`` (by the
man page, not croniter). Turning a wall time into an instant is done here, with
the classic cron DST rules:

* a *fixed-time* job (no ``*`` at the start of its minute or hour field, like
  Vixie cron) whose wall time falls in a spring-forward gap runs once, at the
  first valid instant after the gap; in a fall-back fold it runs once, at the
  first of the two instants;
* a *wildcard* job (``*/15 * * * *``, ``0 * * * *``, ``@hourly``) and every
  ``@every`` job follow elapsed time: gap wall times do not exist, fold wall
  times happen twice.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .cronfields import (
    ACCEPTED,
    MACROS,
    NeverError,
    Values,
    a_date_exists,
    check_cron_fields,
    describe_cron,
    expand_field,
    matches,
    next_wall,
)
from .errors import ScheduleError

# No zone shifts its offset by more than this in one transition; wall times
# further than this from an instant cannot map to either side of it.
_MAX_SHIFT = timedelta(hours=3)

MAX_EVERY_DAYS = 3650
_LAST = datetime(9998, 12, 31, tzinfo=UTC)  # room for any zone's offset before datetime.max
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def get_zone(name: str | None) -> ZoneInfo:
    """An IANA zone by name; None or "" means the machine's local zone, looked up when asked
    (a kernel that sets ``os.environ['TZ']`` and calls ``time.tzset()`` sees its new zone)."""
    return _zone(name or local_zone_name())


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
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
    09:00 of some other zone. Cached per value of ``TZ``: cheap to ask on every create.
    """
    return _local_zone_name(os.environ.get("TZ"))


@lru_cache(maxsize=64)
def _local_zone_name(tz: str | None) -> str:
    if tz:
        name = _tz_zone_name(tz)
        if name is None:
            raise ScheduleError(
                f"the kernel's time zone TZ={tz!r} is not an IANA zone name, so loopal_ipy cannot tell "
                "what wall time it means; give --tz (e.g. --tz Europe/Paris) or set "
                "%config Cron.timezone = 'Europe/Paris'"
            )
        return name
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:
        name = None
    return name or "UTC"


def _tz_zone_name(tz: str) -> str | None:
    """The IANA name a ``TZ`` value stands for: ``Europe/Paris``, ``:Europe/Paris``, or a zone file's path
    (``:/etc/localtime``, common in containers; ``/usr/share/zoneinfo/Europe/Paris``); None for a POSIX
    rule such as ``CET-1CEST,M3.5.0,M10.5.0/3``, which names no zone."""
    name = tz.removeprefix(":")
    if name.startswith("/"):
        return _zone_file_name(name)
    return name if _is_zone(name) else None


def _zone_file_name(path: str) -> str | None:
    """A zone file's IANA name: the name under ``zoneinfo/`` its links lead to, else the zone whose file
    holds the same bytes (a copied ``/etc/localtime``)."""
    real = os.path.realpath(path)
    if "/zoneinfo/" in real:
        name = real.rsplit("/zoneinfo/", 1)[1]
        if _is_zone(name):
            return name
    try:
        with open(real, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    if not data.startswith(b"TZif"):
        return None
    same = [name for name, blob in _zone_files().items() if blob == data]
    return min(same, key=lambda n: (len(n), n)) if same else None  # UTC before Etc/UTC


@lru_cache(maxsize=1)
def _zone_files() -> dict[str, bytes]:
    """Every zone file of the system's zone database, by name (read once, only for a copied zone file)."""
    import zoneinfo

    files: dict[str, bytes] = {}
    for root in zoneinfo.TZPATH:
        for name in zoneinfo.available_timezones():
            if name in files:
                continue
            try:
                with open(os.path.join(root, name), "rb") as f:
                    files[name] = f.read(1 << 20)
            except OSError:
                continue
    return files


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        return False
    return True


def _offset(t: datetime) -> timedelta:
    """The UTC offset of an aware datetime (``utcoffset()`` is None only for a naive one)."""
    offset = t.utcoffset()
    assert offset is not None, t
    return offset


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
    values: Values

    def _walls(self, start: datetime) -> Iterator[datetime]:
        """Matching wall times (naive, whole minutes) strictly after ``start``, in order."""
        wall = start
        while True:
            wall = next_wall(self.values, self.day_or, wall)
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

    def last_at_or_before(self, upto: datetime, after: datetime) -> datetime | None:
        """The latest occurrence in (after, upto], by bisection over whole seconds: ``next_after`` never
        goes back as its argument grows, and occurrences lie on whole seconds a minute or more apart, so
        the latest second ``s`` with ``next_after(s) <= upto`` gives it, in ~26 steps for two years."""
        first = self.next_after(after)
        if first > upto:
            return None
        lo, hi = int(first.timestamp()) - 1, int(upto.timestamp())  # next_after(lo) = first <= upto
        if self.next_after(_at(hi)) <= upto:
            return self.next_after(_at(hi))
        while hi - lo > 1:  # next_after(lo) <= upto < next_after(hi)
            mid = (lo + hi) // 2
            if self.next_after(_at(mid)) <= upto:
                lo = mid
            else:
                hi = mid
        return self.next_after(_at(lo))

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
        except NeverError:
            raise ScheduleError(f"{self.text!r} never matches a real date; {ACCEPTED}") from None
        raise AssertionError("unreachable")  # pragma: no cover - generators are endless

    def note_for(self, occurrence: datetime) -> str | None:
        local = occurrence.astimezone(self.tz)
        just_before = (occurrence - timedelta(seconds=1)).astimezone(self.tz)
        sprang = _offset(just_before) < _offset(local)
        if sprang and self.fixed_time and not matches(self.values, self.day_or, local):
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


@lru_cache(maxsize=4096)
def _cron_next(sched: CronSchedule, t: datetime) -> datetime:
    # Rehydrating many jobs asks the same (schedule, now) again and again.
    return sched._next_after(t)


@lru_cache(maxsize=1024)
def _cron_count(sched: CronSchedule, after: datetime, upto: datetime, cap: int) -> int:
    return Schedule.count_between(sched, after, upto, cap)


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


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


def _spell_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, s = divmod(s, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " ".join(parts)


@lru_cache(maxsize=1024)  # a store's @every jobs share a few durations; only valid (short) ones are kept
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


def parse_schedule(text: str, tz: str | None = None, *, anchor: datetime | None = None) -> Schedule:
    """Parse and validate a schedule string; raise ScheduleError saying what would work.

    ``anchor`` is the job's creation instant: ``@every`` occurrences are
    ``anchor + k·interval``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(f"no schedule given; {ACCEPTED}")
    text = text.strip()
    bad = next((c for c in text if c < " " or c == "\x7f"), None)
    if bad is not None:  # a newline in a schedule would become a line of an exported crontab or run.sh
        raise ScheduleError(
            f"the schedule {_clip(text)} holds a control character ({bad!r}); write it on one line, "
            f"fields separated by spaces, e.g. '0 9 * * *'"
        )
    zone = get_zone(tz)
    low = text.lower()
    if low == "@every" or low.startswith("@every "):
        interval = parse_duration(text[len("@every") :])
        start = anchor if anchor is not None else datetime.now(UTC)
        return EverySchedule(text=text, interval=interval, anchor=_aware(start).astimezone(UTC), tz=zone)
    return _parse_cron(text, zone)


@lru_cache(maxsize=16384)  # a 10,000-job store of all-different schedules parses each once
def _parse_cron(text: str, zone: ZoneInfo) -> CronSchedule:
    """Cron schedules are immutable values: jobs with the same text and zone share one."""
    low = text.lower()
    if low.startswith("@"):
        if low.split()[0] == "@reboot":
            raise ScheduleError("@reboot is not supported: durable jobs already come back after a restart; " + ACCEPTED)
        expr = MACROS.get(low)
        if expr is None:
            raise ScheduleError(f"unknown macro {text!r}; {ACCEPTED}")
    else:
        expr = text
    fields = expr.split()
    check_cron_fields(fields, text)
    expr = " ".join(fields)
    dom, dow = fields[2], fields[4]
    values = tuple(expand_field(i, f, text) for i, f in enumerate(fields))
    # Vixie: if either day field starts with '*', the two are ANDed; else ORed.
    day_or = not (dom.startswith("*") or dow.startswith("*"))
    if not day_or and dom != "*" and not a_date_exists(values):
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
    except (OverflowError, ValueError, NeverError):
        if not out:
            raise ScheduleError(
                f"{_clip(schedule)} has no occurrence after {start.isoformat(timespec='minutes')} before the "
                "year 9999; pick an earlier --from"
            ) from None
    return out
