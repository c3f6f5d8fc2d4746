"""The spec's edges, which the workflow page draws: the same transitions the engine follows, each once."""

from __future__ import annotations

from domain.values import DossierState as S
from workflow.spec import CURRENT_VERSION, spec_for


def test_every_edge_is_a_transition_the_engine_takes_and_every_possible_trigger_has_its_edge() -> None:
    spec = spec_for(CURRENT_VERSION)
    edges = spec.edges()
    for source, trigger, destination in edges:
        assert spec.destination(source, trigger) is (destination or source)
    possible = {(state, trigger) for state in S for trigger in spec.triggers_from(state)}
    assert {(source, trigger) for source, trigger, _ in edges} == possible
    assert len(edges) == len(possible)


def test_an_edit_stays_in_its_state_and_a_decision_leaves_it() -> None:
    edges = spec_for(CURRENT_VERSION).edges()
    assert (S.DRAFT, "record_answers", None) in edges
    assert (S.ENDORSED, "approve", S.APPROVED) in edges
    assert (S.APPROVED, "reopen", S.REOPENED) in edges
