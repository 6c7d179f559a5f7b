"""Schedules per docs/schedules.md: forms, rejections, DST rules, Vixie day semantics."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from loopal_ipy.core.errors import ScheduleError
from loopal_ipy.core.schedule import get_zone, next_fires, parse_schedule

NY = "America/New_York"


def gaps(times: list[datetime]) -> set[timedelta]:
    # Same-tzinfo subtraction is wall-time arithmetic in Python: compare in UTC.
    utc = [t.astimezone(UTC) for t in times]
    return {b - a for a, b in itertools.pairwise(utc)}


def fires(expr: str, start: str, n: int = 4, tz: str = NY) -> list[str]:
    return [t.strftime("%m-%d %H:%M %Z") for t in next_fires(expr, n, tz, start)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * * * * *", r"^6 fields given; cron takes 5 — for sub-minute schedules use @every 1s$"),
        ("*/5 * * * * *", r"^6 fields given; cron takes 5"),
        ("* * *", r"^3 fields given in '\* \* \*'; cron takes 5"),
        ("", r"^no schedule given; use 5-field cron"),
        ("0 0 30 2 *", r"never matches a real date"),
        ("0 0 31 4,6 *", r"never matches a real date"),
        ("61 * * * *", r"^invalid cron expression '61 \* \* \* \*'"),
        ("*/0 * * * *", r"^invalid cron expression"),
        ("@every 0s", r"^@every 0s is too short: the minimum is @every 1s$"),
        ("@every", r"^@every needs a duration"),
        ("@every 10", r"did you mean @every 10s\?$"),
        ("@every 5x", r"^bad duration '5x'"),
        ("@fortnightly", r"^unknown macro '@fortnightly'"),
        ("@reboot", r"^@reboot is not supported"),
        ("0 0 L * *", r"^day-of-month field 'L': L is not standard cron"),
        ("H * * * *", r"^minute field 'H': H is not standard cron"),
        ("0 0 * * 1#2", r"^day-of-week field '1#2' has characters cron does not take"),
        ("59/15 * * * *", r"^minute field '59/15': a step needs a range or \* before it"),
        ("0 0 * * FUNDAY", r"FUNDAY is not standard cron"),
    ],
)
def test_bad_schedules_are_rejected_with_a_hint(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text, "UTC")


def test_unknown_timezone_names_what_works() -> None:
    with pytest.raises(ScheduleError, match=r"^unknown timezone 'Mars/Olympus'; use an IANA name"):
        parse_schedule("@daily", "Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@yearly", ["01-01 00:00 UTC", "01-01 00:00 UTC"]),
        ("@annually", ["01-01 00:00 UTC", "01-01 00:00 UTC"]),
        ("@monthly", ["02-01 00:00 UTC", "03-01 00:00 UTC"]),
        ("@weekly", ["01-11 00:00 UTC", "01-18 00:00 UTC"]),
        ("@daily", ["01-06 00:00 UTC", "01-07 00:00 UTC"]),
        ("@midnight", ["01-06 00:00 UTC", "01-07 00:00 UTC"]),
        ("@hourly", ["01-05 13:00 UTC", "01-05 14:00 UTC"]),
    ],
)
def test_macros(text: str, expected: list[str]) -> None:
    assert fires(text, "2026-01-05T12:00", 2, "UTC") == expected


def test_day_of_week_zero_and_seven_are_both_sunday() -> None:
    assert fires("0 9 * * 0", "2026-01-01T00:00", 2, "UTC") == fires("0 9 * * 7", "2026-01-01T00:00", 2, "UTC")
    assert [t.strftime("%a") for t in next_fires("0 9 * * 7", 3, "UTC", "2026-01-01T00:00")] == ["Sun"] * 3
    assert [t.strftime("%a") for t in next_fires("0 9 * * 5-7", 3, "UTC", "2026-01-01T00:00")] == ["Fri", "Sat", "Sun"]


def test_names_are_case_insensitive() -> None:
    a = next_fires("0 9 * jan mon-fri", 5, "UTC", "2026-01-01T00:00")
    b = next_fires("0 9 * JAN MON-FRI", 5, "UTC", "2026-01-01T00:00")
    assert a == b and [t.strftime("%a") for t in a] == ["Thu", "Fri", "Mon", "Tue", "Wed"]


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # 1st of the month OR a Monday (POSIX/Vixie): Feb 1 2026 is a Sunday.
    got = [t.strftime("%a %d") for t in next_fires("0 0 1 * MON", 4, "UTC", "2026-01-27T00:00")]
    assert got == ["Sun 01", "Mon 02", "Mon 09", "Mon 16"]


def test_star_prefixed_day_field_means_and_like_vixie() -> None:
    # '*/2' starts with '*', so Vixie ANDs: odd days that are Mondays.
    got = [t.strftime("%a %d") for t in next_fires("0 0 */2 * MON", 3, "UTC", "2026-03-01T00:00")]
    assert got == ["Mon 09", "Mon 23", "Mon 13"]


def test_leap_day_is_possible() -> None:
    assert fires("0 0 29 2 *", "2026-01-01T00:00", 2, "UTC") == ["02-29 00:00 UTC", "02-29 00:00 UTC"]
    assert next_fires("0 0 29 2 *", 1, "UTC", "2026-01-01T00:00")[0].year == 2028


def test_get_next_from_a_matching_instant_returns_the_following_one() -> None:
    s = parse_schedule("*/5 * * * *", "UTC")
    t = datetime(2026, 1, 5, 12, 5, tzinfo=UTC)
    assert s.next_after(t) == datetime(2026, 1, 5, 12, 10, tzinfo=UTC)


# ------------------------------------------------------------------- DST
def test_fixed_time_in_spring_forward_gap_runs_once_at_first_valid_instant() -> None:
    assert fires("30 2 * * *", "2026-03-07T00:00", 3) == ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]


def test_two_fixed_times_in_the_gap_run_once() -> None:
    assert fires("0,30 2 * * *", "2026-03-08T00:00", 3) == ["03-08 03:00 EDT", "03-09 02:00 EDT", "03-09 02:30 EDT"]


def test_fixed_time_in_fall_back_fold_runs_once_at_the_first() -> None:
    got = next_fires("30 1 * * *", 3, NY, "2026-10-31T12:00")
    assert [t.strftime("%m-%d %H:%M %Z") for t in got] == ["11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"]
    assert got[0].utcoffset() == timedelta(hours=-4)


def test_fixed_time_does_not_refire_from_inside_the_fold() -> None:
    s = parse_schedule("30 1 * * *", NY)
    inside_second_hour = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, after the EDT 01:30 ran
    assert s.next_after(inside_second_hour).astimezone(get_zone(NY)).strftime("%m-%d %H:%M %Z") == "11-02 01:30 EST"


def test_hourly_wildcard_follows_elapsed_time_across_fall_back() -> None:
    got = next_fires("30 * * * *", 4, NY, "2026-11-01T00:00")
    assert [t.strftime("%H:%M %Z") for t in got] == ["00:30 EDT", "01:30 EDT", "01:30 EST", "02:30 EST"]
    assert gaps(got) == {timedelta(hours=1)}


def test_hourly_wildcard_follows_elapsed_time_across_spring_forward() -> None:
    got = next_fires("@hourly", 3, NY, "2026-03-08T00:30")
    assert [t.strftime("%H:%M %Z") for t in got] == ["01:00 EST", "03:00 EDT", "04:00 EDT"]
    assert gaps(got) == {timedelta(hours=1)}


def test_step_minutes_across_fall_back_every_thirty_elapsed_minutes() -> None:
    got = next_fires("*/30 * * * *", 6, NY, "2026-11-01T00:40")
    assert gaps(got) == {timedelta(minutes=30)}
    assert len(got) == 6


def test_every_follows_elapsed_time_across_dst() -> None:
    for start in ("2026-03-08T00:15", "2026-11-01T00:15"):
        got = next_fires("@every 1h", 4, NY, start)
        assert gaps(got) == {timedelta(hours=1)}


def test_every_is_anchored_without_drift() -> None:
    anchor = datetime(2026, 1, 5, 12, 0, 0, 250_000, tzinfo=UTC)
    s = parse_schedule("@every 10s", "UTC", anchor=anchor)
    late = anchor + timedelta(seconds=10, milliseconds=700)  # fired 700 ms late
    assert s.next_after(late) == anchor + timedelta(seconds=20)
    assert s.next_after(anchor - timedelta(hours=1)) == anchor + timedelta(seconds=10)
    assert s.count_between(anchor, anchor + timedelta(seconds=35)) == 3


def test_every_compound_duration() -> None:
    s = parse_schedule("@every 1h30m", "UTC", anchor=datetime(2026, 1, 1, tzinfo=UTC))
    assert s.interval == timedelta(hours=1, minutes=30)
    assert s.describe() == "Every 1 hour 30 minutes"


def test_dst_notes_explain_moved_occurrences() -> None:
    s = parse_schedule("30 2 * * *", NY)
    gap_fire = next_fires("30 2 * * *", 2, NY, "2026-03-07T12:00")[0]
    assert "spring forward" in s.note_for(gap_fire)
    s2 = parse_schedule("30 1 * * *", NY)
    fold_fire = next_fires("30 1 * * *", 1, NY, "2026-10-31T12:00")[0]
    assert "happens twice" in s2.note_for(fold_fire)
    assert s.note_for(datetime(2026, 6, 1, 6, 30, tzinfo=UTC)) is None


def test_describe_is_plain_english() -> None:
    assert parse_schedule("*/5 * * * *", "UTC").describe() == "Every 5 minutes"
    assert parse_schedule("0 9 * * MON-FRI", "UTC").describe() == "At 09:00, Monday through Friday"


def test_next_fires_naive_start_is_taken_in_the_zone() -> None:
    got = next_fires("0 9 * * *", 1, "Europe/Paris", "2026-01-05T08:00")
    assert got[0].isoformat() == "2026-01-05T09:00:00+01:00"
