"""Report periods and budget months as admins type them, in the team's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.periods import PeriodError, date_range, month_of, next_month_start, parse_period

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


def local_days(text: str, now: datetime = NOW, zone: ZoneInfo = PARIS) -> tuple[date, date]:
    """The first and last local day a period covers."""
    period = parse_period(text, now, zone)
    return period.start.astimezone(zone).date(), (period.end - timedelta(seconds=1)).astimezone(
        zone
    ).date()


@pytest.mark.parametrize(
    ("text", "first", "last", "label"),
    [
        ("", date(2026, 11, 1), date(2026, 11, 30), "November 2026"),
        ("this-month", date(2026, 11, 1), date(2026, 11, 30), "November 2026"),
        ("last-month", date(2026, 10, 1), date(2026, 10, 31), "October 2026"),
        ("1d", date(2026, 11, 18), date(2026, 11, 18), "last 1 days"),
        ("7d", date(2026, 11, 12), date(2026, 11, 18), "last 7 days"),
        ("30d", date(2026, 10, 20), date(2026, 11, 18), "last 30 days"),
        (
            "2026-11-03..2026-11-05",
            date(2026, 11, 3),
            date(2026, 11, 5),
            "2026-11-03 to 2026-11-05",
        ),
        (
            "2026-11-03..2026-11-03",
            date(2026, 11, 3),
            date(2026, 11, 3),
            "2026-11-03 to 2026-11-03",
        ),
    ],
)
def test_each_period_covers_exactly_its_days(
    text: str, first: date, last: date, label: str
) -> None:
    assert local_days(text) == (first, last)
    assert parse_period(text, NOW, PARIS).label == label


def test_seven_days_are_seven_whole_local_days() -> None:
    period = parse_period("7d", NOW, PARIS)
    # 7 x 24 h: no daylight-saving change in Paris in those days.
    assert period.end - period.start == timedelta(days=7)
    assert period.start == datetime(2026, 11, 12, tzinfo=PARIS)
    assert period.end == datetime(2026, 11, 19, tzinfo=PARIS)


def test_last_month_across_a_new_year_and_this_month_at_its_edges() -> None:
    january = datetime(2027, 1, 1, 0, 0, tzinfo=PARIS)
    assert local_days("last-month", january) == (date(2026, 12, 1), date(2026, 12, 31))
    assert local_days("this-month", january) == (date(2027, 1, 1), date(2027, 1, 31))
    just_before = january - timedelta(microseconds=1)
    assert local_days("this-month", just_before) == (date(2026, 12, 1), date(2026, 12, 31))


def test_the_month_is_the_team_zone_month() -> None:
    # 04:59 UTC on 1 December is still 30 November in New York.
    moment = datetime(2026, 12, 1, 4, 59, tzinfo=UTC)
    assert month_of(moment, NEW_YORK).label == "November 2026"
    assert month_of(moment, ZoneInfo("UTC")).label == "December 2026"
    assert next_month_start(moment, NEW_YORK) == date(2026, 12, 1)
    assert next_month_start(moment, ZoneInfo("UTC")) == date(2027, 1, 1)


def test_a_month_with_a_daylight_saving_change_keeps_its_local_midnights() -> None:
    november = month_of(datetime(2026, 11, 15, tzinfo=UTC), NEW_YORK)
    assert november.start == datetime(2026, 11, 1, 4, tzinfo=UTC)  # EDT, UTC-4
    assert november.end == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST, UTC-5


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0d", "at least 1 day"),
        ("yesterday", "don't know the period"),
        ("2026-11-05..2026-11-03", "ends (2026-11-03) before it starts"),
        ("2026-02-30..2026-03-01", "is not a date"),
    ],
)
def test_a_period_people_cannot_mean_is_refused_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(PeriodError, match=re.escape(problem)):
        parse_period(text, NOW, PARIS)


def test_a_date_range_includes_both_ends() -> None:
    period = date_range(date(2026, 11, 30), date(2026, 12, 1), NEW_YORK)
    assert period.end - period.start == timedelta(days=2)


def test_east_of_utc_the_local_day_and_month_are_the_teams() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # 15:30 UTC on 30 November is already 00:30 on 1 December in Tokyo.
    late = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    assert next_month_start(late, tokyo) == date(2027, 1, 1)
    assert next_month_start(datetime(2026, 11, 29, tzinfo=UTC), tokyo) == date(2026, 12, 1)
    assert local_days("7d", late, tokyo) == (date(2026, 11, 25), date(2026, 12, 1))
    assert local_days("this-month", late, tokyo) == (date(2026, 12, 1), date(2026, 12, 31))
