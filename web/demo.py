"""The demo season: the real units of the two seed articles, played through the engine on a simulated clock.

What is real and what is invented:

* Real (from the seeds, see /work/shared/DOMAIN.md): the Lao Cai city party committee's 2024 pilot units (six grassroots
  party committees and four grassroots units), Muong Khuong district's 42 grassroots organizations and its eight
  emulation signatories, the four-good model and its criteria, the rule sets, the July 2025 restructuring.
* Real names, invented roles: the communes of Muong Khuong district are its real communes.
* Invented: the names of the pilot party cells, the 34 Muong Khuong organizations that are not signatories (drawn from
  the agencies every district has), every person, every answer, comment, evidence file, decision, legal reference
  and classification, and the dates of establishment. None of it describes what any real organization was rated.

`play_demo` is what `dossierflow demo` runs. The constants below name dossiers worth looking at
(`dossierflow history <CODE>/2024`).
"""

from __future__ import annotations

import struct
import time as stopwatch
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from domain.actor import Actor
from domain.dossier import Dossier
from domain.errors import QuotaExceeded
from domain.ids import dossier_id, person_id, unit_id
from domain.person import Person
from domain.unit import Unit
from domain.values import Answer, Classification, DossierState, Grade, Role, UnitKind
from workflow.clock import VIETNAM, SimulatedClock
from workflow.engine import Engine
from workflow.sample_answers import sample_answers

# --- dossiers worth looking at (unit codes; the 2024 dossier is "<CODE>/2024") ---------------------------------------

ROOT = "lao-cai"
CITY = "lc-thanh-uy"
DISTRICT = "mk-huyen-uy"
FOUR_GOOD_COMMITTEE = "lc-kim-tan"  # both pilot cells four-good, so the ward committee is recognized four-good
NOT_FOUR_GOOD_COMMITTEE = "lc-pom-han"  # answered every criterion met, but one of its cells is not four-good
RETURNED_AND_RESUBMITTED = "lc-kim-tan-cb1"  # returned by the ward's organization board, resubmitted with changes
QUOTA_REFUSED = "mk-ban-lau"  # excellent refused by the quota, decided good with a reason
EXCELLENT = "mk-nam-lu"  # one of the two excellent communes within the quota
DELEGATED = "mk-kho-bac"  # decided excellent by a deputy on behalf of the district approver
RETURNED_TO_COMMITTEE = "mk-giao-duc"  # the approver sent it back to the organization board, then decided
RECLASSIFIED = "mk-tai-nguyen"  # re-opened in March 2025 on an inspection conclusion, re-classified completed
WITHDRAWN_AND_RESTORED = "mk-bhxh"  # a draft withdrawn and restored
NOT_RATED = "lc-hanh-chinh-cong"  # a cell founded in September 2024: under 6 months, not rated
LATE = "mk-vien-kiem-sat"  # submitted after the self-assessment deadline, left undecided
NOT_COMPLETED = "mk-kinh-te-ha-tang"
SUBMITTED_2025 = "mk-nam-lu"  # its 2025 dossier is submitted and endorsed by the provincial organization board

YEAR = 2024
NEXT_YEAR = 2025
RULE_SET_2024 = "QD124-2023"
RULE_SET_2025 = "QD366-2025"
MODELS_2024 = ["four-good-cell-LC2024", "four-good-committee-LC2024"]
RESTRUCTURING = date(2025, 7, 1)
MERGED_ROOT_NAME = "Tỉnh ủy Lào Cai (hợp nhất với Yên Bái)"

EXC, GOOD, DONE, FAIL = (
    Classification.EXCELLENT,
    Classification.GOOD,
    Classification.COMPLETED,
    Classification.NOT_COMPLETED,
)
COMMITTEE, CELL, GRASSROOTS_CELL = UnitKind.GRASSROOTS_COMMITTEE, UnitKind.PARTY_CELL, UnitKind.GRASSROOTS_CELL

# Groups of similar units: the quota of excellent counts within one deciding unit, period and group.
WARDS, ARMED, AGENCIES, SCHOOLS = "ward/commune", "armed forces", "agencies", "schools"


@dataclass(frozen=True)
class DemoUnit:
    code: str
    name: str
    kind: UnitKind
    parent: str
    group: str
    level: Classification  # what the unit assesses itself at in 2024
    four_good_miss: str | None = None  # why it is not four-good, a key of _MISSES; None: every criterion met
    established: date = date(2005, 1, 1)


def _unit(
    code: str, name: str, kind: UnitKind, parent: str, group: str, level: Classification, miss: str | None = None
) -> DemoUnit:
    established = date(2004, 12, 1) if parent.startswith("lc") else date(1992, 1, 1)
    if kind is CELL:
        established = date(2010, 3, 1)
    return DemoUnit(code, name, kind, parent, group, level, miss, established)


# --- Lao Cai city: the 2024 pilot (seed 1) ----------------------------------------------------------------------------
# The six grassroots party committees and four grassroots units are the seed's; each committee picks two pilot cells,
# whose names below are invented (residential groups, villages, teams and departments such units really have).

LC_COMMITTEES = [
    _unit("lc-kim-tan", "Đảng bộ phường Kim Tân", COMMITTEE, CITY, WARDS, GOOD),
    _unit("lc-pom-han", "Đảng bộ phường Pom Hán", COMMITTEE, CITY, WARDS, GOOD),
    _unit("lc-cam-duong", "Đảng bộ xã Cam Đường", COMMITTEE, CITY, WARDS, GOOD),
    _unit("lc-cong-an", "Đảng bộ Công an thành phố Lào Cai", COMMITTEE, CITY, ARMED, GOOD),
    _unit("lc-y-te", "Đảng bộ Y tế thành phố Lào Cai", COMMITTEE, CITY, AGENCIES, GOOD),
    _unit("lc-chuyen", "Đảng bộ Trường THPT Chuyên tỉnh Lào Cai", COMMITTEE, CITY, SCHOOLS, GOOD),
]
LC_CELLS = [  # invented names
    _unit("lc-kim-tan-cb1", "Chi bộ Tổ dân phố số 5 (phường Kim Tân)", CELL, "lc-kim-tan", "", GOOD),
    _unit("lc-kim-tan-cb2", "Chi bộ Tổ dân phố số 12 (phường Kim Tân)", CELL, "lc-kim-tan", "", GOOD),
    _unit("lc-pom-han-cb1", "Chi bộ Tổ dân phố số 3 (phường Pom Hán)", CELL, "lc-pom-han", "", GOOD),
    _unit("lc-pom-han-cb2", "Chi bộ Tổ dân phố số 9 (phường Pom Hán)", CELL, "lc-pom-han", "", GOOD, "attendance"),
    _unit("lc-cam-duong-cb1", "Chi bộ thôn Tả Hà (xã Cam Đường)", CELL, "lc-cam-duong", "", DONE, "member"),
    _unit("lc-cam-duong-cb2", "Chi bộ thôn Cam Lộc (xã Cam Đường)", CELL, "lc-cam-duong", "", GOOD),
    _unit("lc-cong-an-cb1", "Chi bộ Đội Cảnh sát giao thông – trật tự", CELL, "lc-cong-an", "", GOOD),
    _unit("lc-cong-an-cb2", "Chi bộ Đội Cảnh sát điều tra tội phạm về trật tự xã hội", CELL, "lc-cong-an", "", GOOD),
    _unit("lc-y-te-cb1", "Chi bộ Khoa Khám bệnh (Trung tâm Y tế thành phố)", CELL, "lc-y-te", "", GOOD),
    _unit("lc-y-te-cb2", "Chi bộ Trạm Y tế phường Cốc Lếu", CELL, "lc-y-te", "", GOOD, "absences"),
    _unit("lc-chuyen-cb1", "Chi bộ Tổ Khoa học tự nhiên (Trường THPT Chuyên)", CELL, "lc-chuyen", "", GOOD),
    _unit("lc-chuyen-cb2", "Chi bộ Tổ Khoa học xã hội (Trường THPT Chuyên)", CELL, "lc-chuyen", "", GOOD),
]
LC_GRASSROOTS_CELLS = [
    _unit(
        "lc-lao-dong", "Chi bộ Phòng Lao động – Thương binh và Xã hội thành phố", GRASSROOTS_CELL, CITY, AGENCIES, GOOD,
    ),
    _unit("lc-toa-an", "Chi bộ Tòa án nhân dân thành phố Lào Cai", GRASSROOTS_CELL, CITY, AGENCIES, GOOD),
    _unit(
        "lc-gdnn-gdtx", "Chi bộ Trung tâm Giáo dục nghề nghiệp – Giáo dục thường xuyên thành phố", GRASSROOTS_CELL,
        CITY, SCHOOLS, DONE, "meetings",
    ),
    _unit("lc-thpt-so-1", "Chi bộ Trường THPT số 1 thành phố Lào Cai", GRASSROOTS_CELL, CITY, SCHOOLS, GOOD),
]
# Invented: a cell founded on 1 September 2024, registered then; under 6 months old at the year's end, not rated.
LC_NEW_CELL = DemoUnit(
    NOT_RATED, "Chi bộ Trung tâm Phục vụ hành chính công thành phố", GRASSROOTS_CELL, CITY, AGENCIES, GOOD, None,
    date(2024, 9, 1),
)

# --- Muong Khuong district (seed 2) -----------------------------------------------------------------------------------
# 42 grassroots organizations: 20 grassroots party committees and 22 grassroots party cells, as in the Vietnamese
# original (the Hindi translation swaps the two numbers). The eight emulation signatories are the seed's
# (marked "signatory"). The 16 commune-level committees are the district's real town and communes (Lùng Phình, often
# listed with them, is a commune of Bắc Hà district and is left out). Everything else is invented (marked).

MK_COMMITTEES = [
    _unit("mk-thi-tran", "Đảng bộ thị trấn Mường Khương", COMMITTEE, DISTRICT, WARDS, EXC),  # signatory
    _unit("mk-nam-lu", "Đảng bộ xã Nấm Lư", COMMITTEE, DISTRICT, WARDS, EXC),  # signatory
    _unit("mk-ban-lau", "Đảng bộ xã Bản Lầu", COMMITTEE, DISTRICT, WARDS, EXC),
    _unit("mk-ban-xen", "Đảng bộ xã Bản Xen", COMMITTEE, DISTRICT, WARDS, EXC),  # returned: lowers itself to good
    _unit("mk-cao-son", "Đảng bộ xã Cao Sơn", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-din-chin", "Đảng bộ xã Dìn Chin", COMMITTEE, DISTRICT, WARDS, DONE, "targets"),
    _unit("mk-la-pan-tan", "Đảng bộ xã La Pan Tẩn", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-lung-khau-nhin", "Đảng bộ xã Lùng Khấu Nhin", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-lung-vai", "Đảng bộ xã Lùng Vai", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-nam-chay", "Đảng bộ xã Nậm Chảy", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-pha-long", "Đảng bộ xã Pha Long", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-ta-gia-khau", "Đảng bộ xã Tả Gia Khâu", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-ta-ngai-cho", "Đảng bộ xã Tả Ngài Chồ", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-ta-thang", "Đảng bộ xã Tả Thàng", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-thanh-binh", "Đảng bộ xã Thanh Bình", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-tung-chung-pho", "Đảng bộ xã Tung Chung Phố", COMMITTEE, DISTRICT, WARDS, GOOD),
    _unit("mk-quan-su", "Đảng bộ Quân sự huyện Mường Khương", COMMITTEE, DISTRICT, ARMED, GOOD),  # signatory
    _unit("mk-cong-an", "Đảng bộ Công an huyện Mường Khương", COMMITTEE, DISTRICT, ARMED, GOOD),  # signatory
    # invented
    _unit("mk-co-quan-chinh-quyen", "Đảng bộ Cơ quan Chính quyền huyện", COMMITTEE, DISTRICT, AGENCIES, GOOD),
    _unit("mk-trung-tam-y-te", "Đảng bộ Trung tâm Y tế huyện Mường Khương", COMMITTEE, DISTRICT, AGENCIES, GOOD),
]
MK_CELLS = [
    _unit("mk-tai-chinh", "Chi bộ Phòng Tài chính – Kế hoạch", GRASSROOTS_CELL, DISTRICT, AGENCIES, EXC),  # signatory
    _unit(
        "mk-dtnt", "Chi bộ Trường PTDTNT THCS và THPT huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, SCHOOLS, GOOD,
    ),  # signatory
    _unit("mk-tu-phap-thanh-tra", "Chi bộ Tư pháp – Thanh tra", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),  # signatory
    _unit("mk-kho-bac", "Chi bộ Kho bạc Nhà nước Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES, EXC),  # signatory
    # invented from here on
    _unit("mk-giao-duc", "Chi bộ Phòng Giáo dục và Đào tạo", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit(
        "mk-nong-nghiep", "Chi bộ Phòng Nông nghiệp và Phát triển nông thôn", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD,
    ),
    _unit("mk-tai-nguyen", "Chi bộ Phòng Tài nguyên và Môi trường", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit("mk-kinh-te-ha-tang", "Chi bộ Phòng Kinh tế – Hạ tầng", GRASSROOTS_CELL, DISTRICT, AGENCIES, FAIL, "tasks"),
    _unit("mk-van-hoa", "Chi bộ Phòng Văn hóa và Thông tin", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit(
        "mk-lao-dong", "Chi bộ Phòng Lao động – Thương binh và Xã hội", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD,
        "absences",
    ),
    _unit("mk-noi-vu", "Chi bộ Phòng Nội vụ", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit("mk-dan-toc", "Chi bộ Phòng Dân tộc", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit("mk-thpt-so-1", "Chi bộ Trường THPT số 1 Mường Khương", GRASSROOTS_CELL, DISTRICT, SCHOOLS, GOOD),
    _unit("mk-thpt-so-2", "Chi bộ Trường THPT số 2 Mường Khương", GRASSROOTS_CELL, DISTRICT, SCHOOLS, DONE, "member"),
    _unit(
        "mk-gdnn-gdtx", "Chi bộ Trung tâm Giáo dục nghề nghiệp – Giáo dục thường xuyên huyện", GRASSROOTS_CELL,
        DISTRICT, SCHOOLS, GOOD,
    ),
    _unit("mk-thue", "Chi bộ Chi cục Thuế huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit("mk-bhxh", "Chi bộ Bảo hiểm xã hội huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit("mk-toa-an", "Chi bộ Tòa án nhân dân huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD),
    _unit(
        "mk-vien-kiem-sat", "Chi bộ Viện Kiểm sát nhân dân huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES,
        GOOD,
    ),
    _unit(
        "mk-thi-hanh-an", "Chi bộ Chi cục Thi hành án dân sự huyện Mường Khương", GRASSROOTS_CELL, DISTRICT, AGENCIES,
        GOOD,
    ),
    _unit(
        "mk-ngan-hang-csxh", "Chi bộ Ngân hàng Chính sách xã hội huyện", GRASSROOTS_CELL, DISTRICT, AGENCIES, GOOD,
    ),
    _unit(
        "mk-trung-tam-vhtt", "Chi bộ Trung tâm Văn hóa, Thể thao và Truyền thông huyện", GRASSROOTS_CELL, DISTRICT,
        AGENCIES, DONE, "meetings",
    ),
]

# --- people (all invented) --------------------------------------------------------------------------------------------

_KINH_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng", "Ngô", "Dương", "Đinh", "Lương"]
_KINH_MIDDLE = ["Văn", "Thị", "Đức", "Thu", "Minh", "Thanh", "Quang", "Ngọc", "Xuân", "Hồng"]
_KINH_GIVEN = [
    "Hùng", "Lan", "Tuấn", "Hương", "Thắng", "Mai", "Cường", "Huyền", "Hải", "Thảo", "Long", "Hằng", "Sơn", "Nga",
    "Trung", "Yến", "Việt", "Dung", "Phúc", "Liên", "Hiếu", "Trang", "Khánh", "Nhung",
]
# Names of the Hmong, Nùng, Giáy, Dao and Hà Nhì peoples of Muong Khuong (invented persons).
_HIGHLAND = [
    "Giàng Seo Phử", "Lù Văn Páo", "Vàng A Sính", "Sùng Seo Chư", "Thào Thị Dung", "Hoàng Văn Thào", "Lý Seo Dìn",
    "Tẩn Láo Lở", "Lồ Văn Thắng", "Hầu A Lềnh", "Ma Seo Chứ", "Nông Văn Hải", "Lùng Văn Sáng", "Cư Seo Dín",
    "Sần Văn Phủ", "Pờ Thị Mai", "Chẻo Văn Lìn", "Vần Seo Sử", "Tráng A Tủa", "Lò Thị Hoa",
]

# (username, full name, [(role, unit code, valid from, valid to, basis)])
_OFFICIALS: list[tuple[str, str, list[tuple[Role, str, date, date | None, str]]]] = [
    ("tc-thanh-uy", "Phạm Thị Hồng Nhung", [
        (Role.REVIEWER, CITY, date(2024, 1, 1), RESTRUCTURING, "Ban Tổ chức Thành ủy; Quyết định 02-QĐ/TU"),
    ]),
    ("tt-thanh-uy", "Nguyễn Đức Thịnh", [
        (Role.APPROVER, CITY, date(2024, 1, 1), RESTRUCTURING, "Thường trực Thành ủy; Quy chế làm việc khóa XXI"),
    ]),
    ("tc-huyen-uy", "Lò Thị Hạnh", [
        (Role.REVIEWER, DISTRICT, date(2024, 1, 1), RESTRUCTURING, "Ban Tổ chức Huyện ủy; Quyết định 03-QĐ/HU"),
    ]),
    ("tt-huyen-uy", "Hoàng Văn Chiến", [
        (Role.APPROVER, DISTRICT, date(2024, 1, 1), RESTRUCTURING, "Phó Bí thư Thường trực Huyện ủy; Quy chế làm việc"),
    ]),
    ("pbt-huyen-uy", "Vũ Minh Tuấn", []),  # a standing committee member: acts only as the approver's deputy
    ("ubkt-tinh-uy", "Trần Thị Bích Ngọc", [
        (Role.AUDITOR, ROOT, date(2024, 1, 1), None, "Ủy ban Kiểm tra Tỉnh ủy"),
    ]),
    ("ubkt-huyen-uy", "Sùng A Páo", [
        (Role.AUDITOR, DISTRICT, date(2024, 1, 1), RESTRUCTURING, "Ủy ban Kiểm tra Huyện ủy Mường Khương"),
    ]),
]
# The organization board (reviewer) and the standing committee (approver) of each pilot committee, for its cells.
_COMMITTEE_OFFICIALS = {
    "lc-kim-tan": ("Đỗ Thị Thanh Hà", "Bùi Quang Vinh"),
    "lc-pom-han": ("Lương Văn Toàn", "Ngô Thị Minh Nguyệt"),
    "lc-cam-duong": ("Đinh Văn Khải", "Dương Thị Lụa"),
    "lc-cong-an": ("Trần Quốc Bảo", "Lê Văn Thành"),
    "lc-y-te": ("Phạm Thu Trang", "Nguyễn Văn Dũng"),
    "lc-chuyen": ("Hoàng Thị Kim Oanh", "Vũ Đức Long"),
}
_PROVINCE_2025 = [
    ("tc-tinh-uy", "Nguyễn Thị Phương Thảo", Role.REVIEWER, "Ban Tổ chức Tỉnh ủy (hợp nhất); Quyết định 01-QĐ/TU"),
    ("tt-tinh-uy", "Trần Văn Bình", Role.APPROVER, "Thường trực Tỉnh ủy (hợp nhất); Quyết định 01-QĐ/TU"),
]
DELEGATION_BASIS = (
    "Quyết định số 15-QĐ/HU ngày 02/01/2025 của Ban Thường vụ Huyện ủy Mường Khương ủy quyền đồng chí Ủy viên "
    "Ban Thường vụ quyết định xếp loại tổ chức đảng từ 06/01 đến 10/01/2025"
)
RECLASSIFICATION_BASIS = (
    "Kết luận số 28-KL/UBKTHU ngày 10/03/2025 của Ủy ban Kiểm tra Huyện ủy: Chi bộ buông lỏng lãnh đạo, để xảy ra "
    "sai phạm trong thẩm định hồ sơ giao đất năm 2024 chưa được phát hiện khi đánh giá; Điều 11 Quy định 124-QĐ/TW: "
    "cấp có thẩm quyền hủy kết quả, đánh giá, xếp loại lại"
)
RESTRUCTURING_BASIS = (
    "Nghị quyết số 60-NQ/TW ngày 12/04/2025 của Ban Chấp hành Trung ương: kết thúc hoạt động của đảng bộ cấp huyện "
    "từ ngày 01/07/2025, hợp nhất tỉnh Lào Cai và tỉnh Yên Bái"
)

# --- answers: what the secretaries write ------------------------------------------------------------------------------

_GRADE_COMMENTS: dict[str, dict[Grade, str]] = {
    "leadership_of_tasks": {
        Grade.EXCELLENT: "Lãnh đạo hoàn thành vượt mức các chỉ tiêu nghị quyết năm 2024, có sản phẩm cụ thể nổi bật",
        Grade.GOOD: "Hoàn thành các chỉ tiêu nghị quyết đề ra; một số chỉ tiêu vượt kế hoạch",
        Grade.AVERAGE: "Hoàn thành cơ bản; 2 chỉ tiêu đạt thấp so với kế hoạch",
        Grade.POOR: "Nhiều chỉ tiêu chủ yếu không đạt, tiến độ các công trình chậm",
    },
    "political_ideological": {
        Grade.EXCELLENT: "Quán triệt 100% nghị quyết, chỉ thị; có mô hình điển hình học tập và làm theo Bác",
        Grade.GOOD: "Quán triệt đầy đủ các nghị quyết, chỉ thị; tư tưởng cán bộ, đảng viên ổn định",
        Grade.AVERAGE: "Việc quán triệt nghị quyết có lúc chậm; nắm bắt tư tưởng chưa thường xuyên",
        Grade.POOR: "Có biểu hiện suy thoái về tư tưởng chính trị trong một bộ phận đảng viên",
    },
    "organization_cadres": {
        Grade.EXCELLENT: "Kết nạp vượt chỉ tiêu đảng viên mới; 100% đảng viên được giao nhiệm vụ cụ thể",
        Grade.GOOD: "Kết nạp đạt chỉ tiêu đảng viên mới; quản lý đảng viên chặt chẽ",
        Grade.AVERAGE: "Chưa đạt chỉ tiêu kết nạp đảng viên mới",
        Grade.POOR: "Buông lỏng quản lý đảng viên, không kết nạp được đảng viên mới",
    },
    "inspection_supervision": {
        Grade.EXCELLENT: "Thực hiện 100% kế hoạch kiểm tra, giám sát; kịp thời chấn chỉnh sau giám sát",
        Grade.GOOD: "Thực hiện đầy đủ chương trình kiểm tra, giám sát năm",
        Grade.AVERAGE: "Một số cuộc giám sát chuyên đề chưa thực hiện đúng kế hoạch",
        Grade.POOR: "Không thực hiện chương trình kiểm tra, giám sát",
    },
    "democratic_centralism": {
        Grade.EXCELLENT: "Giữ vững nguyên tắc tập trung dân chủ; nội bộ đoàn kết, thống nhất cao",
        Grade.GOOD: "Thực hiện đúng nguyên tắc tập trung dân chủ; nội bộ đoàn kết",
        Grade.AVERAGE: "Có lúc tự phê bình và phê bình chưa thẳng thắn",
        Grade.POOR: "Nội bộ mất đoàn kết kéo dài",
    },
    "government_mass_leadership": {
        Grade.EXCELLENT: "Chính quyền, Mặt trận và các đoàn thể đều hoàn thành xuất sắc nhiệm vụ",
        Grade.GOOD: "Lãnh đạo chính quyền, Mặt trận và các đoàn thể hoàn thành tốt nhiệm vụ",
        Grade.AVERAGE: "Một số đoàn thể hoạt động còn hình thức",
        Grade.POOR: "Chính quyền, đoàn thể không hoàn thành nhiệm vụ",
    },
}
LEAD = "leadership_of_tasks"
_POINT_COMMENTS = {
    "political_ideological": "Quán triệt kịp thời các nghị quyết, kết luận của Trung ương và Tỉnh ủy về sắp xếp bộ máy",
    "organization_cadres": "Hoàn thành sắp xếp tổ chức, đảng viên sau hợp nhất; chuyển sinh hoạt đảng đúng thời hạn",
    "inspection_supervision": "Thực hiện đầy đủ chương trình kiểm tra, giám sát năm 2025",
    "democratic_centralism": "Nội bộ đoàn kết, thống nhất trong thời gian sắp xếp tổ chức",
    "government_mass_leadership": "Lãnh đạo chính quyền hai cấp vận hành ổn định từ 01/07/2025",
    "assigned_targets": "Hoàn thành các chỉ tiêu kinh tế – xã hội năm 2025 được giao",
    "key_tasks": "Nhiệm vụ trọng tâm: xóa nhà tạm, nhà dột nát; chuyển đổi số",
    "shortcomings_remedy": "Khắc phục các hạn chế đã chỉ ra trong kiểm điểm năm 2024",
}
_FOUR_GOOD_COMMENTS = {
    "fg_political_tasks": "Hoàn thành tốt các nhiệm vụ chính trị được giao năm 2024",
    "fg_meeting_quality": "Sinh hoạt định kỳ 12/12 kỳ, chuyên đề 4/4 kỳ; tỷ lệ đảng viên dự sinh hoạt bình quân 94%",
    "fg_solidarity_discipline": "Nội bộ đoàn kết; không có đảng viên vi phạm kỷ luật",
    "fg_cadres_members": "100% đảng viên được xếp loại hoàn thành nhiệm vụ trở lên",
    "fg_implements_guidelines": "Ban hành kịp thời nghị quyết, kế hoạch thực hiện chỉ thị của cấp trên",
    "fg_innovates_leadership": "Đổi mới nội dung sinh hoạt; phân công đảng viên phụ trách hộ gia đình",
    "fg_targets_completed": "Hoàn thành 100% chỉ tiêu, nhiệm vụ cấp trên giao",
    "fg_executive_solidarity": "Ban chấp hành đảng bộ đoàn kết, thống nhất",
    "fg_political_ideological_work": "Làm tốt công tác nắm bắt, định hướng tư tưởng",
    "fg_organization_cadre_work": "Củng cố các chi bộ trực thuộc; kết nạp đạt chỉ tiêu",
    "fg_inspection_supervision": "Thực hiện đầy đủ chương trình kiểm tra, giám sát",
    "fg_government_mass_leadership": "Lãnh đạo chính quyền và các đoàn thể hoàn thành tốt nhiệm vụ",
}
# Why a unit is not four-good: (criterion, sub-item or None, the secretary's comment).
_MISSES: dict[str, tuple[str, str | None, str]] = {
    "attendance": (
        "fg_meeting_quality", "attendance_above_85_percent", "Tỷ lệ đảng viên dự sinh hoạt bình quân 81% (dưới 85%)",
    ),
    "absences": (
        "fg_meeting_quality", "no_member_over_3_consecutive_excused_absences",
        "01 đảng viên vắng sinh hoạt có lý do 4 kỳ liên tiếp (đi học dài hạn)",
    ),
    "meetings": ("fg_meeting_quality", "thematic_meetings_per_plan", "Chỉ tổ chức được 2/4 kỳ sinh hoạt chuyên đề"),
    "member": (
        "fg_cadres_members", "all_members_completed_or_better", "01 đảng viên xếp loại không hoàn thành nhiệm vụ",
    ),
    "tasks": ("fg_political_tasks", None, "Không hoàn thành nhiệm vụ chính trị: nhiều công trình chậm tiến độ"),
    "targets": ("fg_targets_completed", None, "Chỉ tiêu thu ngân sách trên địa bàn đạt 88% kế hoạch"),
}

# --- evidence files, generated: small but real PDF, PNG and text files ------------------------------------------------


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded if not unicodedata.combining(c) and ord(c) < 128)


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica, so the text is folded to ASCII)."""
    def escape(text: str) -> str:
        return _ascii(text).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    body = "BT /F1 12 Tf 56 780 Td 16 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return out


def _png(cells: list[bool]) -> bytes:
    """A checklist as a picture: one square per criterion, green when met, red when not."""
    size, width = 12, 12 * len(cells)
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for met in cells:
            for x in range(size):
                border = x in (0, size - 1) or y in (0, size - 1)
                row += bytes((255, 255, 255) if border else (46, 160, 67) if met else (207, 34, 46))
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b""
    )


_LEVEL_VI = {
    EXC: "Hoàn thành xuất sắc nhiệm vụ",
    GOOD: "Hoàn thành tốt nhiệm vụ",
    DONE: "Hoàn thành nhiệm vụ",
    FAIL: "Không hoàn thành nhiệm vụ",
}


# --- the season -------------------------------------------------------------------------------------------------------


def _moment(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VIETNAM).astimezone(UTC)


class _Season:
    def __init__(self, engine: Engine, progress: Callable[[str], None]) -> None:
        self.engine = engine
        self.progress = progress
        self.clock = SimulatedClock(_moment(date(2024, 1, 2), 7, 30))
        engine.clock = self.clock
        self.units: dict[str, DemoUnit] = {
            u.code: u for u in [*LC_COMMITTEES, *LC_CELLS, *LC_GRASSROOTS_CELLS, LC_NEW_CELL, *MK_COMMITTEES, *MK_CELLS]
        }
        self.variant: dict[str, int] = {code: i for i, code in enumerate(self.units)}
        self.admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id(ROOT))
        self.grants: dict[tuple[str, Role, str], UUID] = {}
        self.people = 0
        self.grant_count = 0

    # --- time ---------------------------------------------------------------------------------------------------------

    def on(self, day: date, hour: int = 7, minute: int = 30) -> None:
        """Jump to a working moment; the clock refuses to go back, so a phase that overran its days fails loudly."""
        self.clock.set(_moment(day, hour, minute))

    def work(self, minutes: int = 10) -> None:
        """Time passes between two actions, within working hours (07:30-17:00, Monday to Friday)."""
        local = (self.clock.now + timedelta(minutes=minutes)).astimezone(VIETNAM)
        if local.time() > time(17, 0) or local.weekday() >= 5:
            day = local.date() + timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            self.clock.set(_moment(day, 7, 30))
        else:
            self.clock.set(local.astimezone(UTC))

    def today(self) -> date:
        return self.clock.now.astimezone(VIETNAM).date()

    # --- who --------------------------------------------------------------------------------------------------------

    @staticmethod
    def secretary(code: str) -> Actor:
        return Actor(person_id(f"bt-{code}"), Role.SECRETARY, unit_id(code))

    @staticmethod
    def official(username: str, role: Role, unit: str, on_behalf_of: str | None = None) -> Actor:
        return Actor(person_id(username), role, unit_id(unit), person_id(on_behalf_of) if on_behalf_of else None)

    def reviewer_of(self, code: str) -> Actor:
        parent = self.units[code].parent
        username = "tc-thanh-uy" if parent == CITY else "tc-huyen-uy" if parent == DISTRICT else f"tc-{parent}"
        return self.official(username, Role.REVIEWER, parent)

    def approver_of(self, code: str) -> Actor:
        parent = self.units[code].parent
        username = "tt-thanh-uy" if parent == CITY else "tt-huyen-uy" if parent == DISTRICT else f"tt-{parent}"
        return self.official(username, Role.APPROVER, parent)

    @property
    def deputy(self) -> Actor:
        return self.official("pbt-huyen-uy", Role.APPROVER, DISTRICT, on_behalf_of="tt-huyen-uy")

    def did(self, code: str, year: int = YEAR) -> UUID:
        return dossier_id(unit_id(code), year)

    # --- setting up -------------------------------------------------------------------------------------------------

    def install(self) -> None:
        self.engine.install(
            root_code=ROOT, root_name="Tỉnh ủy Lào Cai", established_on=date(1991, 10, 1),
            admin_username="admin", admin_name="Lê Thị Thu Hà",
        )
        self.people += 1
        self.grant_count += 1
        self.progress(f"installed Tỉnh ủy Lào Cai ({ROOT}); administrator 'admin' (Ban Tổ chức Tỉnh ủy)")

    def register_units(self) -> None:
        root = unit_id(ROOT)
        self.engine.register_unit(
            self.admin, code=CITY, name="Thành ủy Lào Cai", kind=UnitKind.SUPERIOR_COMMITTEE, parent_id=root,
            established_on=date(2004, 12, 1),
        )
        self.engine.register_unit(
            self.admin, code=DISTRICT, name="Huyện ủy Mường Khương", kind=UnitKind.SUPERIOR_COMMITTEE,
            parent_id=root, established_on=date(1991, 10, 1),
        )
        registered = 2
        for spec in self.units.values():
            if spec is LC_NEW_CELL:
                continue
            self.register(spec)
            registered += 1
        self.progress(
            f"registered {registered} units under the root: Thành ủy Lào Cai with {len(LC_COMMITTEES)} committees "
            f"({len(LC_CELLS)} pilot cells) and {len(LC_GRASSROOTS_CELLS)} grassroots cells; Huyện ủy Mường Khương "
            f"with {len(MK_COMMITTEES)} grassroots committees and {len(MK_CELLS)} grassroots cells"
        )

    def register(self, spec: DemoUnit) -> None:
        self.engine.register_unit(
            self.admin, code=spec.code, name=spec.name, kind=spec.kind, parent_id=unit_id(spec.parent),
            established_on=spec.established, group=spec.group,
        )

    def person(self, username: str, full_name: str) -> UUID:
        self.people += 1
        return self.engine.register_person(self.admin, username=username, full_name=full_name)

    def grant(
        self, username: str, role: Role, unit: str, valid_from: date, valid_to: date | None, basis: str
    ) -> None:
        self.grants[(username, role, unit)] = self.engine.grant_role(
            self.admin, person_id(username), role=role, unit_id=unit_id(unit), valid_from=valid_from,
            valid_to=valid_to, basis=basis,
        )
        self.grant_count += 1

    def secretary_name(self, index: int, code: str) -> str:
        highland = code.startswith("mk") and (self.units[code].group == WARDS or index % 3 == 0)
        if highland:
            return _HIGHLAND[index % len(_HIGHLAND)]
        family = _KINH_FAMILY[(index * 5) % len(_KINH_FAMILY)]
        given = _KINH_GIVEN[(index * 7) % len(_KINH_GIVEN)]
        middle = _KINH_MIDDLE[(index * 3) % len(_KINH_MIDDLE)]
        if middle == "Thị" and index % 2:
            middle = "Văn"
        return f"{family} {middle} {given}"

    def register_people(self) -> None:
        for username, full_name, grants in _OFFICIALS:
            self.person(username, full_name)
            for role, unit, valid_from, valid_to, basis in grants:
                self.grant(username, role, unit, valid_from, valid_to, basis)
        for committee, (reviewer, approver) in _COMMITTEE_OFFICIALS.items():
            name = self.units[committee].name
            self.person(f"tc-{committee}", reviewer)
            basis = f"Ủy viên Ban Thường vụ {name}, phụ trách công tác tổ chức"
            self.grant(f"tc-{committee}", Role.REVIEWER, committee, date(2024, 1, 1), None, basis)
            self.person(f"tt-{committee}", approver)
            self.grant(f"tt-{committee}", Role.APPROVER, committee, date(2024, 1, 1), None, f"Phó Bí thư {name}")
        for index, code in enumerate(self.units):
            if code == NOT_RATED:
                continue
            self.add_secretary(index, code, date(2024, 1, 1))
        self.progress(
            f"registered {self.people} people with {self.grant_count} role grants: a secretary for every unit, "
            "organization boards (reviewers) and standing committees (approvers) of the city, the district and the "
            "six pilot committees, two inspection committee auditors"
        )

    def add_secretary(self, index: int, code: str, valid_from: date) -> None:
        self.person(f"bt-{code}", self.secretary_name(index, code))
        self.grant(
            f"bt-{code}", Role.SECRETARY, code, valid_from, None,
            f"Bí thư {self.units[code].name}; quyết định chuẩn y của cấp ủy cấp trên",
        )

    # --- the secretaries' work --------------------------------------------------------------------------------------

    def answers(
        self, code: str, level: Classification, year: int = YEAR, miss: str | None = None
    ) -> tuple[dict[str, Answer], dict[str, object]]:
        spec = self.units[code]
        book = self.engine.rule_book
        rule_set = book.rule_set(RULE_SET_2024 if year == YEAR else RULE_SET_2025)
        model = book.recognition_for(MODELS_2024, spec.kind) if year == YEAR else None
        answers, facts = sample_answers(rule_set, model, level)
        variant = self.variant[code]
        ids = [c.id for c in rule_set.criteria]
        if rule_set.scheme == "graded":
            # Not every criterion at the same grade: one stands out, up or down, as real self-assessments do.
            # The cell returned by its committee had graded its leadership excellent without evidence.
            standout = "leadership_of_tasks" if code == RETURNED_AND_RESUBMITTED else ids[variant % len(ids)]
            shift = {EXC: Grade.GOOD, GOOD: Grade.EXCELLENT, DONE: Grade.GOOD}.get(level)
            for cid, answer in list(answers.items()):
                if answer.grade is None:
                    continue
                grade = shift if cid == standout and shift is not None else answer.grade
                answers[cid] = Answer(grade=grade, comment=_GRADE_COMMENTS[cid][grade])
        else:
            for cid, answer in list(answers.items()):
                points = answer.points
                if cid == "assigned_targets" and points is not None:
                    points -= Decimal(variant % 3)
                answers[cid] = replace(answer, points=points, comment=_POINT_COMMENTS.get(cid, ""))
        for cid, answer in list(answers.items()):
            if answer.met is not None:
                answers[cid] = replace(answer, comment=_FOUR_GOOD_COMMENTS.get(cid, "Đạt"))
        miss = miss if miss is not None else spec.four_good_miss
        if model is not None and miss is not None:
            cid, sub_item, comment = _MISSES[miss]
            subs = dict(answers[cid].sub_items)
            if sub_item is not None:
                subs[sub_item] = False
            answers[cid] = Answer(met=False, sub_items=subs, comment=comment)
        return answers, facts

    def draft(self, code: str, year: int = YEAR, level: Classification | None = None) -> None:
        spec = self.units[code]
        level = level or spec.level
        actor = self.secretary(code)
        did = self.engine.open_dossier(actor, unit_id(code), year)
        self.work(6)
        answers, facts = self.answers(code, level, year)
        self.engine.record_answers(actor, did, answers=answers, facts=facts)
        self.work(25)
        when = self.today().strftime("%d/%m/%Y")
        report = _pdf([
            "DANG CONG SAN VIET NAM",
            spec.name,
            f"BAO CAO KIEM DIEM TAP THE NAM {year} (Mau 01)",
            f"Tu danh gia, xep loai: {_LEVEL_VI[level]}",
            f"Ngay {when}",
        ])
        self.engine.attach_evidence(actor, did, name=f"Báo cáo kiểm điểm tập thể năm {year} – Mẫu 01.pdf", data=report)
        self.work(4)
        if year == YEAR and spec.kind is not COMMITTEE:
            model = self.engine.rule_book.recognition_for(MODELS_2024, spec.kind)
            assert model is not None
            met = [answers[c.id].met is True for c in model.criteria]
            self.engine.attach_evidence(
                actor, did, name="Bảng theo dõi “Chi bộ 4 tốt” năm 2024.png", data=_png(met)
            )
            self.work(4)
        if self.variant[code] % 3 == 0:
            present = 90 + self.variant[code] % 9
            minutes = (
                f"BIÊN BẢN HỌP {spec.name.upper()}\n"
                f"Thời gian: 14 giờ 00, ngày {when}\n"
                f"Nội dung: thông qua báo cáo kiểm điểm tập thể năm {year}\n"
                f"Đảng viên có mặt: {present}% tổng số đảng viên\n"
                f"Biểu quyết tự xếp loại \"{_LEVEL_VI[level]}\": 100% tán thành\n"
            )
            self.engine.attach_evidence(
                actor, did, name=f"Biên bản họp thông qua kiểm điểm năm {year}.txt", data=minutes.encode("utf-8")
            )
            self.work(4)

    def submit(self, code: str, year: int = YEAR) -> None:
        self.engine.submit(self.secretary(code), self.did(code, year))

    # --- the season of 2024 -----------------------------------------------------------------------------------------

    def self_assessments(self) -> None:
        self.on(date(2024, 11, 1), 8, 0)
        self.engine.open_period(
            self.admin, year=YEAR, rule_set_id=RULE_SET_2024, recognition_models=MODELS_2024,
            deadlines={
                "self_assessment": date(2024, 12, 10), "review": date(2024, 12, 20), "decision": date(2025, 1, 15),
            },
        )
        self.progress(
            f"opened {YEAR} under {RULE_SET_2024} with the four-good models {', '.join(MODELS_2024)}; "
            "deadlines 10/12/2024 (self-assessment), 20/12/2024 (review), 15/01/2025 (decision)"
        )
        # Drafts from 11 November; the re-classified unit's draft first, so it is a draft as of 20 November.
        self.on(date(2024, 11, 11))
        order = [RECLASSIFIED, *(c for c in self.units if c != RECLASSIFIED)]
        for code in order:
            self.draft(code)
            if code == WITHDRAWN_AND_RESTORED:
                self.engine.withdraw(
                    self.secretary(code), self.did(code),
                    reason="Chi bộ chưa họp thông qua báo cáo kiểm điểm; rút dự thảo để họp lại",
                )
                self.work(5)
            self.work(5)
        self.on(date(2024, 11, 20), 9, 0)
        self.engine.restore(self.secretary(WITHDRAWN_AND_RESTORED), self.did(WITHDRAWN_AND_RESTORED))
        self.work(30)
        answers, _ = self.answers(WITHDRAWN_AND_RESTORED, GOOD)
        answers["leadership_of_tasks"] = Answer(
            grade=Grade.GOOD, comment="Chi bộ họp ngày 19/11/2024 thống nhất: thu BHXH, BHYT đạt 98,6% kế hoạch"
        )
        self.engine.record_answers(
            self.secretary(WITHDRAWN_AND_RESTORED), self.did(WITHDRAWN_AND_RESTORED), answers=answers
        )
        self.progress(
            f"{YEAR}: {len(self.units)} self-assessments drafted from 11/11/2024, with evidence files; "
            f"{self.units[WITHDRAWN_AND_RESTORED].name} withdrew its draft and restored it on 20/11/2024"
        )

        # Submissions from 25 November: the pilot cells first, so their committees can review them early.
        self.on(date(2024, 11, 25))
        cells_first = sorted(self.units.values(), key=lambda u: u.kind is not CELL)
        submitted = 0
        for spec in cells_first:
            if spec.code == LATE:
                continue
            self.submit(spec.code)
            submitted += 1
            self.work(35)
        self.progress(f"{YEAR}: {submitted} dossiers submitted by {self.today():%d/%m/%Y}")

    def pilot_cells(self) -> None:
        """Each pilot committee's organization board reviews its two cells; its standing committee decides."""
        self.on(date(2024, 12, 2))
        for spec in LC_CELLS:
            if spec.code == RETURNED_AND_RESUBMITTED:
                self.engine.return_to_unit(
                    self.reviewer_of(spec.code), self.did(spec.code),
                    reason="Tiêu chí 'Lãnh đạo thực hiện nhiệm vụ chính trị' tự chấm mức xuất sắc nhưng chưa có sản "
                    "phẩm cụ thể; đề nghị chấm lại và bổ sung biên bản sinh hoạt chuyên đề quý IV",
                )
                self.progress(f"returned to unit: {spec.name} (grade without evidence)")
            else:
                self.engine.endorse(self.reviewer_of(spec.code), self.did(spec.code), note="Hồ sơ đầy đủ, hợp lệ")
            self.work(20)
        # The cell corrects its answers, adds the missing minutes and resubmits.
        self.on(date(2024, 12, 3), 15, 0)
        code = RETURNED_AND_RESUBMITTED
        self.engine.record_answers(
            self.secretary(code), self.did(code),
            answers={"leadership_of_tasks": Answer(grade=Grade.GOOD, comment=_GRADE_COMMENTS[LEAD][Grade.GOOD])},
        )
        self.work(10)
        minutes = (
            "BIÊN BẢN SINH HOẠT CHUYÊN ĐỀ QUÝ IV NĂM 2024\n"
            "Chi bộ Tổ dân phố số 5, phường Kim Tân\n"
            "Chuyên đề: Nâng cao vai trò đảng viên trong xây dựng tổ dân phố văn minh\n"
            "Đảng viên có mặt: 27/29 (93%)\n"
        )
        self.engine.attach_evidence(
            self.secretary(code), self.did(code), name="Biên bản sinh hoạt chuyên đề quý IV-2024.txt",
            data=minutes.encode("utf-8"),
        )
        self.work(10)
        self.submit(code)
        self.on(date(2024, 12, 4), 8, 0)
        self.engine.endorse(self.reviewer_of(code), self.did(code), note="Đã chấm lại và bổ sung minh chứng")
        self.progress(f"resubmitted with changed answers and a new file, then endorsed: {self.units[code].name}")

        self.on(date(2024, 12, 9))
        for spec in LC_CELLS:
            self.engine.approve(self.approver_of(spec.code), self.did(spec.code))
            self.work(15)
        four_good = sum(1 for s in LC_CELLS if self.engine.dossier(self.did(s.code)).four_good)
        self.progress(
            f"{len(LC_CELLS)} pilot cells decided by their grassroots committees; {four_good} recognized four-good"
        )

    def district_review(self) -> None:
        """The district's organization board appraises the 42 dossiers (one comes in late)."""
        reviewer = self.official("tc-huyen-uy", Role.REVIEWER, DISTRICT)
        returns = {
            "mk-ban-xen": "Tự xếp loại xuất sắc nhưng không có sản phẩm cụ thể; kết quả thực hiện nhiệm vụ ghi "
            "'xuất sắc' chưa phù hợp với báo cáo kinh tế – xã hội của xã (thu ngân sách đạt 96%)",
            "mk-thue": "Tỷ lệ đảng viên dự sinh hoạt ghi 94% không khớp sổ theo dõi sinh hoạt chi bộ (bình quân 82%)",
            "mk-dan-toc": "Thiếu biên bản họp chi bộ thông qua báo cáo kiểm điểm; đề nghị bổ sung",
        }
        lower = {
            "mk-ta-gia-khau": (DONE, "Chỉ tiêu giảm nghèo đạt 70% kế hoạch; đề nghị xếp loại Hoàn thành nhiệm vụ"),
        }
        not_reviewed = {"mk-nam-chay", LATE}
        self.on(date(2024, 12, 11))
        for spec in [*MK_COMMITTEES, *MK_CELLS]:
            code = spec.code
            if code in not_reviewed:
                continue
            if code in returns:
                self.engine.return_to_unit(reviewer, self.did(code), reason=returns[code])
                self.progress(f"returned to unit: {spec.name}: {returns[code]}")
            elif code in lower:
                level, reason = lower[code]
                self.engine.endorse(reviewer, self.did(code), level=level, reason=reason, note="Thẩm định lại số liệu")
            else:
                self.engine.endorse(reviewer, self.did(code), note="Thống nhất với kết quả tự đánh giá")
            self.work(20)
        # A late self-assessment, after the 10 December deadline: recorded as late, left for the district.
        self.on(date(2024, 12, 13), 16, 0)
        self.submit(LATE)
        # Two of the three returned units answer; Phòng Dân tộc does not before the year closes.
        self.on(date(2024, 12, 16), 9, 0)
        answers, facts = self.answers("mk-ban-xen", GOOD)
        self.engine.record_answers(self.secretary("mk-ban-xen"), self.did("mk-ban-xen"), answers=answers, facts=facts)
        self.work(15)
        self.submit("mk-ban-xen")
        self.work(40)
        answers, _ = self.answers("mk-thue", GOOD, miss="attendance")
        self.engine.record_answers(self.secretary("mk-thue"), self.did("mk-thue"), answers=answers)
        self.work(10)
        self.submit("mk-thue")
        self.on(date(2024, 12, 18), 8, 0)
        for code in ("mk-ban-xen", "mk-thue"):
            self.engine.endorse(reviewer, self.did(code), note="Đã chỉnh sửa theo yêu cầu")
            self.work(15)
        self.progress("resubmitted with changed answers and endorsed: Đảng bộ xã Bản Xen (now good), Chi cục Thuế")

    def city_decisions(self) -> None:
        """The city's organization board appraises the committees and cells; its standing committee decides."""
        reviewer = self.official("tc-thanh-uy", Role.REVIEWER, CITY)
        approver = self.official("tt-thanh-uy", Role.APPROVER, CITY)
        self.on(date(2024, 12, 19))
        for spec in [*LC_COMMITTEES, *LC_GRASSROOTS_CELLS]:
            self.engine.endorse(reviewer, self.did(spec.code), note="Đủ điều kiện đề nghị xếp loại")
            self.work(20)
        self.on(date(2024, 12, 23))
        for spec in [*LC_GRASSROOTS_CELLS, *LC_COMMITTEES]:
            if spec.code == "lc-y-te":
                continue  # left endorsed: the standing committee has not met on it yet
            self.engine.approve(approver, self.did(spec.code))
            self.work(15)
        self.engine.mark_not_rated(
            approver, self.did(NOT_RATED),
            reason="Chi bộ thành lập ngày 01/09/2024, hoạt động chưa đủ 6 tháng: không xếp loại (Quy định 124-QĐ/TW)",
        )
        recognized = [s.name for s in LC_COMMITTEES if self.engine.dossier(self.did(s.code)).four_good]
        self.progress(
            f"Thành ủy decided {len(LC_COMMITTEES) - 1 + len(LC_GRASSROOTS_CELLS)} dossiers; four-good committees: "
            f"{', '.join(recognized)}; {LC_NEW_CELL.name} not rated (under 6 months)"
        )

    def district_decisions(self) -> None:
        """The district's standing committee decides, keeping to the quota; a deputy acts for it one week."""
        approver = self.official("tt-huyen-uy", Role.APPROVER, DISTRICT)
        self.on(date(2025, 1, 2))
        grant = self.grants[("tt-huyen-uy", Role.APPROVER, DISTRICT)]
        self.engine.delegate(
            approver, person_id("tt-huyen-uy"), grant, deputy_id=person_id("pbt-huyen-uy"),
            valid_from=date(2025, 1, 6), valid_to=date(2025, 1, 11), legal_basis=DELEGATION_BASIS,
        )
        self.progress(f"delegation: Vũ Minh Tuấn decides for Hoàng Văn Chiến 06-10/01/2025 ({DELEGATION_BASIS[:38]}…)")
        self.work(30)
        # Communes: goods first, so that the quota of excellent has room (20% of those decided good or better).
        for code in [
            "mk-ban-xen", "mk-cao-son", "mk-lung-vai", "mk-thanh-binh", "mk-thi-tran",
            "mk-tung-chung-pho", "mk-lung-khau-nhin", "mk-ta-ngai-cho", "mk-la-pan-tan", EXCELLENT, QUOTA_REFUSED,
            "mk-din-chin", "mk-ta-gia-khau",
        ]:
            self.decide(approver, code)
        self.engine.return_to_committee(
            approver, self.did(RETURNED_TO_COMMITTEE),
            reason="Đề nghị Ban Tổ chức thẩm định lại: biên bản họp chi bộ chưa ghi kết quả biểu quyết tự xếp loại",
        )
        self.progress(f"returned to committee: {self.units[RETURNED_TO_COMMITTEE].name}")

        # 6-10 January: the deputy decides on the approver's behalf.
        self.on(date(2025, 1, 6))
        agencies = [s.code for s in MK_COMMITTEES + MK_CELLS if s.group in (AGENCIES, ARMED, SCHOOLS)]
        undecided = {"mk-noi-vu", "mk-dan-toc", LATE, RETURNED_TO_COMMITTEE}
        excellent_last = sorted((c for c in agencies if c not in undecided), key=lambda c: self.units[c].level is EXC)
        for code in excellent_last:
            self.decide(self.deputy, code)
        self.on(date(2025, 1, 7), 9, 0)
        self.engine.endorse(
            self.official("tc-huyen-uy", Role.REVIEWER, DISTRICT), self.did(RETURNED_TO_COMMITTEE),
            note="Đã thẩm định lại: biên bản họp ngày 12/11/2024 biểu quyết 100% tán thành; giữ đề xuất",
        )
        self.on(date(2025, 1, 8), 8, 0)
        self.decide(self.deputy, RETURNED_TO_COMMITTEE)
        self.progress(f"the deputy decided {len(excellent_last) + 1} dossiers on the district approver's behalf")
        self.on(date(2025, 1, 13))
        self.decide(approver, "mk-pha-long")

    def decide(self, actor: Actor, code: str) -> None:
        did = self.did(code)
        dossier = self.engine.dossier(did)
        reason = ""
        if dossier.proposed_level is not None and dossier.proposed_level < self.engine.evaluate(did)[0].level:
            reason = "Thống nhất đề xuất của Ban Tổ chức Huyện ủy"
        try:
            self.engine.approve(actor, did, reason=reason)
        except QuotaExceeded as refused:
            self.progress(f"quota refused: {self.units[code].name}: {refused}")
            self.work(5)
            self.engine.approve(
                actor, did, level=GOOD,
                reason="Đã đủ số lượng 'Hoàn thành xuất sắc nhiệm vụ' (không quá 20% số tổ chức đảng hoàn thành tốt "
                "nhiệm vụ trở lên trong khối xã, thị trấn); xếp loại Hoàn thành tốt nhiệm vụ",
            )
            self.progress(f"decided good instead, with the reason: {self.units[code].name}")
        self.work(12)

    def close_and_reclassify(self) -> None:
        self.on(date(2025, 1, 20), 14, 0)
        self.engine.close_period(
            self.admin, YEAR, reason="Kết thúc kiểm điểm, đánh giá, xếp loại năm 2024; công bố kết quả"
        )
        dossiers = [self.engine.dossier(self.did(code)) for code in self.units]
        decided = Counter(d.level.value for d in dossiers if d.level is not None)
        open_states = Counter(d.state.value for d in dossiers if d.level is None)
        self.progress(
            f"closed {YEAR}: decided " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items()))
            + f"; four-good {sum(1 for d in dossiers if d.four_good)}; still open: "
            + ", ".join(f"{k} {v}" for k, v in sorted(open_states.items()))
        )
        approver = self.official("tt-huyen-uy", Role.APPROVER, DISTRICT)
        self.on(date(2025, 3, 12), 9, 0)
        self.engine.reopen(approver, self.did(RECLASSIFIED), legal_basis=RECLASSIFICATION_BASIS)
        self.on(date(2025, 3, 14), 10, 0)
        self.engine.approve(
            approver, self.did(RECLASSIFIED), level=DONE,
            reason="Ban Thường vụ Huyện ủy hủy kết quả xếp loại 'Hoàn thành tốt nhiệm vụ' năm 2024, xếp loại lại "
            "'Hoàn thành nhiệm vụ' theo Kết luận số 28-KL/UBKTHU ngày 10/03/2025",
        )
        self.progress(f"re-classified in the closed period: {self.units[RECLASSIFIED].name}: good -> completed")

    # --- July 2025 and the 2025 period ------------------------------------------------------------------------------

    def restructure(self) -> None:
        """District-level committees end on 1 July 2025; their units move under the merged provincial committee."""
        self.on(date(2025, 6, 30), 8, 0)
        root = unit_id(ROOT)
        self.engine.rename_unit(self.admin, root, name=MERGED_ROOT_NAME, effective_from=RESTRUCTURING)
        moved = 0
        for superior in (CITY, DISTRICT):
            for child in self.engine.children(unit_id(superior), RESTRUCTURING):
                self.engine.move_unit(
                    self.admin, child.id, parent_id=root, effective_from=RESTRUCTURING, reason=RESTRUCTURING_BASIS
                )
                moved += 1
                self.work(2)
            self.engine.dissolve_unit(
                self.admin, unit_id(superior), effective_from=RESTRUCTURING, reason=RESTRUCTURING_BASIS
            )
        for username, full_name, role, basis in _PROVINCE_2025:
            self.person(username, full_name)
            self.grant(username, role, ROOT, RESTRUCTURING, None, basis)
        self.progress(
            f"restructuring effective 01/07/2025: {moved} units moved under '{MERGED_ROOT_NAME}'; Thành ủy Lào Cai "
            "and Huyện ủy Mường Khương dissolved; the provincial organization board and standing committee now "
            "review and decide"
        )

    def season_2025(self) -> None:
        self.on(date(2025, 10, 20), 8, 0)
        self.engine.open_period(
            self.admin, year=NEXT_YEAR, rule_set_id=RULE_SET_2025,
            deadlines={
                "self_assessment": date(2025, 12, 15), "review": date(2025, 12, 25), "decision": date(2026, 1, 20),
            },
        )
        self.on(date(2025, 11, 17))
        started = ["mk-nam-lu", FOUR_GOOD_COMMITTEE, "mk-thi-tran", "mk-kho-bac", "lc-kim-tan-cb1"]
        for code in started:
            self.draft(code, NEXT_YEAR, GOOD)
            self.work(40)
        self.on(date(2025, 11, 24), 9, 0)
        for code in ("mk-nam-lu", FOUR_GOOD_COMMITTEE):
            self.submit(code, NEXT_YEAR)
            self.work(30)
        self.on(date(2025, 11, 27), 10, 0)
        self.engine.endorse(
            self.official("tc-tinh-uy", Role.REVIEWER, ROOT), self.did(SUBMITTED_2025, NEXT_YEAR),
            note="Ban Tổ chức Tỉnh ủy thẩm định: đủ điều kiện đề nghị",
        )
        self.progress(
            f"opened {NEXT_YEAR} under {RULE_SET_2025} (100-point scale); {len(started)} self-assessments started, "
            f"2 submitted, {self.units[SUBMITTED_2025].name} endorsed by the provincial organization board"
        )

    def summary(self, seconds: float) -> None:
        engine = self.engine
        events = engine.recorder.max_notification_id() or 0
        dossiers = len(engine.aggregate_ids(Dossier, "Opened"))
        units = len(engine.aggregate_ids(Unit, "Registered"))
        people = len(engine.aggregate_ids(Person, "Registered"))
        decided_2024 = sum(
            1 for code in self.units
            if engine.dossier(self.did(code)).state in (DossierState.APPROVED, DossierState.NOT_RATED)
        )
        self.progress(
            f"done in {seconds:.1f} s: {units} units, {people} people, {dossiers} dossiers "
            f"({decided_2024} of {len(self.units)} decided in {YEAR}), {events} events"
        )
        self.progress("look further:")
        for line in (
            "dossierflow status",
            f"dossierflow history {RECLASSIFIED}/{YEAR}      (re-opened and re-classified)",
            f"dossierflow history {QUOTA_REFUSED}/{YEAR}        (excellent refused by the quota)",
            f"dossierflow history {DELEGATED}/{YEAR}        (decided by a deputy)",
            f"dossierflow history {RETURNED_AND_RESUBMITTED}/{YEAR}    (returned, resubmitted with changes)",
            f"dossierflow show {FOUR_GOOD_COMMITTEE}/{YEAR}           (a four-good committee)",
            f"dossierflow show {RECLASSIFIED}/{YEAR} --as-of 2024-11-20",
            "dossierflow verify",
        ):
            self.progress(f"  {line}")


def play_demo(engine: Engine, progress: Callable[[str], None]) -> None:
    """On an empty store: the real units of the seeds, the 2024 season and the opening of 2025, on a simulated clock."""
    started = stopwatch.perf_counter()
    season = _Season(engine, progress)
    season.install()
    season.register_units()
    season.register_people()
    # A cell founded in September 2024: registered then, with its secretary.
    season.on(date(2024, 9, 3), 9, 0)
    season.register(LC_NEW_CELL)
    season.add_secretary(season.variant[NOT_RATED], NOT_RATED, LC_NEW_CELL.established)
    progress(f"registered {LC_NEW_CELL.name} ({NOT_RATED}), founded on 01/09/2024, and its secretary")
    season.self_assessments()
    season.pilot_cells()
    season.district_review()
    season.city_decisions()
    season.district_decisions()
    season.close_and_reclassify()
    season.restructure()
    season.season_2025()
    season.summary(stopwatch.perf_counter() - started)
