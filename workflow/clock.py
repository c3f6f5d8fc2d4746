from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

# Vietnam keeps one offset all year; dates of grants, deadlines and "as of" questions are Vietnamese dates.
VIETNAM = timezone(timedelta(hours=7), "ICT")

Clock = Callable[[], datetime]

# The days a date typed by a person may name: far wider than any unit, grant or event, and far enough inside the
# calendar that the ends of a Vietnamese day still exist once moved to UTC (0001-01-01 00:00+07:00 does not).
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def system_clock() -> datetime:
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    return moment.astimezone(VIETNAM).date()


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
