"""Names sorted and searched as a Vietnamese reader expects (web/i18n.py): the lists of units on every page use it;
and an act's date written as Vietnamese documents write it."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from web.i18n import Formats, fold, matches, vietnamese_key


def ordered(*names: str) -> list[str]:
    return sorted(names, key=vietnamese_key)


def test_a_letter_with_a_breve_or_a_circumflex_follows_its_base_and_d_with_a_stroke_follows_d() -> None:
    assert ordered("Đỗ", "Dương", "Bùi", "Ân", "An", "Ăn") == ["An", "Ăn", "Ân", "Bùi", "Dương", "Đỗ"]


def test_o_with_a_circumflex_or_a_horn_u_with_a_horn_and_e_with_a_circumflex_are_letters_of_their_own() -> None:
    assert ordered("Ơn", "Pha", "Ôn", "On") == ["On", "Ôn", "Ơn", "Pha"]
    assert ordered("Vân", "Ưng", "Uyên") == ["Uyên", "Ưng", "Vân"]
    assert ordered("Ếch", "Gấm", "Em") == ["Em", "Ếch", "Gấm"]


def test_đ_sorts_after_every_word_in_d_however_long() -> None:
    # Unlike a code-point or accent-blind order, which would put "Đà Nẵng" among the D's.
    assert ordered("Đà Nẵng", "Dũng", "Duyên", "Đinh") == ["Dũng", "Duyên", "Đà Nẵng", "Đinh"]


def test_tones_break_ties_in_the_order_level_grave_hook_tilde_acute_dot_below() -> None:
    assert ordered("Lạn", "Lán", "Lãn", "Lản", "Làn", "Lan") == ["Lan", "Làn", "Lản", "Lãn", "Lán", "Lạn"]


def test_tones_only_break_ties_the_letters_decide_first() -> None:
    # "Lạc" has the heaviest tone and still comes first: c < n decides before any tone is looked at.
    assert ordered("Lan", "Lạc") == ["Lạc", "Lan"]
    assert ordered("Lán", "Là", "Lâm") == ["Là", "Lán", "Lâm"]


def test_a_word_comes_before_the_longer_words_it_begins() -> None:
    assert ordered("Anh", "An Bình", "An") == ["An", "An Bình", "Anh"]
    assert ordered("Chi bộ Tổng hợp", "Chi bộ Tổ 1") == ["Chi bộ Tổ 1", "Chi bộ Tổng hợp"]


def test_numbers_in_names_are_ordered_by_their_value() -> None:
    names = [f"Chi bộ Tổ dân phố số {n} (phường Kim Tân)" for n in (12, 5, 3, 100)]
    assert ordered(*names) == [f"Chi bộ Tổ dân phố số {n} (phường Kim Tân)" for n in (3, 5, 12, 100)]
    assert ordered("Chi bộ Trường THPT số 2", "Chi bộ Trường THPT", "Chi bộ Trường THPT số 1") == [
        "Chi bộ Trường THPT", "Chi bộ Trường THPT số 1", "Chi bộ Trường THPT số 2",
    ]


def test_case_spacing_and_unicode_normalization_do_not_change_a_name_s_place() -> None:
    name = "Đảng bộ phường Kim Tân"
    assert vietnamese_key(name.upper()) == vietnamese_key(name)
    assert vietnamese_key(unicodedata.normalize("NFD", name)) == vietnamese_key(name)
    assert vietnamese_key(f"  {name.replace(' ', '   ')} ") == vietnamese_key(name)


def test_a_realistic_list_of_units_reads_in_dictionary_order() -> None:
    units = [
        "Đảng bộ phường Pom Hán", "Chi bộ Kho bạc Nhà nước", "Đảng bộ xã Cam Đường", "Đảng bộ Công an thành phố",
        "Chi bộ Tòa án nhân dân thành phố", "Đảng bộ phường Kim Tân", "Chi bộ Trường THPT số 1 Mường Khương",
        "Đảng bộ Y tế",
    ]
    assert ordered(*units) == [
        "Chi bộ Kho bạc Nhà nước", "Chi bộ Tòa án nhân dân thành phố", "Chi bộ Trường THPT số 1 Mường Khương",
        "Đảng bộ Công an thành phố", "Đảng bộ phường Kim Tân", "Đảng bộ phường Pom Hán", "Đảng bộ xã Cam Đường",
        "Đảng bộ Y tế",
    ]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("lao cai", "Tỉnh ủy Lào Cai"),
        ("Lào Cai", "Tinh uy Lao Cai"),
        ("dang", "Đảng bộ phường Kim Tân"),
        ("ĐẢNG BỘ", "Đảng bộ phường Kim Tân"),
        ("kim tan", "Đảng bộ phường Kim Tân"),
        ("muong khuong", "Chi bộ Trường THPT số 1 Mường Khương"),
        (unicodedata.normalize("NFD", "Mường"), "Mường Khương"),
        ("pom  han", "Đảng bộ phường Pom Hán"),
    ],
)
def test_search_ignores_tones_letter_marks_case_and_spacing(query: str, text: str) -> None:
    assert matches(query, text)


def test_search_needs_every_word_of_the_query_in_the_name_or_the_code() -> None:
    assert matches("kim tan cb1", "Chi bộ Tổ dân phố số 5", "lc-kim-tan-cb1")
    assert not matches("lao cai", "Tỉnh ủy Lạng Sơn")
    assert not matches("kim tan pom", "Đảng bộ phường Kim Tân")


def test_folding_removes_tones_and_letter_marks_and_reads_đ_as_d() -> None:
    assert fold("Lào Cai") == "lao cai"
    assert fold("Đảng") == "dang"
    assert fold("ĐƯỜNG Ươm Ấp") == "duong uom ap"


@pytest.mark.parametrize(
    ("day", "written"),
    [
        (date(2025, 2, 5), "ngày 05 tháng 02 năm 2025"),
        (date(2025, 1, 31), "ngày 31 tháng 01 năm 2025"),
        (date(2025, 3, 9), "ngày 09 tháng 3 năm 2025"),
        (date(2025, 11, 28), "ngày 28 tháng 11 năm 2025"),
    ],
)
def test_an_act_is_dated_as_vietnamese_documents_write_it(day: date, written: str) -> None:
    assert Formats("vi").act_date(day) == written


def test_an_act_is_dated_in_the_long_form_in_english_and_hindi() -> None:
    assert Formats("en").act_date(date(2025, 11, 28)) == "November 28, 2025"
    assert Formats("hi").act_date(date(2025, 11, 28)) == "28 नवंबर 2025"


@pytest.mark.parametrize(
    ("size", "vi", "en"),
    [
        (0, "0 byte", "0 bytes"),
        (770, "770 byte", "770 bytes"),
        (999, "999 byte", "999 bytes"),
        (1_234, "1,2 kB", "1.2 kB"),
        (999_949, "999,9 kB", "999.9 kB"),
        (999_960, "1 MB", "1 MB"),  # the unit is chosen after rounding, never "1.000 kB"
        (20 * 1024 * 1024, "21 MB", "21 MB"),
    ],
)
def test_a_file_size_is_written_in_the_largest_unit_it_reaches_with_the_locale_s_decimal_sign(
    size: int, vi: str, en: str
) -> None:
    assert (Formats("vi").file_size(size), Formats("en").file_size(size)) == (vi, en)
