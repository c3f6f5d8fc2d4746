"""The demo's data file: the shipped one loads, and a broken copy is refused with the file and the field at fault."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from web.demo.data import DEFAULT_SEASON_FILE, DemoDataError, load_season

SHIPPED = DEFAULT_SEASON_FILE.read_text(encoding="utf-8")


def broken(tmp_path: Path, old: str, new: str) -> Path:
    assert SHIPPED.count(old) == 1, f"the test's anchor {old!r} must occur once in the shipped file"
    path = tmp_path / DEFAULT_SEASON_FILE.name
    path.write_text(SHIPPED.replace(old, new), encoding="utf-8")
    return path


def test_the_shipped_season_loads_with_every_unit_once_and_in_nfc() -> None:
    data = load_season()
    codes = [u.code for u in data.units]
    assert len(codes) == len(set(codes)) == 65
    assert unicodedata.is_normalized("NFC", SHIPPED)
    assert data.unit("lc-kim-tan").name == "Đảng bộ phường Kim Tân"


def test_a_misspelt_key_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    path = broken(tmp_path, 'code = "lc-pom-han-cb2"', 'code = "lc-pom-han-cb2", colour = "red"')
    with pytest.raises(DemoDataError, match=r"^season2024\.toml: units\[9\]\.colour: Extra inputs are not permitted"):
        load_season(path)


def test_a_wrong_kind_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = broken(tmp_path, 'code = "lc-kim-tan", name = "Đảng bộ phường Kim Tân", kind = "grassroots_committee"',
                  'code = "lc-kim-tan", name = "Đảng bộ phường Kim Tân", kind = "committee"')
    with pytest.raises(DemoDataError, match=r"season2024\.toml: units\[0\]\.kind: Input should be"):
        load_season(path)


def test_a_parent_that_names_no_unit_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'code = "lc-kim-tan-cb1", name = "Chi bộ Tổ dân phố số 5 (phường Kim Tân)", '
                  'kind = "party_cell", parent = "lc-kim-tan"',
                  'code = "lc-kim-tan-cb1", name = "Chi bộ Tổ dân phố số 5 (phường Kim Tân)", '
                  'kind = "party_cell", parent = "lc-kim-tam"')
    with pytest.raises(DemoDataError, match=r"season2024\.toml: units\[6\]\.parent: 'lc-kim-tam' is not a unit"):
        load_season(path)


def test_an_unknown_four_good_miss_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'four_good_miss = "attendance"', 'four_good_miss = "atendance"')
    with pytest.raises(DemoDataError, match=r"units\[9\]\.four_good_miss: 'atendance' is not a key of \[misses\]"):
        load_season(path)


def test_a_placeholder_the_demo_does_not_fill_is_refused_on_load(tmp_path: Path) -> None:
    path = broken(tmp_path, "Thời gian: 14 giờ 00, ngày {date}", "Thời gian: 14 giờ 00, ngày {day}")
    with pytest.raises(DemoDataError, match=r"season2024\.toml: evidence\.minutes: .*unknown placeholder \{day\}"):
        load_season(path)


def test_decomposed_vietnamese_is_refused_with_its_line(tmp_path: Path) -> None:
    name = "Đảng bộ phường Kim Tân"
    path = broken(tmp_path, f'"{name}"', f'"{unicodedata.normalize("NFD", name)}"')
    line = next(i for i, s in enumerate(SHIPPED.splitlines(), 1) if f'"{name}"' in s)
    with pytest.raises(DemoDataError, match=rf"^season2024\.toml: line {line}: text is not in Unicode NFC form"):
        load_season(path)


def test_invalid_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = broken(tmp_path, "\n[misses]\n", "\n[misses\n")
    with pytest.raises(DemoDataError, match=r"^season2024\.toml: invalid TOML"):
        load_season(path)
