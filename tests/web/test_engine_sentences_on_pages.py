"""The engine's own sentences on the pages, in the reader's language: a refusal's detail under its headline, and the
rules' explanation of a suggested classification, on the page and in the fragment an autosave redraws."""

from __future__ import annotations

import io
import pickle
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations
from fastapi.testclient import TestClient
from httpx2 import Response

from domain.actor import Actor
from domain.decisions import DecisionBook, DecisionEntry
from domain.errors import InvalidInput, QuotaExceeded
from domain.messages import N_, Count, Message, Percent, Series, Titled
from domain.values import Classification, Role
from tests.web.world import REVIEWER, SECRETARY, Web, csrf, text_of
from web import forms, i18n, labels, sentences
from workflow.rules import load_rule_book, missing_answers

# Words of the English sentences that must not be left on a Vietnamese or Hindi page.
ADMIN = Actor(uuid4(), Role.ADMINISTRATOR, uuid4())
NOW = datetime(2024, 12, 20, tzinfo=UTC)
ENGLISH_WORDS = re.compile(
    r"(?<!\w)(needs the|you act as|needs a reason|not met|disqualifiers|needs at least|points)(?!\w)"
)


def _in(client: TestClient, locale: str) -> TestClient:
    client.headers["Accept-Language"] = locale
    return client


def _explanation(response: Response) -> list[str]:
    block = re.search(r'<ul class="explanation">(.*?)</ul>', response.text, re.S)
    assert block, "the page shows no explanation"
    lines = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [re.sub(r"\s+", " ", line).replace("&#39;", "'").replace("&#34;", '"').strip() for line in lines]


def _submitted(web: Web) -> str:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page, version = web.page(secretary, path)
    assert web.post(secretary, f"{path}/act/submit", page, {"version": version}).status_code == 303
    return path


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en", "'Decide the classification' needs the Approver (standing committee) role; you act as Secretary"),
        ("vi", "“Quyết định xếp loại” cần vai trò Người phê duyệt (Ban Thường vụ); "
               "đồng chí đang thực hiện với vai trò Bí thư"),
        ("hi", "“वर्गीकरण का निर्णय करें” के लिए अनुमोदक (स्थायी समिति) की भूमिका आवश्यक है; "
               "आप सचिव के रूप में कार्य कर रहे हैं"),
    ],
)
def test_a_secretary_refused_a_decision_reads_why_in_their_language_with_its_roles_and_step(
    web: Web, locale: str, sentence: str
) -> None:
    path = web.dossier_path()
    client = _in(web.signed_in(SECRETARY), locale)
    page, version = web.page(client, path)
    response = web.post(client, f"{path}/act/approve", page, {"version": version, "level": "good"})
    assert response.status_code == 403
    shown = text_of(response)
    assert sentence in shown
    if locale != "en":
        assert not ENGLISH_WORDS.search(shown), shown


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("vi", "Việc trả hồ sơ về đơn vị cần nêu lý do"),
        ("hi", "अभिलेख उसकी इकाई को लौटाना के लिए कारण आवश्यक है"),
    ],
)
def test_a_return_without_a_reason_is_refused_in_the_reviewer_s_language(
    web: Web, locale: str, sentence: str
) -> None:
    path = _submitted(web)
    reviewer = _in(web.signed_in(REVIEWER), locale)
    page, version = web.page(reviewer, path)
    response = web.post(reviewer, f"{path}/act/return_to_unit", page, {"version": version, "reason": "  "})
    assert response.status_code == 422
    shown = text_of(response)
    assert sentence in shown
    assert "returning a dossier" not in shown
    # Nothing was recorded: the dossier is still waiting for its review.
    assert web.engine.dossier(web.engine.find_dossier(path.rsplit("/", 1)[-1])).state.value == "submitted"


@pytest.mark.parametrize(("locale", "limit"), [("vi", "20.000"), ("hi", "20,000"), ("en", "20,000")])
def test_a_figure_in_a_refusal_is_written_as_the_reader_s_locale_writes_numbers(
    web: Web, locale: str, limit: str
) -> None:
    path = web.dossier_path()
    client = _in(web.signed_in(SECRETARY), locale)
    page, version = web.page(client, path)
    before = web.engine.dossier(web.engine.find_dossier(path.rsplit("/", 1)[-1])).version
    field = re.search(r'name="(c\.[^"]+\.comment)"', page)
    assert field, "the form has no comment field"
    response = web.post(client, f"{path}/answers", page, {"version": version, field.group(1): "x" * 20_001})
    assert response.status_code == 422
    wanted = {
        "vi": f"có trường dài quá {limit} ký tự",
        "hi": f"कोई फ़ील्ड {limit} वर्णों से लंबा है",
        "en": f"a field is longer than {limit} characters",
    }[locale]
    assert wanted in text_of(response)
    assert web.engine.dossier(web.engine.find_dossier(path.rsplit("/", 1)[-1])).version == before


def test_points_out_of_range_are_refused_naming_the_criterion_by_its_title_in_vietnamese(web: Web) -> None:
    path = web.dossier_path()
    client = _in(web.signed_in(SECRETARY), "vi")
    page, version = web.page(client, path)
    did = web.engine.find_dossier(path.rsplit("/", 1)[-1])
    before = web.engine.dossier(did).version
    criterion = web.engine.rule_book.rule_set(web.engine.dossier(did).rule_set_id).criteria[0]
    assert criterion.scale == "points"
    assert criterion.max_points is not None
    response = web.post(client, f"{path}/answers", page, {"version": version, f"c.{criterion.id}.points": "999"})
    assert response.status_code == 422
    assert f"tiêu chí “{criterion.title_vi}”: điểm phải là số từ 0 đến {criterion.max_points.normalize():f}" in (
        text_of(response)
    )
    assert criterion.id not in text_of(response)
    assert web.engine.dossier(did).version == before


def test_the_rules_explanation_reads_in_vietnamese_and_hindi_and_says_the_same_as_in_english(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    english = _explanation(_in(client, "en").get(path))
    vietnamese = _explanation(_in(client, "vi").get(path))
    hindi = _explanation(_in(client, "hi").get(path))
    # The same lines, one for one, as the engine recorded them in English.
    did = web.engine.find_dossier(path.rsplit("/", 1)[-1])
    evaluation = web.engine.evaluate(did)[0]
    assert len(english) == len(vietnamese) == len(hindi) == len(evaluation.explanation) > 1
    assert "disqualifiers: none applies" in english
    assert "điều kiện loại trừ: không có điều kiện nào áp dụng" in vietnamese
    assert "अयोग्यता-शर्तें: कोई लागू नहीं" in hindi
    # A level line: the level by its name in the language, the figures in its words.
    assert any(line.startswith("Hoàn thành tốt nhiệm vụ: đạt — tổng ") for line in vietnamese), vietnamese
    assert any(line.startswith("अच्छा (कार्य अच्छी तरह पूरे किए): पूरा — कुल ") for line in hindi), hindi
    for line in vietnamese + hindi:
        assert not ENGLISH_WORDS.search(line), line
    # Facts are named by their titles in the language, not by their ids (which the recorded English keeps).
    rule_set = web.engine.rule_book.rule_set(web.engine.dossier(did).rule_set_id)
    fact = rule_set.fact("tasks_on_time_percent")
    assert "'tasks_on_time_percent'" in " ".join(evaluation.explanation)
    assert f"“{fact.title_vi}”" in " ".join(vietnamese)
    assert f"'{forms.title(rule_set.id, fact, 'hi')}'" in " ".join(hindi)
    assert not any(f.id in line for f in rule_set.facts for line in vietnamese + hindi)


def test_the_suggestion_an_autosave_redraws_is_in_the_reader_s_language(web: Web) -> None:
    path = web.dossier_path()
    client = _in(web.signed_in(SECRETARY), "vi")
    page, version = web.page(client, path)
    field = re.search(r'name="(c\.[^"]+\.comment)"', page)
    assert field, "the form has no comment field"
    response = client.post(
        f"{path}/answers",
        data={"csrf_token": csrf(page), "version": version, field.group(1): "Đã rà soát lại"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text[:500]
    lines = _explanation(response)
    assert "điều kiện loại trừ: không có điều kiện nào áp dụng" in lines
    assert not any(ENGLISH_WORDS.search(line) for line in lines), lines


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en", "cannot propose Excellent (completed tasks excellently): the rules allow at most Good (completed tasks "
               "well) from these answers"),
        ("vi", "không thể đề xuất mức “Hoàn thành xuất sắc nhiệm vụ”: theo quy định, với nội dung tự đánh giá này chỉ "
               "được tối đa mức “Hoàn thành tốt nhiệm vụ”"),
        ("hi", "“उत्कृष्ट (कार्य उत्कृष्ट रूप से पूरे किए)” का प्रस्ताव नहीं किया जा सकता: इन उत्तरों से नियम अधिकतम "
               "“अच्छा (कार्य अच्छी तरह पूरे किए)” की अनुमति देते हैं"),
    ],
)
def test_a_level_above_the_rules_is_refused_naming_both_levels_in_the_reader_s_language(
    web: Web, locale: str, sentence: str
) -> None:
    path = _submitted(web)
    reviewer = _in(web.signed_in(REVIEWER), locale)
    page, version = web.page(reviewer, path)
    response = web.post(reviewer, f"{path}/act/endorse", page, {"version": version, "level": "excellent"})
    assert response.status_code == 422
    assert sentence in text_of(response)


# --- the renderer itself ---------------------------------------------------------------------------------------


def _translations(entries: dict[str, str]) -> Translations:
    catalog = Catalog(locale="vi")
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def test_values_are_rendered_in_the_language_numbers_and_dates_in_its_format() -> None:
    message = Message(
        N_("%(role)s: %(count)s of %(total)s (%(share)s) on %(day)s, %(level)s"),
        role=Role.APPROVER, count=Count(12_345), total=3, share=Percent(Decimal("33.5")), day=date(2024, 12, 31),
        level=Classification.GOOD,
    )
    vi = i18n.translations("vi")
    shown = sentences.say(message, vi, i18n.Formats("vi"))
    assert shown == "Người phê duyệt (Ban Thường vụ): 12.345 of 3 (33,5%) on 31 thg 12, 2024, Hoàn thành tốt nhiệm vụ"


def test_a_quota_refusal_names_the_group_in_the_reader_s_language_and_keeps_it_as_typed_in_english() -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=NOW)
    over = [DecisionEntry(uuid4(), uuid4(), "ward/commune", Classification.EXCELLENT, None)]
    with pytest.raises(QuotaExceeded) as refused:
        book.decide(entries=over, cap=lambda n: n // 5, actor=ADMIN, timestamp=NOW)
    assert "in group 'ward/commune'" in str(refused.value)  # the command line and the logs keep the data's words
    for locale in ("vi", "hi"):
        shown = sentences.say(refused.value.message, i18n.translations(locale), i18n.Formats(locale))
        assert str(i18n.translations(locale).gettext(labels.GROUPS["ward/commune"])) in shown
        assert "ward/commune" not in shown


def test_a_translation_whose_placeholders_drifted_falls_back_to_english_not_to_an_error() -> None:
    message = Message(N_("%(name)s is empty"), name="a.pdf")
    broken = _translations({"%(name)s is empty": "Tệp %(ten)s không có nội dung"})
    assert sentences.say(message, broken, i18n.Formats("vi")) == "a.pdf is empty"


def test_a_sentence_from_elsewhere_is_shown_as_it_is() -> None:
    assert sentences.say("plain words", i18n.translations("hi"), i18n.Formats("hi")) == "plain words"
    refusal = InvalidInput("a rule file's own words, 100%")
    assert sentences.say(refusal.message, i18n.translations("vi"), i18n.Formats("vi")) == str(refusal)


def test_what_is_still_to_fill_in_is_named_by_titles_in_vietnamese_and_hindi_and_by_ids_in_english() -> None:
    book = load_rule_book()
    rule_set = book.rule_set("QD124-2023")
    cell = book.recognition("four-good-cell-LC2024")
    missing = missing_answers(rule_set, cell, {}, {})
    refusal = InvalidInput(
        N_("the self-assessment is incomplete; still to fill in: %(missing)s"), missing=Series(missing)
    )
    first, fact = rule_set.criteria[0], rule_set.facts[0]
    sub_items = [(c, s) for c in cell.criteria for s in c.sub_items]
    criterion, sub_item = sub_items[0]
    # The English the command line prints: the ids, as before.
    assert str(refusal).startswith(f"the self-assessment is incomplete; still to fill in: {first.id}, ")
    assert f"{criterion.id}.{sub_item.id}" in str(refusal)
    vietnamese = sentences.say(refusal.message, i18n.translations("vi"), i18n.Formats("vi"))
    assert vietnamese.startswith(f"bản tự đánh giá chưa đầy đủ; còn phải nhập: {first.title_vi}, ")
    assert f"{criterion.title_vi} — {sub_item.title_vi}" in vietnamese
    assert fact.title_vi in vietnamese
    hindi = sentences.say(refusal.message, i18n.translations("hi"), i18n.Formats("hi"))
    assert forms.title(rule_set.id, first, "hi") in hindi
    assert f"{forms.title(cell.id, criterion, 'hi')} — {forms.title(cell.id, sub_item, 'hi')}" in hindi
    assert not any(f"{c.id}" in hindi for c in rule_set.criteria)


def test_a_titled_item_crosses_a_process_boundary_with_its_titles() -> None:
    item = Titled("QD366-2025", "tasks_done", "Tỷ lệ hoàn thành", "Share done")
    copy = pickle.loads(pickle.dumps(item))
    assert (copy, copy.owner, copy.title_vi, copy.title_en) == (
        "tasks_done", "QD366-2025", "Tỷ lệ hoàn thành", "Share done"
    )
