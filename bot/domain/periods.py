"""Calendar periods in the team's time zone: budget months and report ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """A half-open range [start, end) of instants, with a label people read."""

    start: datetime
    end: datetime
    label: str

    def bounds(self) -> tuple[datetime, datetime]:
        return self.start, self.end


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def month_of(moment: datetime, zone: ZoneInfo) -> Period:
    """The calendar month (in `zone`) that contains `moment`."""
    local = moment.astimezone(zone)
    first = date(local.year, local.month, 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(_midnight(first, zone), _midnight(following, zone), first.strftime("%B %Y"))


def next_month_start(moment: datetime, zone: ZoneInfo) -> date:
    """The local date budgets reset on."""
    return month_of(moment, zone).end.astimezone(zone).date()


class PeriodError(ValueError):
    pass


_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_DAYS = re.compile(r"^(\d{1,4})d$")
PERIOD_HELP = "this-month, last-month, 7d, 30d or YYYY-MM-DD..YYYY-MM-DD"


def parse_period(text: str, now: datetime, zone: ZoneInfo) -> Period:
    """A report period as admins type it; both ends of a date range are included."""
    word = text.strip().lower() or "this-month"
    if word == "this-month":
        return month_of(now, zone)
    if word == "last-month":
        this = month_of(now, zone)
        return month_of(this.start - timedelta(seconds=1), zone)
    if match := _DAYS.match(word):
        days = int(match.group(1))
        if days < 1:
            raise PeriodError("a period needs at least 1 day")
        today = now.astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        return Period(
            _midnight(first, zone), _midnight(today + timedelta(days=1), zone), f"last {days} days"
        )
    if match := _RANGE.match(word):
        first, last = (_parse_date(part) for part in match.groups())
        return date_range(first, last, zone)
    raise PeriodError(f"I don't know the period {text.strip()!r}. Use {PERIOD_HELP}.")


def date_range(first: date, last: date, zone: ZoneInfo) -> Period:
    if last < first:
        raise PeriodError(f"the range ends ({last}) before it starts ({first})")
    return Period(
        _midnight(first, zone), _midnight(last + timedelta(days=1), zone), f"{first} to {last}"
    )


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date (use YYYY-MM-DD)") from None
