from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.decisions import DecisionAct
from domain.errors import ClassificationRefused, InvalidInput, ReasonRequired
from domain.ids import dossier_id
from domain.messages import N_, Message, Series
from domain.text import clean_text
from domain.values import (
    DECIDED_STATES,
    Answer,
    Classification,
    DossierState,
    Evidence,
    NotRatedGround,
    four_good_after,
)


class TransitionTable(Protocol):
    """What the dossier needs of the workflow specification: where a trigger leads from a state.

    The dossier asks before recording; replay never asks, so a history stays valid when the spec changes.
    """

    def destination(self, version: int, state: DossierState, trigger: str) -> DossierState: ...


def _reason(text: str, what: str | Message) -> str:
    step = what if isinstance(what, Message) else Message(what)
    if not text.strip():
        raise ReasonRequired(N_("%(what)s needs a reason"), what=step)
    return clean_text(text, Message(N_("the reason for %(what)s"), what=step))


class Dossier(Aggregate):
    """One unit's evaluation dossier for one period, from self-assessment to decision."""

    @staticmethod
    def create_id(unit_id: UUID, year: int) -> UUID:
        return dossier_id(unit_id, year)

    @event("Opened")
    def __init__(
        self,
        unit_id: UUID,
        year: int,
        workflow_version: int,
        rule_set_id: str,
        recognition_model_id: str | None,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.unit_id = unit_id
        self.year = year
        self.workflow_version = workflow_version
        self.rule_set_id = rule_set_id
        self.recognition_model_id = recognition_model_id
        self.state = DossierState.DRAFT
        self.round = 1
        self.answers: dict[str, Answer] = {}
        self.facts: dict[str, Any] = {}
        self.evidence: dict[str, Evidence] = {}
        # What the committee saw at the last submission: the base of "what changed since the last round".
        self.submitted_content: dict[str, Any] | None = None
        self.submitters: list[str] = []
        self.last_reason: str | None = None
        self.endorsement: dict[str, Any] | None = None
        self.decision: dict[str, Any] | None = None
        self.level: Classification | None = None
        self.four_good: bool | None = None
        # Set when a unit below was re-opened after this dossier was recognized: the recognition no longer stands
        # until the approver decides again.
        self.recognition_suspended: dict[str, Any] | None = None
        self.decision_book_id: UUID | None = None

    # --- queries -------------------------------------------------------------------------------

    @property
    def proposed_level(self) -> Classification | None:
        if self.endorsement is None:
            return None
        level = self.endorsement["level"]
        return level if isinstance(level, Classification) else Classification(level)

    def content(self) -> dict[str, Any]:
        return {"answers": dict(self.answers), "facts": dict(self.facts), "evidence": sorted(self.evidence)}

    def changes_since_last_round(self) -> dict[str, Any]:
        before = self.submitted_content or {"answers": {}, "facts": {}, "evidence": []}
        changes: dict[str, Any] = {"answers": {}, "facts": {}, "evidence_added": [], "evidence_removed": []}
        for key in sorted(set(before["answers"]) | set(self.answers)):
            old, new = before["answers"].get(key), self.answers.get(key)
            if old != new:
                changes["answers"][key] = {"before": old, "after": new}
        for key in sorted(set(before["facts"]) | set(self.facts)):
            old, new = before["facts"].get(key), self.facts.get(key)
            if old != new:
                changes["facts"][key] = {"before": old, "after": new}
        old_files, new_files = set(before["evidence"]), set(self.evidence)
        changes["evidence_added"] = sorted(new_files - old_files)
        changes["evidence_removed"] = sorted(old_files - new_files)
        return changes

    # --- the self-assessment -------------------------------------------------------------------

    def _step(self, table: TransitionTable, trigger: str) -> tuple[DossierState, DossierState]:
        return self.state, table.destination(self.workflow_version, self.state, trigger)

    def record_answers(
        self,
        table: TransitionTable,
        *,
        answers: Mapping[str, Answer],
        facts: Mapping[str, Any],
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self._step(table, "record_answers")
        # The names of the texts are made only for a refusal (see clean_text): a recording checks a few dozen.
        for criterion, answer in answers.items():
            clean_text(criterion, N_("a criterion id"))
            clean_text(answer.comment, partial(Message, N_("the comment on %(criterion)s"), criterion=criterion),
                       multiline=True)
            for sub_item in answer.sub_items:
                clean_text(sub_item, partial(Message, N_("a sub-item id of %(criterion)s"), criterion=criterion))
        for fact, value in facts.items():
            clean_text(fact, N_("a fact id"))
            if isinstance(value, str):
                clean_text(value, partial(Message, N_("the fact %(fact)s"), fact=fact))
        changed = {k: v for k, v in answers.items() if self.answers.get(k) != v}
        changed_facts = {k: v for k, v in facts.items() if self.facts.get(k) != v}
        if not changed and not changed_facts:
            return
        self._answers_recorded(answers=changed, facts=changed_facts, actor=actor, timestamp=timestamp)

    @event("AnswersRecorded")
    def _answers_recorded(
        self, answers: dict[str, Answer], facts: dict[str, Any], actor: Actor, timestamp: datetime
    ) -> None:
        self.answers.update(answers)
        self.facts.update(facts)

    def attach_evidence(self, table: TransitionTable, *, evidence: Evidence, actor: Actor, timestamp: datetime) -> None:
        self._step(table, "attach_evidence")
        if evidence.sha256 in self.evidence:
            raise InvalidInput(
                N_("%(name)s is already attached (same content as %(attached)s)"),
                name=evidence.name, attached=self.evidence[evidence.sha256].name,
            )
        self._evidence_attached(evidence=evidence, actor=actor, timestamp=timestamp)

    @event("EvidenceAttached")
    def _evidence_attached(self, evidence: Evidence, actor: Actor, timestamp: datetime) -> None:
        self.evidence[evidence.sha256] = evidence

    def remove_evidence(
        self, table: TransitionTable, *, sha256: str, reason: str, actor: Actor, timestamp: datetime
    ) -> None:
        self._step(table, "attach_evidence")
        if sha256 not in self.evidence:
            raise InvalidInput(N_("no evidence file with content hash %(sha256)s is attached"), sha256=sha256)
        self._evidence_removed(
            sha256=sha256, reason=_reason(reason, N_("removing evidence")), actor=actor, timestamp=timestamp
        )

    @event("EvidenceRemoved")
    def _evidence_removed(self, sha256: str, reason: str, actor: Actor, timestamp: datetime) -> None:
        del self.evidence[sha256]

    # --- the unit's steps ----------------------------------------------------------------------

    def submit(
        self, table: TransitionTable, *, missing: list[str], late: bool, actor: Actor, timestamp: datetime
    ) -> None:
        from_state, to_state = self._step(table, "submit")
        if missing:
            raise InvalidInput(
                N_("the self-assessment is incomplete; still to fill in: %(missing)s"), missing=Series(missing)
            )
        self._submitted(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            late=late,
            content=self.content(),
            actor=actor,
            timestamp=timestamp,
        )

    @event("Submitted")
    def _submitted(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        late: bool,
        content: dict[str, Any],
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.submitted_content = content
        if str(actor.person_id) not in self.submitters:
            self.submitters.append(str(actor.person_id))

    def resubmit(
        self, table: TransitionTable, *, missing: list[str], late: bool, actor: Actor, timestamp: datetime
    ) -> None:
        from_state, to_state = self._step(table, "resubmit")
        if missing:
            raise InvalidInput(
                N_("the self-assessment is incomplete; still to fill in: %(missing)s"), missing=Series(missing)
            )
        changes = self.changes_since_last_round()
        self._resubmitted(
            from_state=from_state,
            to_state=to_state,
            round=self.round + 1,
            late=late,
            changes=changes,
            content=self.content(),
            actor=actor,
            timestamp=timestamp,
        )

    @event("Resubmitted")
    def _resubmitted(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        late: bool,
        changes: dict[str, Any],
        content: dict[str, Any],
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.round = round
        self.submitted_content = content
        self.endorsement = None
        if str(actor.person_id) not in self.submitters:
            self.submitters.append(str(actor.person_id))

    def withdraw(self, table: TransitionTable, *, reason: str, actor: Actor, timestamp: datetime) -> None:
        from_state, to_state = self._step(table, "withdraw")
        self._withdrawn(
            from_state=from_state,
            to_state=to_state,
            reason=_reason(reason, N_("withdrawing a draft")),
            actor=actor,
            timestamp=timestamp,
        )

    @event("Withdrawn")
    def _withdrawn(
        self, from_state: DossierState, to_state: DossierState, reason: str, actor: Actor, timestamp: datetime
    ) -> None:
        self.state = to_state
        self.last_reason = reason

    def restore(self, table: TransitionTable, *, actor: Actor, timestamp: datetime) -> None:
        from_state, to_state = self._step(table, "restore")
        self._restored(from_state=from_state, to_state=to_state, actor=actor, timestamp=timestamp)

    @event("Restored")
    def _restored(self, from_state: DossierState, to_state: DossierState, actor: Actor, timestamp: datetime) -> None:
        self.state = to_state

    # --- the committee's steps -----------------------------------------------------------------

    @staticmethod
    def _check_level(
        level: Classification, evaluation: Mapping[str, Any], reason: str, what: str, explained: Sequence[Message]
    ) -> str:
        # `what` is the step's verb, marked N_ by the caller: the refusals name it in the reader's language.
        verb = Message(what)
        computed = Classification(evaluation["level"])
        if computed is Classification.NOT_RATED and level is not Classification.NOT_RATED:
            # The explanation's first line says why: as a sentence when the caller has the evaluation's own lines
            # (a page says it in its reader's language), else in the English recorded.
            why = (
                next(iter(explained), None) or next(iter(evaluation.get("explanation") or []), None)
                or Message(N_("the unit is not classified"))
            )
            raise ClassificationRefused(N_("cannot %(what)s %(level)s: %(why)s"), what=verb, level=level, why=why)
        if level is Classification.NOT_RATED:
            if computed is not Classification.NOT_RATED:
                raise InvalidInput(
                    N_(
                        "%(level)s is not a level one can %(what)s for a unit of 6 months or more; the approver marks "
                        "a suspended or exempted unit not rated, with the decision that suspended or exempted it"
                    ),
                    level=level, what=verb,
                )
            return clean_text(reason, Message(N_("the reason to %(what)s %(level)s"), what=verb, level=level))
        if computed < level:
            raise ClassificationRefused(
                N_("cannot %(what)s %(level)s: the rules allow at most %(computed)s from these answers"),
                what=verb, level=level, computed=computed,
            )
        if level < computed:
            return _reason(
                reason,
                Message(
                    N_("a level below what the rules allow (%(level)s < %(computed)s)"), level=level, computed=computed
                ),
            )
        return clean_text(reason, Message(N_("the reason to %(what)s %(level)s"), what=verb, level=level))

    def endorse(
        self,
        table: TransitionTable,
        *,
        level: Classification,
        evaluation: Mapping[str, Any],
        recognition: Mapping[str, Any] | None,
        note: str,
        reason: str,
        actor: Actor,
        timestamp: datetime,
        explained: Sequence[Message] = (),
    ) -> None:
        from_state, to_state = self._step(table, "endorse")
        reason = self._check_level(level, evaluation, reason, N_("propose"), explained)
        self._endorsed(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            level=level,
            evaluation=dict(evaluation),
            recognition=dict(recognition) if recognition else None,
            note=clean_text(note, N_("the committee's note"), multiline=True),
            reason=reason,
            actor=actor,
            timestamp=timestamp,
        )

    @event("Endorsed")
    def _endorsed(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        level: Classification,
        evaluation: dict[str, Any],
        recognition: dict[str, Any] | None,
        note: str,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.endorsement = {"level": level, "evaluation": evaluation, "recognition": recognition, "note": note}

    def return_to_unit(self, table: TransitionTable, *, reason: str, actor: Actor, timestamp: datetime) -> None:
        from_state, to_state = self._step(table, "return_to_unit")
        self._returned_to_unit(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            reason=_reason(reason, N_("returning a dossier to its unit")),
            actor=actor,
            timestamp=timestamp,
        )

    @event("ReturnedToUnit")
    def _returned_to_unit(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.last_reason = reason
        self.endorsement = None

    # --- the approver's steps ------------------------------------------------------------------

    def approve(
        self,
        table: TransitionTable,
        *,
        level: Classification,
        evaluation: Mapping[str, Any],
        recognition: Mapping[str, Any] | None,
        decision_book_id: UUID,
        quota: Mapping[str, Any] | None,
        reason: str,
        actor: Actor,
        timestamp: datetime,
        explained: Sequence[Message] = (),
        act: DecisionAct | None = None,
    ) -> None:
        from_state, to_state = self._step(table, "approve")
        if level is Classification.NOT_RATED:
            raise InvalidInput(
                N_("%(level)s is not a level one decides by approval; mark the dossier not rated instead"), level=level
            )
        reason = self._check_level(level, evaluation, reason, N_("decide"), explained)
        if from_state == DossierState.REOPENED:
            reason = _reason(reason, N_("a re-classification (the legal justification)"))
        elif self.proposed_level is not None and level != self.proposed_level:
            reason = _reason(
                reason,
                Message(
                    N_("deciding %(level)s instead of the proposed %(proposed)s"),
                    level=level, proposed=self.proposed_level,
                ),
            )
        self._approved(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            level=level,
            previous_level=self.level,
            evaluation=dict(evaluation),
            recognition=dict(recognition) if recognition else None,
            four_good=four_good_after(level, bool(recognition["recognized"])) if recognition else None,
            decision_book_id=decision_book_id,
            quota=dict(quota) if quota else None,
            reason=reason,
            act=act,
            actor=actor,
            timestamp=timestamp,
        )

    class Approved(Aggregate.Event):
        """Version 2 names the act the decision was taken by (`act`, None without a number); version 1 had none."""

        class_version = 2

        from_state: DossierState
        to_state: DossierState
        round: int
        level: Classification
        previous_level: Classification | None
        evaluation: dict[str, Any]
        recognition: dict[str, Any] | None
        four_good: bool | None
        decision_book_id: UUID
        quota: dict[str, Any] | None
        reason: str
        act: DecisionAct | None
        actor: Actor
        timestamp: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["act"] = None

    @event(Approved)
    def _approved(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        level: Classification,
        previous_level: Classification | None,
        evaluation: dict[str, Any],
        recognition: dict[str, Any] | None,
        four_good: bool | None,
        decision_book_id: UUID,
        quota: dict[str, Any] | None,
        reason: str,
        act: DecisionAct | None,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.level = level
        self.four_good = four_good
        self.recognition_suspended = None
        self.decision_book_id = decision_book_id
        self.decision = {
            "level": level, "evaluation": evaluation, "recognition": recognition, "reason": reason, "act": act,
        }

    def return_to_committee(self, table: TransitionTable, *, reason: str, actor: Actor, timestamp: datetime) -> None:
        from_state, to_state = self._step(table, "return_to_committee")
        self._returned_to_committee(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            reason=_reason(reason, N_("returning a dossier to the committee")),
            actor=actor,
            timestamp=timestamp,
        )

    @event("ReturnedToCommittee")
    def _returned_to_committee(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.last_reason = reason

    def mark_not_rated(
        self,
        table: TransitionTable,
        *,
        ground: NotRatedGround | None,
        unit_age_months: int,
        min_age_months: int,
        decision_book_id: UUID,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        """Reviewed but not classified: a unit under the minimum age at the period's end, or one suspended or
        exempted by a decision, which is then the basis recorded with it."""
        from_state, to_state = self._step(table, "mark_not_rated")
        young = unit_age_months < min_age_months
        age = f"{unit_age_months} months old at the end of the period"
        if young:
            # Its age alone keeps it unclassified, whatever else is said of it: that is the ground recorded.
            ground = NotRatedGround.UNDER_SIX_MONTHS
            reason = clean_text(reason, N_("the reason to leave it not rated")) or (
                f"{age}: under {min_age_months} months, reviewed but not classified"
            )
        elif ground is None or ground is NotRatedGround.UNDER_SIX_MONTHS:
            raise ClassificationRefused(
                N_(
                    "the unit is %(months)s months old at the end of the period, so it is classified; leaving it not "
                    "rated needs its ground (suspended or exempted) and the decision that suspended or exempted it"
                ),
                months=unit_age_months,
            )
        else:
            suspended = ground is NotRatedGround.SUSPENDED
            reason = _reason(
                reason,
                N_("leaving a suspended unit not rated (the decision that suspended it)") if suspended
                else N_("leaving a exempted unit not rated (the decision that exempted it)"),
            )
        self._marked_not_rated(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            ground=ground,
            unit_age_months=unit_age_months,
            previous_level=self.level,
            decision_book_id=decision_book_id,
            reason=reason,
            actor=actor,
            timestamp=timestamp,
        )

    @event("MarkedNotRated")
    def _marked_not_rated(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        ground: NotRatedGround,
        unit_age_months: int,
        previous_level: Classification | None,
        decision_book_id: UUID,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.level = Classification.NOT_RATED
        self.four_good = None
        self.recognition_suspended = None
        self.decision_book_id = decision_book_id
        self.decision = {"level": Classification.NOT_RATED, "ground": ground, "reason": reason}

    def reopen(self, table: TransitionTable, *, legal_basis: str, actor: Actor, timestamp: datetime) -> None:
        from_state, to_state = self._step(table, "reopen")
        self._reopened(
            from_state=from_state,
            to_state=to_state,
            round=self.round,
            decided_level=self.level,
            reason=_reason(legal_basis, N_("re-opening a decided dossier (the legal justification)")),
            actor=actor,
            timestamp=timestamp,
        )

    def suspend_recognition(
        self,
        *,
        unit_id: UUID,
        unit_name: str,
        criterion: str,
        rule: str,
        legal_basis: str,
        actor: Actor,
        timestamp: datetime,
    ) -> bool:
        """A unit below was re-opened: a recognition resting on it ("100% of cells four-good") no longer stands.

        Not a command anyone chooses: the engine records it with the re-opening that causes it. Returns whether
        anything was suspended (only a standing recognition can be).
        """
        if self.state not in DECIDED_STATES or not self.four_good:
            return False
        self._recognition_suspended(
            unit_id=unit_id,
            unit_name=unit_name,
            criterion=criterion,
            rule=rule,
            legal_basis=legal_basis,
            actor=actor,
            timestamp=timestamp,
        )
        return True

    @event("RecognitionSuspended")
    def _recognition_suspended(
        self,
        unit_id: UUID,
        unit_name: str,
        criterion: str,
        rule: str,
        legal_basis: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.four_good = None
        self.recognition_suspended = {
            "unit_id": unit_id,
            "unit_name": unit_name,
            "criterion": criterion,
            "rule": rule,
            "legal_basis": legal_basis,
        }

    @event("Reopened")
    def _reopened(
        self,
        from_state: DossierState,
        to_state: DossierState,
        round: int,
        decided_level: Classification | None,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.state = to_state
        self.last_reason = reason
