from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

from domain.errors import InvalidInput
from domain.messages import N_

# Vietnam keeps one offset all year; dates of grants, deadlines and "as of" questions are Vietnamese dates.
VIETNAM = timezone(timedelta(hours=7), "ICT")

# The days a question may name (an "as of" view, a time range, a grant's validity). No unit, grant or event lies
# anywhere near either end; Python's own ends (0001-01-01, 9999-12-31) overflow once moved across time zones
# (to UTC, to the end of a day in Vietnam), which a date typed at either must not reach.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    return moment.astimezone(VIETNAM).date()


def within_calendar(day: date) -> date:
    """`day`, or a refusal naming the days the engine answers about."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidInput(N_("%(day)s is outside %(first)s–%(last)s"), day=day.isoformat(), first=EARLIEST_DAY.year,
                           last=LATEST_DAY.year)
    return day


def moment_within_calendar(moment: datetime) -> datetime:
    """`moment`, or a refusal: its own calendar day is checked, so that no offset (at most a day) can carry it past
    what a datetime holds when it is compared in UTC."""
    within_calendar(moment.date())
    return moment


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=VIETNAM)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=VIETNAM)


class SimulatedClock:
    """A clock the demo and the tests move by hand, so a season can be played with its real dates."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock needs an aware datetime")
        self.now = start

    def __call__(self) -> datetime:
        # Every reading moves a microsecond on, so events recorded in one burst keep a strict order in time.
        self.now += timedelta(microseconds=1)
        return self.now

    def set(self, moment: datetime) -> None:
        if moment < self.now:
            raise ValueError(f"a clock does not go back: {moment} is before {self.now}")
        self.now = moment

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
