from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.errors import (
    AlreadyExists,
    ClassificationRefused,
    ConcurrencyConflict,
    EvidenceRejected,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PeriodClosed,
    ReasonRequired,
)
from domain.values import Answer, Classification, DossierState, Grade
from tests.application.conftest import World
from tests.application.helpers import decided, draft, endorsed


def test_a_dossier_goes_from_self_assessment_through_review_to_approval(world: World) -> None:
    did = draft(world, "treasury", Classification.GOOD)
    world.engine.submit(world.secretary("treasury"), did)
    assert world.engine.endorse(world.district_reviewer, did).value is Classification.GOOD
    world.engine.approve(world.district_approver, did)

    dossier = world.engine.dossier(did)
    assert dossier.state is DossierState.APPROVED
    assert dossier.level is Classification.GOOD
    states = [(e.from_state, e.to_state) for e in world.engine.history(did) if hasattr(e, "from_state")]
    assert states == [
        (DossierState.DRAFT, DossierState.SUBMITTED),
        (DossierState.SUBMITTED, DossierState.ENDORSED),
        (DossierState.ENDORSED, DossierState.APPROVED),
    ]


def test_the_approval_records_rule_set_inputs_and_result_so_it_can_be_recomputed(world: World) -> None:
    did = decided(world, "treasury", Classification.GOOD)
    approved = list(world.engine.history(did))[-1]
    evaluation = approved.evaluation
    assert evaluation["rule_set_id"] == "QD124-2023"
    assert evaluation["rule_set_version"] == world.engine.rule_book.rule_set("QD124-2023").version
    assert evaluation["rule_set_sha256"] == world.engine.rule_book.rule_set("QD124-2023").sha256
    assert evaluation["level"] == "good"
    assert evaluation["inputs"]["answers"]["leadership_of_tasks"] == Answer(grade=Grade.GOOD)

    recomputation = world.engine.recompute_decision(did)
    assert recomputation.matches
    assert recomputation.recomputed.level is recomputation.decided_level is Classification.GOOD


def test_every_event_says_who_acted_as_what_over_which_unit_and_on_which_grant(world: World) -> None:
    did = decided(world, "treasury")
    events = list(world.engine.history(did))
    assert [e.actor.claim() for e in events[-3:]] == [
        world.secretary("treasury"),
        world.district_reviewer,
        world.district_approver,
    ]
    (approver_grant,) = world.engine.person(world.district_approver.person_id).grants
    assert str(events[-1].actor.grant_id) == approver_grant
    assert events[-1].actor.delegation_id is None


def test_a_return_to_the_unit_needs_a_reason_and_a_refusal_changes_nothing(world: World) -> None:
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    version = world.engine.dossier(did).version
    with pytest.raises(ReasonRequired):
        world.engine.return_to_unit(world.district_reviewer, did, reason="   ")
    assert world.engine.dossier(did).version == version
    world.engine.return_to_unit(world.district_reviewer, did, reason="Thiếu biên bản họp tháng 10")
    dossier = world.engine.dossier(did)
    assert dossier.state is DossierState.RETURNED_TO_UNIT
    assert dossier.last_reason == "Thiếu biên bản họp tháng 10"


def test_a_return_to_the_committee_needs_a_reason(world: World) -> None:
    did = endorsed(world, "treasury")
    with pytest.raises(ReasonRequired):
        world.engine.return_to_committee(world.district_approver, did, reason="")
    world.engine.return_to_committee(world.district_approver, did, reason="Cần thẩm định lại tiêu chí 3")
    assert world.engine.dossier(did).state is DossierState.RETURNED_TO_COMMITTEE
    world.engine.endorse(world.district_reviewer, did)
    assert world.engine.dossier(did).state is DossierState.ENDORSED


def test_a_resubmission_counts_the_round_and_records_what_changed(world: World) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    world.engine.submit(secretary, did)
    world.engine.return_to_unit(world.district_reviewer, did, reason="Bổ sung minh chứng")
    world.engine.record_answers(secretary, did, answers={"inspection_supervision": Answer(grade=Grade.EXCELLENT)})
    sha = world.engine.attach_evidence(secretary, did, name="bien-ban-thang-10.pdf", data=b"%PDF-1.4 minutes").value
    world.engine.submit(secretary, did)

    dossier = world.engine.dossier(did)
    assert dossier.state is DossierState.SUBMITTED
    assert dossier.round == 2
    resubmitted = list(world.engine.history(did))[-1]
    assert type(resubmitted).__name__ == "Resubmitted"
    assert list(resubmitted.changes["answers"]) == ["inspection_supervision"]
    assert resubmitted.changes["answers"]["inspection_supervision"]["after"] == Answer(grade=Grade.EXCELLENT)
    assert resubmitted.changes["evidence_added"] == [sha]


def test_a_submission_with_missing_answers_is_refused_naming_them(world: World) -> None:
    did = world.engine.open_dossier(world.secretary("treasury"), world.units["treasury"], 2024).value
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.GOOD)}
    )
    with pytest.raises(InvalidInput, match="political_ideological"):
        world.engine.submit(world.secretary("treasury"), did)
    assert world.engine.dossier(did).state is DossierState.DRAFT


def test_answers_that_do_not_fit_the_rule_set_are_refused(world: World) -> None:
    did = world.engine.open_dossier(world.secretary("treasury"), world.units["treasury"], 2024).value
    with pytest.raises(InvalidInput, match="no_such_criterion"):
        world.engine.record_answers(
            world.secretary("treasury"), did, answers={"no_such_criterion": Answer(grade=Grade.GOOD)}
        )
    with pytest.raises(InvalidInput):
        world.engine.record_answers(world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(met=True)})
    assert world.engine.dossier(did).answers == {}


def test_a_draft_can_be_withdrawn_with_a_reason_and_restored(world: World) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    with pytest.raises(ReasonRequired):
        world.engine.withdraw(secretary, did, reason="")
    world.engine.withdraw(secretary, did, reason="Nộp nhầm kỳ")
    assert world.engine.dossier(did).state is DossierState.WITHDRAWN
    with pytest.raises(InvalidTransition):
        world.engine.submit(secretary, did)
    world.engine.restore(secretary, did)
    world.engine.submit(secretary, did)
    assert world.engine.dossier(did).state is DossierState.SUBMITTED


def test_a_unit_has_one_dossier_per_period(world: World) -> None:
    draft(world, "treasury")
    with pytest.raises(AlreadyExists, match="already has a dossier"):
        world.engine.open_dossier(world.secretary("treasury"), world.units["treasury"], 2024)


def test_a_level_above_what_the_rules_allow_is_refused(world: World) -> None:
    did = draft(world, "treasury", Classification.COMPLETED)
    world.engine.submit(world.secretary("treasury"), did)
    with pytest.raises(ClassificationRefused, match="at most completed"):
        world.engine.endorse(world.district_reviewer, did, level=Classification.GOOD)
    assert world.engine.dossier(did).state is DossierState.SUBMITTED


def test_a_level_below_what_the_rules_allow_needs_a_reason(world: World) -> None:
    did = draft(world, "treasury", Classification.GOOD)
    world.engine.submit(world.secretary("treasury"), did)
    with pytest.raises(ReasonRequired):
        world.engine.endorse(world.district_reviewer, did, level=Classification.COMPLETED)
    world.engine.endorse(
        world.district_reviewer, did, level=Classification.COMPLETED, reason="Kết quả kiểm tra cho thấy còn hạn chế"
    )
    assert world.engine.dossier(did).proposed_level is Classification.COMPLETED


def test_an_approver_deciding_other_than_the_proposal_must_say_why(world: World) -> None:
    did = endorsed(world, "treasury", Classification.GOOD)
    with pytest.raises(ReasonRequired):
        world.engine.approve(world.district_approver, did, level=Classification.COMPLETED)
    world.engine.approve(
        world.district_approver, did, level=Classification.COMPLETED, reason="Chưa hoàn thành chỉ tiêu"
    )
    assert world.engine.dossier(did).level is Classification.COMPLETED


def test_a_decided_dossier_is_reclassified_only_after_a_reopening_with_a_legal_justification(world: World) -> None:
    did = decided(world, "treasury", Classification.GOOD)
    with pytest.raises(ReasonRequired):
        world.engine.reopen(world.district_approver, did, legal_basis="")
    world.engine.reopen(world.district_approver, did, legal_basis="Kết luận kiểm tra số 12-KL/UBKT ngày 10/3/2025")
    with pytest.raises(ReasonRequired):
        world.engine.approve(world.district_approver, did, level=Classification.COMPLETED)
    world.engine.approve(
        world.district_approver, did, level=Classification.COMPLETED, reason="Hủy kết quả xếp loại theo kết luận 12-KL"
    )
    events = list(world.engine.history(did))
    approvals = [e for e in events if type(e).__name__ == "Approved"]
    assert [a.level for a in approvals] == [Classification.GOOD, Classification.COMPLETED]
    assert approvals[-1].previous_level is Classification.GOOD
    assert world.engine.dossier(did).level is Classification.COMPLETED


def test_closing_the_period_locks_its_dossiers_but_not_a_legal_reclassification(world: World) -> None:
    open_did = draft(world, "cell-a")
    undecided = endorsed(world, "cell-b")
    did = decided(world, "treasury", Classification.GOOD)
    world.engine.close_period(world.admin, 2024, reason="Kết thúc kỳ đánh giá")
    with pytest.raises(PeriodClosed):
        world.engine.submit(world.secretary("cell-a"), open_did)
    assert world.engine.available_actions(world.secretary("cell-a"), open_did) == []
    # An endorsed dossier that was never decided is locked too: only a decided one may be re-opened.
    with pytest.raises(PeriodClosed):
        world.engine.approve(world.committee_approver, undecided)
    assert world.engine.available_actions(world.committee_approver, undecided) == []
    assert [a.trigger for a in world.engine.available_actions(world.district_approver, did)] == ["reopen"]
    world.engine.reopen(world.district_approver, did, legal_basis="Quyết định 5-QĐ/HU hủy kết quả")
    with pytest.raises(PeriodClosed):
        world.engine.return_to_committee(world.district_approver, did, reason="x")
    world.engine.approve(world.district_approver, did, level=Classification.COMPLETED, reason="Theo quyết định 5-QĐ/HU")
    assert world.engine.dossier(did).level is Classification.COMPLETED


def test_a_stale_version_is_a_conflict_and_changes_nothing(world: World) -> None:
    did = draft(world, "treasury")
    seen = world.engine.dossier(did).version
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)}
    )
    with pytest.raises(ConcurrencyConflict, match="reload"):
        world.engine.submit(world.secretary("treasury"), did, expected_version=seen)
    assert world.engine.dossier(did).state is DossierState.DRAFT


def test_two_writers_on_the_same_version_one_wins_and_the_other_gets_a_conflict(world: World) -> None:
    did = draft(world, "treasury")
    first = world.engine.dossier(did)
    second = world.engine.dossier(did)
    first.record_answers(
        world.engine.workflow,
        answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)},
        facts={},
        actor=world.secretary("treasury"),
        timestamp=world.clock(),
    )
    second.record_answers(
        world.engine.workflow,
        answers={"leadership_of_tasks": Answer(grade=Grade.AVERAGE)},
        facts={},
        actor=world.secretary("treasury"),
        timestamp=world.clock(),
    )
    world.engine._save(first)
    with pytest.raises(ConcurrencyConflict):
        world.engine._save(second)
    assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is Grade.EXCELLENT


def test_the_dossier_as_of_a_date_is_the_dossier_as_it_stood_then(world: World) -> None:
    did = draft(world, "treasury")
    world.clock.set(datetime(2024, 11, 20, 3, 0, tzinfo=UTC))
    world.engine.submit(world.secretary("treasury"), did)
    world.clock.set(datetime(2024, 12, 2, 3, 0, tzinfo=UTC))
    world.engine.endorse(world.district_reviewer, did)

    assert world.engine.dossier_as_of(did, date(2024, 11, 1)).state is DossierState.DRAFT
    assert world.engine.dossier_as_of(did, date(2024, 11, 25)).state is DossierState.SUBMITTED
    assert world.engine.dossier_as_of(did, date(2024, 12, 2)).state is DossierState.ENDORSED
    with pytest.raises(NotFound, match="did not exist yet"):
        world.engine.dossier_as_of(did, date(2024, 10, 1))


def test_a_submission_after_the_deadline_is_accepted_and_marked_late(world: World) -> None:
    did = draft(world, "treasury")
    world.clock.set(datetime(2024, 12, 20, 3, 0, tzinfo=UTC))
    world.engine.submit(world.secretary("treasury"), did)
    assert list(world.engine.history(did))[-1].late is True


def test_evidence_is_stored_by_content_and_checked_for_size_and_type(world: World) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    sha = world.engine.attach_evidence(secretary, did, name="Biên bản.pdf", data=b"%PDF-1.7 bien ban").value
    assert world.engine.blobs.get(sha) == b"%PDF-1.7 bien ban"
    evidence = world.engine.dossier(did).evidence[sha]
    assert (evidence.name, evidence.size, evidence.media_type) == ("Biên bản.pdf", 17, "application/pdf")
    with pytest.raises(EvidenceRejected, match="not accepted"):
        world.engine.attach_evidence(secretary, did, name="virus.exe", data=b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64))
    with pytest.raises(EvidenceRejected, match="limit"):
        world.engine.attach_evidence(
            secretary, did, name="huge.txt", data=b"a" * (world.engine.evidence_policy.max_bytes + 1)
        )
    with pytest.raises(InvalidInput, match="already attached"):
        world.engine.attach_evidence(secretary, did, name="copy.pdf", data=b"%PDF-1.7 bien ban")
    assert list(world.engine.dossier(did).evidence) == [sha]


def test_the_actions_offered_follow_the_state_and_the_actor(world: World) -> None:
    did = draft(world, "treasury")
    triggers = {a.trigger for a in world.engine.available_actions(world.secretary("treasury"), did)}
    assert triggers == {"record_answers", "attach_evidence", "submit", "withdraw"}
    assert world.engine.available_actions(world.district_reviewer, did) == []
    world.engine.submit(world.secretary("treasury"), did)
    assert world.engine.available_actions(world.secretary("treasury"), did) == []
    assert {a.trigger for a in world.engine.available_actions(world.district_reviewer, did)} == {
        "endorse",
        "return_to_unit",
    }
    assert world.engine.available_actions(world.auditor, did) == []


def test_answers_whose_facts_contradict_those_recorded_are_refused_and_change_nothing(world: World) -> None:
    did = draft(world, "treasury", Classification.GOOD)
    version = world.engine.dossier(did).version
    assert world.engine.dossier(did).facts["subordinate_org_disciplined"] is False
    with pytest.raises(InvalidInput, match="facts contradict each other"):
        world.engine.record_answers(
            world.secretary("treasury"), did, facts={"subordinates_disciplined_percent": 25}
        )
    assert world.engine.dossier(did).version == version


def test_every_command_returns_the_position_of_its_last_event_for_read_your_writes(world: World) -> None:
    engine = world.engine
    secretary = world.secretary("treasury")
    opened = engine.open_dossier(secretary, world.units["treasury"], 2024)
    assert opened.position == engine.recorder.max_notification_id()
    answers = engine.record_answers(secretary, opened.value, facts={"concrete_products": True})
    assert answers.position == engine.recorder.max_notification_id() > opened.position
    # Saving the same answers again records nothing: there is nothing new to wait for.
    assert engine.record_answers(secretary, opened.value, facts={"concrete_products": True}).position == 0
    endorsed_did = endorsed(world, "cell-a")
    decided = engine.approve(world.committee_approver, endorsed_did)
    # The decision writes the dossier and the decision book in one save: the position is that of the last event.
    assert decided.position == engine.recorder.max_notification_id()
    assert decided.value.group == "party_cell"


def test_recording_the_valid_answers_keeps_the_others_out_and_says_why_each_one_was_kept_out(world: World) -> None:
    secretary = world.secretary("treasury")
    did = world.engine.open_dossier(secretary, world.units["treasury"], 2024).value
    receipt = world.engine.record_valid_answers(
        secretary, did,
        answers={
            "leadership_of_tasks": Answer(grade=Grade.GOOD, comment="Hoàn thành"),
            "political_ideological": Answer(met=True),  # a graded criterion answered met
            "organization_cadres": Answer(grade=Grade.GOOD, comment="Dòng\x1b[2Jchữ"),  # a forging character
        },
        facts={"targets_met_percent": Decimal(150), "subordinates_disciplined_percent": Decimal(5),
               "concrete_products": True},
    )
    dossier = world.engine.dossier(did)
    assert receipt.position > 0
    assert dossier.answers == {"leadership_of_tasks": Answer(grade=Grade.GOOD, comment="Hoàn thành")}
    assert dossier.facts == {"subordinates_disciplined_percent": Decimal(5), "concrete_products": True}
    assert set(receipt.value.answers) == {"political_ideological", "organization_cadres"}
    assert set(receipt.value.facts) == {"targets_met_percent"}
    assert "political_ideological" in str(receipt.value.answers["political_ideological"])
    assert "ESCAPE" in str(receipt.value.answers["organization_cadres"])


def test_recording_only_valid_answers_is_recording_them_all(world: World) -> None:
    secretary = world.secretary("treasury")
    did = world.engine.open_dossier(secretary, world.units["treasury"], 2024).value
    receipt = world.engine.record_valid_answers(
        secretary, did, answers={"leadership_of_tasks": Answer(grade=Grade.GOOD)}, expected_version=1
    )
    assert not receipt.value
    assert world.engine.dossier(did).answers == {"leadership_of_tasks": Answer(grade=Grade.GOOD)}
    # A stale version is refused whole, as by record_answers: nothing is recorded, whatever is valid.
    with pytest.raises(ConcurrencyConflict):
        world.engine.record_valid_answers(
            secretary, did, answers={"political_ideological": Answer(grade=Grade.GOOD), "x": Answer(met=True)},
            expected_version=1,
        )
    assert "political_ideological" not in world.engine.dossier(did).answers
