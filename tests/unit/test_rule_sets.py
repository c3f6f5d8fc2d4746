from __future__ import annotations

import dataclasses
import hashlib
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import InvalidInput, RuleSetError
from domain.values import Answer, Grade, UnitKind
from workflow.rules import (
    DEFAULT_RULES_DIR,
    RuleBook,
    RuleSet,
    load_rule_book,
    missing_answers,
    validate_answers,
)

QD124 = "QD124-2023.toml"
QD366 = "QD366-2025.toml"
CELL = "four-good-cell-LC2024.toml"
COMMITTEE = "four-good-committee-LC2024.toml"


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rule_book()


@pytest.fixture(scope="module")
def qd124(book: RuleBook) -> RuleSet:
    return book.rule_set("QD124-2023")


@pytest.fixture(scope="module")
def qd366(book: RuleBook) -> RuleSet:
    return book.rule_set("QD366-2025")


def shipped(name: str) -> str:
    return (DEFAULT_RULES_DIR / name).read_text(encoding="utf-8")


def edited(name: str, old: str, new: str, count: int = 1) -> str:
    text = shipped(name)
    assert old in text, f"the edit no longer applies to {name}: {old!r}"
    return text.replace(old, new, count)


def load_broken(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_book(tmp_path)
    return str(caught.value)


# --- the shipped rule book -----------------------------------------------------------------------------------


def test_the_shipped_rule_book_has_two_rule_sets_and_two_recognition_models(book: RuleBook) -> None:
    assert [rs.id for rs in book.rule_sets] == ["QD124-2023", "QD366-2025"]
    assert sorted(m.id for m in book.recognition_models) == ["four-good-cell-LC2024", "four-good-committee-LC2024"]


def test_every_criterion_sub_item_fact_and_rule_states_its_source(book: RuleBook) -> None:
    sourced: list[tuple[str, str]] = []
    for rs in book.rule_sets:
        sourced += [(rs.id, rs.source), (f"{rs.id} quota", rs.quota_source)]
        sourced += [(c.id, c.source) for c in rs.criteria] + [(f.id, f.source) for f in rs.facts]
        sourced += [(g.id, g.source) for g in rs.groups] + [(d.id, d.source) for d in rs.disqualifiers]
        sourced += [(r.level.value, r.source) for r in rs.levels]
        sourced += [(r.level.value, r.subordinates.source) for r in rs.levels if r.subordinates is not None]
    for m in book.recognition_models:
        sourced += [(m.id, m.source)] + [(c.id, c.source) for c in m.criteria]
        sourced += [(s.id, s.source) for c in m.criteria for s in c.sub_items]
    assert len(sourced) > 60
    assert [what for what, source in sourced if not source.strip()] == []


def test_vietnamese_titles_are_loaded_intact(book: RuleBook, qd124: RuleSet) -> None:
    assert qd124.criterion("inspection_supervision").title_vi == "Công tác kiểm tra, giám sát và thi hành kỷ luật đảng"
    assert qd124.criterion("inspection_supervision").title_en == "Inspection, supervision and party discipline"
    cell = book.recognition("four-good-cell-LC2024")
    assert cell.title_vi == "Chi bộ 4 tốt (Lào Cai, 2024)"
    assert cell.criterion("fg_meeting_quality").title_vi == "Chất lượng sinh hoạt tốt"
    sub = {s.id: s.title_vi for s in cell.criterion("fg_meeting_quality").sub_items}
    assert sub["no_member_over_3_consecutive_excused_absences"] == (
        "Không có đảng viên vắng sinh hoạt có lý do quá 3 lần liên tiếp"
    )
    for title in (qd124.title_vi, cell.title_vi, *(c.title_vi for c in cell.criteria)):
        assert unicodedata.is_normalized("NFC", title)


def test_the_committee_model_has_nine_criteria_and_says_which_four_are_not_from_the_seeds(book: RuleBook) -> None:
    committee = book.recognition("four-good-committee-LC2024")
    assert len(committee.criteria) == 9
    drawn = [c.id for c in committee.criteria if "drawn from the standard criteria groups" in c.source]
    assert drawn == [c.id for c in committee.criteria[5:]]
    assert all("seed article" in c.source and "Not in" not in c.source for c in committee.criteria[:5])


def test_the_points_rule_set_splits_100_points_into_30_general_and_70_task_results(qd366: RuleSet) -> None:
    assert qd366.scheme == "points"
    assert sum(c.max_points or 0 for c in qd366.criteria) == 100
    assert {g.id: g.max_points for g in qd366.groups} == {"general": 30, "task_results": 70}
    for group in qd366.groups:
        assert sum(c.max_points or 0 for c in qd366.criteria if c.group == group.id) == group.max_points


def test_a_fact_that_can_disqualify_carries_the_disqualifier_description(qd124: RuleSet) -> None:
    assert (
        qd124.fact("internal_disunity_concluded").disqualifier == "internal disunity concluded by the competent level"
    )
    assert qd124.fact("task_results").disqualifier is None


def test_the_rule_set_sha256_is_that_of_the_file_bytes(book: RuleBook) -> None:
    for rs in book.rule_sets:
        assert rs.sha256 == hashlib.sha256((DEFAULT_RULES_DIR / f"{rs.id}.toml").read_bytes()).hexdigest()
    for m in book.recognition_models:
        assert m.sha256 == hashlib.sha256((DEFAULT_RULES_DIR / f"{m.id}.toml").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2023, "QD124-2023"), (2024, "QD124-2023"), (2025, "QD366-2025"), (2031, "QD366-2025")],
)
def test_the_rule_set_in_force_is_chosen_by_the_period_year(book: RuleBook, year: int, expected: str) -> None:
    assert book.rule_set_for_year(year).id == expected


def test_a_year_before_every_rule_set_is_refused_with_the_known_ones(book: RuleBook) -> None:
    with pytest.raises(RuleSetError, match=r"2022.*QD124-2023 \(2023–2024\).*QD366-2025 \(2025–onward\)"):
        book.rule_set_for_year(2022)


def test_an_unknown_rule_set_id_is_refused_naming_the_known_ids(book: RuleBook) -> None:
    with pytest.raises(RuleSetError, match=r"QD999.*QD124-2023, QD366-2025"):
        book.rule_set("QD999")
    with pytest.raises(RuleSetError, match="four-good-cell-LC2024"):
        book.recognition("five-good")


def test_an_unknown_criterion_lookup_names_the_criteria(qd124: RuleSet) -> None:
    with pytest.raises(RuleSetError, match="leadership_of_tasks"):
        qd124.criterion("leadership")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (UnitKind.PARTY_CELL, "four-good-cell-LC2024"),
        (UnitKind.GRASSROOTS_CELL, "four-good-cell-LC2024"),
        (UnitKind.GRASSROOTS_COMMITTEE, "four-good-committee-LC2024"),
        (UnitKind.SUPERIOR_COMMITTEE, None),
    ],
)
def test_the_recognition_model_of_a_unit_follows_its_kind(book: RuleBook, kind: UnitKind, expected: str | None) -> None:
    model = book.recognition_for(["four-good-cell-LC2024", "four-good-committee-LC2024"], kind)
    assert (model.id if model else None) == expected


def test_a_period_without_recognition_models_recognizes_nothing(book: RuleBook) -> None:
    assert book.recognition_for([], UnitKind.PARTY_CELL) is None


# --- the quota ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("good_or_better", "cap"), [(10, 2), (5, 1), (4, 0), (0, 0), (14, 2), (15, 3), (100, 20)])
def test_the_quota_allows_a_fifth_of_the_good_or_better_rounded_down(
    qd124: RuleSet, qd366: RuleSet, good_or_better: int, cap: int
) -> None:
    assert qd124.quota_cap(good_or_better) == cap
    assert qd366.quota_cap(good_or_better) == cap


def test_the_quota_is_on_by_default_in_both_rule_sets_at_20_percent(qd124: RuleSet, qd366: RuleSet) -> None:
    assert (qd124.quota_enabled, qd124.quota_share) == (True, Decimal("0.2"))
    assert (qd366.quota_enabled, qd366.quota_share) == (True, Decimal("0.2"))


def test_a_disabled_quota_has_no_cap(qd366: RuleSet) -> None:
    disabled = dataclasses.replace(qd366, quota_enabled=False)
    assert disabled.quota_cap(10) is None
    assert disabled.describe_quota(10) == "quota: disabled in rule set QD366-2025"


def test_the_quota_can_be_disabled_in_the_file(tmp_path: Path) -> None:
    text = edited(QD366, "enabled = true", "enabled = false")
    (tmp_path / QD366).write_text(text, encoding="utf-8")
    assert load_rule_book(tmp_path).rule_set("QD366-2025").quota_cap(10) is None


def test_the_quota_is_explained_with_its_figures(qd124: RuleSet) -> None:
    assert qd124.describe_quota(10) == "quota: 10 good-or-better allow 2 excellent"


def test_a_negative_count_has_no_quota(qd124: RuleSet) -> None:
    with pytest.raises(ValueError, match="negative"):
        qd124.quota_cap(-1)


# --- loader errors name the file and the field ---------------------------------------------------------------------


def test_a_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    message = load_broken(tmp_path, QD124, shipped(QD124) + "\n[[criteria]\n")
    assert message.startswith(f"{QD124}: invalid TOML")


def test_a_criterion_without_its_source_is_refused(tmp_path: Path) -> None:
    text = edited(
        QD124,
        'source = "Regulation 124-QĐ/TW; Guidance 25-HD/BTCTW (standard criteria group of the annual review)"\n',
        "",
    )
    assert f"{QD124}: criteria[0].source: Field required" in load_broken(tmp_path, QD124, text)


def test_a_misspelt_key_is_refused_not_ignored(tmp_path: Path) -> None:
    text = edited(QD124, 'scale = "grade"', 'scael = "grade"')
    message = load_broken(tmp_path, QD124, text)
    assert f"{QD124}: criteria[0].scael: Extra inputs are not permitted" in message
    assert f"{QD124}: criteria[0].scale: Field required" in message


def test_points_that_do_not_sum_to_100_are_refused(tmp_path: Path) -> None:
    text = edited(QD366, "max_points = 50", "max_points = 49")
    message = load_broken(tmp_path, QD366, text)
    assert f"{QD366}: criteria: max_points sum to 99, must be 100" in message
    assert f"{QD366}: groups[1].max_points: group 'task_results' has 70 points but its criteria sum to 69" in message


def test_a_points_criterion_without_max_points_is_refused(tmp_path: Path) -> None:
    text = edited(QD366, "max_points = 50\n", "")
    assert f"{QD366}: criteria[5].max_points: a points criterion needs max_points above 0" in load_broken(
        tmp_path, QD366, text
    )


def test_a_graded_criterion_with_max_points_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'scale = "grade"', 'scale = "grade"\nmax_points = 10')
    assert f"{QD124}: criteria[0].max_points: only a points criterion has max_points" in load_broken(
        tmp_path, QD124, text
    )


def test_a_scale_that_does_not_fit_the_scheme_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'scale = "grade"', 'scale = "met"')
    assert f"{QD124}: criteria[0].scale: must be 'grade' here, got 'met'" in load_broken(tmp_path, QD124, text)


def test_duplicate_criterion_ids_are_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'id = "political_ideological"', 'id = "leadership_of_tasks"')
    assert f"{QD124}: criteria[1].id: duplicate criterion id 'leadership_of_tasks'" in load_broken(
        tmp_path, QD124, text
    )


def test_duplicate_sub_item_ids_are_refused(tmp_path: Path) -> None:
    text = edited(CELL, 'id = "model_registration"', 'id = "year_start_programme"')
    assert f"{CELL}: criteria[1].sub_items[1].id: duplicate sub-item id 'year_start_programme'" in load_broken(
        tmp_path, CELL, text
    )


def test_a_quota_share_above_one_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, "share = 0.20", "share = 1.5")
    assert f"{QD124}: quota.share: Input should be less than or equal to 1" in load_broken(tmp_path, QD124, text)


def test_a_condition_on_an_unknown_fact_is_refused(tmp_path: Path) -> None:
    text = edited(
        QD124,
        '{ fact = "task_results", op = ">=", value = "excellent" }',
        '{ fact = "results", op = ">=", value = "excellent" }',
    )
    assert f"{QD124}: levels.excellent.conditions[0].fact: unknown fact 'results'" in load_broken(tmp_path, QD124, text)


def test_a_condition_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'value = "excellent"', 'value = "outstanding"')
    message = load_broken(tmp_path, QD124, text)
    assert f"{QD124}: levels.excellent.conditions[0].value: 'outstanding' is not a grade" in message


def test_a_level_without_its_grade_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'min_grade = "good"\n', "")
    assert f"{QD124}: levels.excellent.min_grade: a graded rule set needs" in load_broken(tmp_path, QD124, text)


def test_a_missing_level_is_refused(tmp_path: Path) -> None:
    text = edited(QD366, "[levels.completed]", "[levels.complete]")
    message = load_broken(tmp_path, QD366, text)
    assert f"{QD366}: levels.completed: Field required" in message


def test_an_id_that_does_not_match_the_file_name_is_refused(tmp_path: Path) -> None:
    message = load_broken(tmp_path, "QD124-2023-copy.toml", shipped(QD124))
    assert "QD124-2023-copy.toml: id: 'QD124-2023' does not match the file name" in message


def test_a_file_without_a_kind_is_refused(tmp_path: Path) -> None:
    text = edited(QD124, 'kind = "rule_set"\n', "")
    assert f"{QD124}: kind: must be 'rule_set' or 'recognition_model', got None" in load_broken(tmp_path, QD124, text)


def test_a_recognition_model_for_an_unknown_unit_kind_is_refused(tmp_path: Path) -> None:
    text = edited(CELL, '"grassroots_cell"]', '"cell"]')
    assert f"{CELL}: applies_to[1]: Input should be" in load_broken(tmp_path, CELL, text)


def test_rule_sets_whose_years_overlap_are_refused(tmp_path: Path) -> None:
    (tmp_path / QD124).write_text(shipped(QD124), encoding="utf-8")
    message = load_broken(tmp_path, QD366, edited(QD366, "from_year = 2025", "from_year = 2024"))
    assert f"{QD366}: from_year: QD366-2025 (2024–onward) overlaps QD124-2023 (2023–2024) in 2024" in message


def test_a_recognition_criterion_cannot_reuse_an_id_of_a_rule_set(tmp_path: Path) -> None:
    (tmp_path / QD124).write_text(shipped(QD124), encoding="utf-8")
    text = edited(CELL, 'id = "fg_political_tasks"', 'id = "task_results"')
    assert f"{CELL}: criteria[0].id: 'task_results' is already used by QD124-2023" in load_broken(tmp_path, CELL, text)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / QD124).write_bytes(shipped(QD124).encode("utf-16"))
    with pytest.raises(RuleSetError, match=f"{QD124}: not UTF-8"):
        load_rule_book(tmp_path)


def test_decomposed_vietnamese_is_refused_naming_the_line(tmp_path: Path) -> None:
    text = shipped(QD124)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "Kiểm điểm" in s)
    message = load_broken(tmp_path, QD124, unicodedata.normalize("NFD", text))
    assert message.startswith(f"{QD124}: line {line}: text is not in Unicode NFC form")


def test_an_empty_directory_is_not_a_rule_book(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="no rule set files"):
        load_rule_book(tmp_path)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = edited(QD366, "max_points = 50", "max_points = 49")
    text = text.replace('id = "key_tasks"', 'id = "assigned_targets"')
    message = load_broken(tmp_path, QD366, text)
    assert "duplicate criterion id 'assigned_targets'" in message
    assert "max_points sum to 99" in message


# --- what a secretary typed in -------------------------------------------------------------------------------------


def test_partial_answers_are_valid_in_a_draft(qd124: RuleSet, qd366: RuleSet) -> None:
    validate_answers(qd124, None, {}, {})
    validate_answers(qd124, None, {"leadership_of_tasks": Answer(comment="to do")}, {"task_results": None})
    validate_answers(qd366, None, {"key_tasks": Answer(points=Decimal("9.5"))}, {"tasks_late_percent": 20})


def test_an_unknown_criterion_is_refused_listing_the_valid_ones(qd124: RuleSet) -> None:
    with pytest.raises(
        InvalidInput, match=r"unknown criterion 'leadership'.*leadership_of_tasks, political_ideological"
    ):
        validate_answers(qd124, None, {"leadership": Answer(grade=Grade.GOOD)}, {})


def test_a_four_good_criterion_needs_its_model(book: RuleBook, qd124: RuleSet) -> None:
    cell = book.recognition("four-good-cell-LC2024")
    answers = {"fg_political_tasks": Answer(met=True)}
    validate_answers(qd124, cell, answers, {})
    with pytest.raises(InvalidInput, match="unknown criterion 'fg_political_tasks'"):
        validate_answers(qd124, None, answers, {})


@pytest.mark.parametrize(
    ("rule_set_id", "criterion_id", "answer", "message"),
    [
        ("QD366-2025", "key_tasks", Answer(grade=Grade.GOOD), r"scored in points \(0 to 10\); grade given"),
        ("QD124-2023", "leadership_of_tasks", Answer(points=Decimal(5)), r"is graded .*; points given"),
        ("QD124-2023", "leadership_of_tasks", Answer(met=True), "is graded .*; met given"),
        ("QD366-2025", "key_tasks", Answer(points=Decimal("10.01")), "points must be a number from 0 to 10"),
        ("QD366-2025", "key_tasks", Answer(points=Decimal(-1)), "points must be a number from 0 to 10"),
        ("QD366-2025", "key_tasks", Answer(points=Decimal("NaN")), "points must be a number from 0 to 10"),
        ("QD366-2025", "key_tasks", Answer(points=9.5), "points must be a number from 0 to 10"),  # type: ignore[arg-type]
        (
            "QD124-2023",
            "leadership_of_tasks",
            Answer(sub_items={"x": True}),
            "has no sub-item 'x'; its sub-items are: none",
        ),
    ],
)
def test_an_answer_on_the_wrong_scale_or_out_of_range_is_refused(
    book: RuleBook, rule_set_id: str, criterion_id: str, answer: Answer, message: str
) -> None:
    with pytest.raises(InvalidInput, match=f"criterion '{criterion_id}'.*{message}"):
        validate_answers(book.rule_set(rule_set_id), None, {criterion_id: answer}, {})


def test_the_full_range_of_points_is_accepted(qd366: RuleSet) -> None:
    validate_answers(
        qd366, None, {"key_tasks": Answer(points=Decimal(0)), "assigned_targets": Answer(points=Decimal(50))}, {}
    )


def test_an_unknown_sub_item_is_refused_listing_the_valid_ones(book: RuleBook, qd124: RuleSet) -> None:
    cell = book.recognition("four-good-cell-LC2024")
    with pytest.raises(InvalidInput, match="has no sub-item 'attendance'; its sub-items are: year_start_programme"):
        validate_answers(qd124, cell, {"fg_meeting_quality": Answer(met=True, sub_items={"attendance": True})}, {})


def test_an_unknown_fact_is_refused_listing_the_valid_ones(qd124: RuleSet) -> None:
    with pytest.raises(InvalidInput, match=r"unknown fact 'results'.*task_results, concrete_products"):
        validate_answers(qd124, None, {}, {"results": Grade.GOOD})


@pytest.mark.parametrize(
    ("fact_id", "value"),
    [
        ("task_results", "good"),
        ("concrete_products", "yes"),
        ("concrete_products", 1),
        ("targets_met_percent", Decimal("100.5")),
        ("targets_met_percent", -1),
        ("targets_met_percent", True),
        ("targets_met_percent", 49.5),
    ],
)
def test_a_fact_value_of_the_wrong_type_or_range_is_refused(qd124: RuleSet, fact_id: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"fact '{fact_id}' must be"):
        validate_answers(qd124, None, {}, {fact_id: value})


def test_missing_answers_lists_criteria_sub_items_and_required_facts(book: RuleBook, qd124: RuleSet) -> None:
    cell = book.recognition("four-good-cell-LC2024")
    answers = {
        "leadership_of_tasks": Answer(grade=Grade.GOOD),
        "political_ideological": Answer(comment="later"),
        "fg_cadres_members": Answer(met=True, sub_items={"all_members_completed_or_better": True}),
    }
    missing = missing_answers(qd124, cell, answers, {"task_results": Grade.GOOD})
    assert "leadership_of_tasks" not in missing
    assert "political_ideological" in missing
    assert "fg_meeting_quality" in missing
    assert "fg_meeting_quality.attendance_above_85_percent" in missing
    assert not any(m.startswith("fg_cadres_members") for m in missing)
    assert "task_results" not in missing
    assert "concrete_products" in missing
    # Only matters when someone was disciplined, so it is not required.
    assert "violations_self_remedied" not in missing


def test_a_complete_dossier_misses_nothing(qd366: RuleSet) -> None:
    answers = {c.id: Answer(points=Decimal(0)) for c in qd366.criteria}
    facts = {f.id: (False if f.type == "bool" else 0) for f in qd366.facts if f.required}
    assert missing_answers(qd366, None, answers, facts) == []
