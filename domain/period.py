from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import InvalidInput, PeriodClosed
from domain.ids import period_id
from domain.messages import N_
from domain.text import clean_text

STEPS = ("self_assessment", "review", "decision")


class EvaluationPeriod(Aggregate):
    """A year of evaluation, under the rule set in force for it; closing it locks its dossiers."""

    @staticmethod
    def create_id(year: int) -> UUID:
        return period_id(year)

    @classmethod
    def open(
        cls,
        *,
        year: int,
        rule_set_id: str,
        rule_set_version: int,
        rule_set_sha256: str,
        recognition_models: list[str],
        deadlines: dict[str, date],
        actor: Actor,
        timestamp: datetime,
    ) -> EvaluationPeriod:
        if not 2000 <= year <= 2100:
            raise InvalidInput(N_("%(year)s is not a plausible evaluation year"), year=year)
        _check_deadlines(deadlines)
        return cls(
            year=year,
            rule_set_id=rule_set_id,
            rule_set_version=rule_set_version,
            rule_set_sha256=rule_set_sha256,
            recognition_models=list(recognition_models),
            deadlines=dict(deadlines),
            actor=actor,
            timestamp=timestamp,
        )

    @event("Opened")
    def __init__(
        self,
        year: int,
        rule_set_id: str,
        rule_set_version: int,
        rule_set_sha256: str,
        recognition_models: list[str],
        deadlines: dict[str, date],
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.year = year
        self.rule_set_id = rule_set_id
        self.rule_set_version = rule_set_version
        self.rule_set_sha256 = rule_set_sha256
        self.recognition_models = recognition_models
        self.deadlines = deadlines
        self.closed = False

    @property
    def end_date(self) -> date:
        return date(self.year, 12, 31)

    def is_late(self, step: str, day: date) -> bool:
        deadline = self.deadlines.get(step)
        return deadline is not None and day > deadline

    def check_open(self) -> None:
        if self.closed:
            raise PeriodClosed(N_("the %(year)s evaluation period is closed; its dossiers are locked"), year=self.year)

    def change_deadlines(
        self, *, deadlines: dict[str, date], reason: str, actor: Actor, timestamp: datetime
    ) -> None:
        """New dates for some steps of an open period; the steps not named keep theirs."""
        self.check_open()
        changed = {step: day for step, day in deadlines.items() if self.deadlines.get(step) != day}
        _check_deadlines({**self.deadlines, **deadlines})
        if not changed:
            raise InvalidInput(N_("no deadline of the %(year)s period would change"), year=self.year)
        if not reason.strip():
            raise InvalidInput(N_("changing a period's deadlines needs a reason (its legal basis)"))
        reason = clean_text(reason, N_("the reason for changing a period's deadlines"))
        previous = {step: self.deadlines.get(step) for step in changed}
        self._deadlines_changed(
            deadlines=changed, previous=previous, reason=reason, actor=actor, timestamp=timestamp
        )

    @event("DeadlinesChanged")
    def _deadlines_changed(
        self,
        deadlines: dict[str, date],
        previous: dict[str, date | None],
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.deadlines = {**self.deadlines, **deadlines}

    def close(self, *, reason: str, actor: Actor, timestamp: datetime) -> None:
        self.check_open()
        if not reason.strip():
            raise InvalidInput(N_("closing a period needs a reason (its legal basis)"))
        self._closed(reason=clean_text(reason, N_("the reason for closing a period")), actor=actor, timestamp=timestamp)

    @event("Closed")
    def _closed(self, reason: str, actor: Actor, timestamp: datetime) -> None:
        self.closed = True


def _check_deadlines(deadlines: dict[str, date]) -> None:
    unknown = sorted(set(deadlines) - set(STEPS))
    if unknown:
        raise InvalidInput(
            N_("unknown deadline step(s) %(unknown)s; the steps are %(steps)s"),
            unknown=str(unknown), steps=str(list(STEPS)),
        )
    ordered = [deadlines[s] for s in STEPS if s in deadlines]
    if ordered != sorted(ordered):
        raise InvalidInput(N_("deadlines must follow the order of the steps: self-assessment, review, decision"))
