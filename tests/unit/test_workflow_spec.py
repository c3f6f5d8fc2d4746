from __future__ import annotations

import pytest

from domain.errors import InvalidTransition
from domain.values import DossierState as S
from domain.values import Role
from workflow.spec import CURRENT_VERSION, SPECS, Scope, Workflow, spec_for

SPEC = spec_for(CURRENT_VERSION)


@pytest.mark.parametrize(
    ("state", "trigger", "destination"),
    [
        (S.DRAFT, "submit", S.SUBMITTED),
        (S.DRAFT, "withdraw", S.WITHDRAWN),
        (S.WITHDRAWN, "restore", S.DRAFT),
        (S.SUBMITTED, "endorse", S.ENDORSED),
        (S.SUBMITTED, "return_to_unit", S.RETURNED_TO_UNIT),
        (S.RETURNED_TO_UNIT, "resubmit", S.SUBMITTED),
        (S.ENDORSED, "approve", S.APPROVED),
        (S.ENDORSED, "return_to_committee", S.RETURNED_TO_COMMITTEE),
        (S.RETURNED_TO_COMMITTEE, "endorse", S.ENDORSED),
        (S.ENDORSED, "mark_not_rated", S.NOT_RATED),
        (S.APPROVED, "reopen", S.REOPENED),
        (S.REOPENED, "approve", S.APPROVED),
        (S.DRAFT, "record_answers", S.DRAFT),
        (S.RETURNED_TO_UNIT, "attach_evidence", S.RETURNED_TO_UNIT),
    ],
)
def test_each_trigger_leads_from_its_state_to_its_destination(state: S, trigger: str, destination: S) -> None:
    assert SPEC.destination(state, trigger) is destination


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(S.SUBMITTED, "record_answers"), (S.DRAFT, "approve"), (S.APPROVED, "submit"), (S.WITHDRAWN, "submit")],
)
def test_a_trigger_from_the_wrong_state_is_refused_naming_what_is_possible(state: S, trigger: str) -> None:
    with pytest.raises(InvalidTransition, match="possible now"):
        SPEC.destination(state, trigger)


def test_an_unknown_trigger_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="unknown action"):
        SPEC.destination(S.DRAFT, "promote")


def test_only_secretaries_edit_and_submit_and_only_approvers_decide() -> None:
    for trigger in ("record_answers", "attach_evidence", "submit", "resubmit", "withdraw", "restore"):
        assert SPEC.rule(trigger).role is Role.SECRETARY
        assert SPEC.rule(trigger).scope is Scope.OWN_UNIT
    for trigger in ("endorse", "return_to_unit"):
        assert SPEC.rule(trigger).role is Role.REVIEWER
        assert SPEC.rule(trigger).scope is Scope.DIRECT_SUPERIOR
    for trigger in ("approve", "return_to_committee", "mark_not_rated", "reopen"):
        assert SPEC.rule(trigger).role is Role.APPROVER
    assert not any(rule.role in (Role.AUDITOR, Role.ADMINISTRATOR) for rule in SPEC.rules.values())


def test_returns_reopenings_and_exemptions_need_a_reason() -> None:
    needing = {t for t, rule in SPEC.rules.items() if rule.needs_reason}
    assert needing == {"withdraw", "return_to_unit", "return_to_committee", "mark_not_rated", "reopen"}


def test_the_spec_renders_as_a_mermaid_state_diagram_with_every_transition() -> None:
    diagram = SPEC.mermaid
    assert diagram.lstrip("-\n").startswith(f"Dossier workflow v{CURRENT_VERSION}") or "stateDiagram-v2" in diagram
    assert "stateDiagram-v2" in diagram
    for line in ("DRAFT --> SUBMITTED: submit", "ENDORSED --> APPROVED: approve", "APPROVED --> REOPENED: reopen"):
        assert line in diagram


def test_every_known_version_is_kept_so_old_dossiers_stay_valid() -> None:
    assert CURRENT_VERSION in SPECS
    with pytest.raises(InvalidTransition, match="unknown workflow version"):
        spec_for(999)


def test_the_workflow_table_gives_the_same_destination_and_the_same_refusal_when_asked_again() -> None:
    workflow = Workflow()
    for _ in range(2):
        assert workflow.destination(CURRENT_VERSION, S.DRAFT, "submit") is S.SUBMITTED
        assert workflow.destination(CURRENT_VERSION, S.SUBMITTED, "endorse") is S.ENDORSED
        with pytest.raises(InvalidTransition):
            workflow.destination(CURRENT_VERSION, S.APPROVED, "submit")
