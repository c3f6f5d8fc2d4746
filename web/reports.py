"""Reports: the decided classifications of a period for a unit and everything below it, as XLSX and CSV, and the
printable decision list of a superior unit.

The files are written by projections/exports.py from keyset pages of the dossiers read model: the CSV is streamed
as it is read; the XLSX is written by XlsxWriter in `constant_memory` mode to a temporary file in a worker thread,
then streamed out of that file, which is already unlinked. Who may read is the engine's answer
(`Engine.authorize_reading`), asked before any row is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from babel.dates import get_date_format
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from domain.actor import Actor
from domain.decisions import MAX_ACT_NUMBER
from domain.errors import InvalidInput, NotAuthorized, NotFound
from domain.period import EvaluationPeriod
from domain.unit import Unit
from domain.values import Classification
from projections import exports
from projections.models import dossiers as dossiers_model
from projections.models import units as units_model
from web import filenames, i18n
from web.app import Site, Visit
from web.labels import LEVELS, N_
from web.routes import SignInNeeded
from workflow.authorization import READING_ROLES

# Rows shown on the reports page before the downloads: a glance, the files hold the rest.
PREVIEW_ROWS = 20
# Levels in the order a decision list names them: the best first, "not rated" last.
LEVEL_ORDER = [
    Classification.EXCELLENT, Classification.GOOD, Classification.COMPLETED, Classification.NOT_COMPLETED,
    Classification.NOT_RATED,
]
# The columns of both files, as msgids: translated into the visit's language for the header row.
COLUMNS = [
    N_("No."), N_("Unit code"), N_("Unit"), N_("Classification"), N_("Four-good"), N_("Points"),
    N_("Decided on"), N_("Under re-examination"), N_("Rule set"), N_("Year"), N_("Decision number"),
    N_("Date of issue"),
]
YES, NO = N_("Yes"), N_("No")


def wording(visit: Visit) -> exports.Wording:
    return exports.Wording(
        headers=[visit.gettext(c) for c in COLUMNS],
        levels={level: visit.gettext(LEVELS[level.value]) for level in Classification},
        yes=visit.gettext(YES),
        no=visit.gettext(NO),
    )


def excel_date_format(locale: str) -> str:
    """The locale's short date pattern (Babel's CLDR data) as an Excel number format: its order and separators,
    with two-digit days and months and a four-digit year (vi and hi: dd/mm/yyyy; en: mm/dd/yyyy)."""
    pattern = get_date_format("short", locale=locale).pattern.replace("'", "")
    return re.sub(r"M+", "mm", re.sub(r"d+", "dd", re.sub(r"y+", "yyyy", pattern)))


# --- who may read, and what ---------------------------------------------------------------------------------------


def reader(site: Site, visit: Visit, unit: Unit, year: int | None) -> Actor:
    """The first of this person's roles the engine lets read this unit's classifications; else its refusal."""
    if visit.person is None:
        raise NotAuthorized(N_("sign in to read reports"))
    refusals: list[NotAuthorized] = []
    actors = sorted(visit.actors(), key=lambda a: a.role not in READING_ROLES)
    for actor in actors:
        try:
            site.engine.authorize_reading(actor, unit.id, year=year)
        except NotAuthorized as refused:
            refusals.append(refused)
            continue
        return actor
    raise refusals[0] if refusals else NotAuthorized("you hold no role valid today")


def _year(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise InvalidInput(N_("'%(text)s' is not a year"), text=text[:40])
    return int(text)


def _unit(site: Site, code: str) -> Unit:
    code = code.strip()
    if not code or len(code) > 100:
        raise NotFound(N_("no unit '%(code)s'"), code=code[:40])
    return site.engine.unit_by_code(code)


def _period(site: Site, year: int) -> EvaluationPeriod:
    return site.engine.period(year)


def _filename(kind: str, unit: Unit, year: int) -> str:
    return filenames.attachment(f"classifications-{unit.code}-{year}.{kind}")


@dataclass(frozen=True)
class DecisionLine:
    number: int
    name: str
    code: str
    level: Classification
    four_good: bool | None
    decided_on: date
    reopened: bool


def _below(site: Site, superior: Unit, period: EvaluationPeriod) -> tuple[list[Unit], dict[UUID, str]]:
    """The units directly below `superior` as the hierarchy stood at the end of the period (whose decision book
    they are in), and their names of that day."""
    end = period.end_date
    children = [site.engine.unit(uid) for uid in superior.children_as_of(end)]
    return children, {u.id: (u.as_of(end) or u.current).name for u in children}


def _sections(
    lines: list[DecisionLine],
) -> list[tuple[Classification, list[DecisionLine]]]:
    """The lines by level (the best first), then by name, numbered through; one section per level."""
    ordered = sorted(lines, key=lambda x: (LEVEL_ORDER.index(x.level), i18n.vietnamese_key(x.name)))
    sections: list[tuple[Classification, list[DecisionLine]]] = []
    for number, line in enumerate(ordered, start=1):
        numbered = DecisionLine(
            number, line.name, line.code, line.level, line.four_good, line.decided_on, line.reopened
        )
        if not sections or sections[-1][0] is not line.level:
            sections.append((line.level, []))
        sections[-1][1].append(numbered)
    return sections


def decision_acts(site: Site, superior: Unit, period: EvaluationPeriod) -> list[dossiers_model.ActSummary]:
    """The acts `superior` decided the units directly below it by in the period, the latest first."""
    children, _ = _below(site, superior, period)
    return dossiers_model.decision_acts(site.side.store, period.year, [u.id for u in children])


def decision_act(site: Site, superior: Unit, period: EvaluationPeriod, number: str) -> dict[str, Any]:
    """One act as it was taken: the units it decided and the level it gave each (a unit decided again by a later
    act is still printed as this act decided it, marked as no longer in force when so)."""
    number = number.strip()
    if not number or len(number) > MAX_ACT_NUMBER:
        raise NotFound(N_("no decision act numbered %(number)s"), number=number[:60])
    children, names = _below(site, superior, period)
    codes = {u.id: u.code for u in children}
    found = dossiers_model.act_lines(site.side.store, period.year, list(codes), number)
    if not found:
        raise NotFound(
            N_("no decision act numbered %(number)s for the units below %(unit)s in %(year)s"),
            number=number, unit=names_of(superior, period), year=period.year,
        )
    in_force = {
        r.classification.unit_id: r.classification
        for r in dossiers_model.decided_page(
            site.side.store, period.year, unit_ids=[x.unit_id for x in found], limit=len(found)
        )
    }
    lines = [
        DecisionLine(
            0, names[x.unit_id], codes[x.unit_id], x.level, x.four_good, x.act_date,
            # Re-opened since, or decided again by another act: this act no longer holds for that unit.
            x.unit_id not in in_force or in_force[x.unit_id].reopened or in_force[x.unit_id].act_number != number,
        )
        for x in found
    ]
    sections = _sections(lines)
    day = found[0].act_date
    return {
        "superior_name": names_of(superior, period), "sections": sections, "undecided": [],
        "first_day": day, "last_day": day, "count": len(lines), "act_number": number, "act_day": day,
    }


def names_of(unit: Unit, period: EvaluationPeriod) -> str:
    return (unit.as_of(period.end_date) or unit.current).name


def decision_list(site: Site, superior: Unit, period: EvaluationPeriod) -> dict[str, Any]:
    """The units directly below `superior` as the hierarchy stood at the end of the period (whose decision book
    they are in), with the classification in force for each, by level (the best first) and then by name."""
    end = period.end_date
    children, names = _below(site, superior, period)
    decided: list[dossiers_model.DecidedRow] = []
    ids = [u.id for u in children]
    for start in range(0, len(ids), exports.EXPORT_PAGE):
        chunk = ids[start : start + exports.EXPORT_PAGE]
        decided += dossiers_model.decided_page(
            site.side.store, period.year, unit_ids=chunk, limit=len(chunk)
        )
    found = {r.classification.unit_id: r.classification for r in decided}
    sections = _sections([
        DecisionLine(
            0, names[c.unit_id], c.unit_code, c.level, c.four_good, dossiers_model.vietnam_day(c.decided_at),
            c.reopened,
        )
        for c in found.values()
    ])
    undecided = sorted((names[u.id] for u in children if u.id not in found), key=i18n.vietnamese_key)
    days = sorted({line.decided_on for _, lines in sections for line in lines})
    return {
        "superior_name": (superior.as_of(end) or superior.current).name, "sections": sections,
        "undecided": undecided, "first_day": days[0] if days else None, "last_day": days[-1] if days else None,
        "count": len(found), "act_number": None, "act_day": None,
    }


# --- routes ---------------------------------------------------------------------------------------------------------


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine
    store = site.side.store

    def _visit(request: Request) -> Visit:
        visit: Visit = request.state.visit
        if visit.person is None:
            raise SignInNeeded()
        return visit

    def _held(visit: Visit) -> list[Unit]:
        """The units this person holds a reading role over: where the form starts."""
        seen: dict[UUID, Unit] = {}
        for authority in visit.authorities:
            if authority.role in READING_ROLES and authority.unit_id not in seen:
                seen[authority.unit_id] = engine.unit(authority.unit_id)
        return sorted(seen.values(), key=lambda u: i18n.vietnamese_key(u.current.name))

    @app.get("/reports")
    def reports_page(request: Request, unit: str = "", year: str = "") -> Response:
        visit = _visit(request)
        held = _held(visit)
        if not held:
            raise NotAuthorized(N_("reports need the reviewer, approver, auditor or administrator role"))
        years = sorted((p.year for p in engine.periods()), reverse=True)
        chosen_year = _year(year) if year.strip() else (years[0] if years else visit.today.year)
        chosen = _unit(site, unit) if unit.strip() else held[0]
        reader(site, visit, chosen, chosen_year)
        period = _period(site, chosen_year)
        end = period.end_date
        # The first rows of the files, as the files hold them: the units below as of the period's end.
        preview = list(islice(exports.decided_lines(store, chosen_year, chosen.id, end), PREVIEW_ROWS + 1))
        below = [engine.unit(uid) for uid in chosen.children_as_of(end)]
        superiors = sorted(
            ((u.code, (u.as_of(end) or u.current).name) for u in below if u.children_as_of(end)),
            key=lambda pair: i18n.vietnamese_key(pair[1]),
        )
        path = [engine.unit(uid) for uid in reversed(units_model.ancestors_as_of(store, chosen.id, end))]
        query = urlencode({"unit": chosen.code, "year": chosen_year})
        context = {
            "held": held, "years": years, "chosen": chosen, "year": chosen_year, "period": period,
            "chosen_name": (chosen.as_of(end) or chosen.current).name,
            "preview": preview[:PREVIEW_ROWS], "more": len(preview) > PREVIEW_ROWS,
            "superiors": superiors, "has_list": bool(below), "query": query,
            "acts": decision_acts(site, chosen, period) if below else [],
            "path": [(u.code, (u.as_of(end) or u.current).name) for u in path if _within(visit, u)],
            "base": f"/reports/{quote(chosen.code, safe='')}/{chosen_year}",
        }
        if request.headers.get("hx-request"):
            return site.render(request, "reports.html", context, block="result")
        return site.render(request, "reports.html", context)

    def _within(visit: Visit, unit: Unit) -> bool:
        # The path above the chosen unit links only to units the person may open too.
        return any(a.unit_id == unit.id or a.unit_id in _ancestors(unit) for a in visit.authorities
                   if a.role in READING_ROLES)

    def _ancestors(unit: Unit) -> list[UUID]:
        return units_model.ancestors_as_of(store, unit.id, site.today())

    def _export_target(request: Request, code: str, year: str) -> tuple[Visit, Unit, EvaluationPeriod]:
        visit = _visit(request)
        unit = _unit(site, code)
        chosen_year = _year(year)
        reader(site, visit, unit, chosen_year)
        return visit, unit, _period(site, chosen_year)

    @app.get("/reports/{code}/{year}/classifications.csv")
    async def export_csv(request: Request, code: str, year: str) -> Response:
        visit, unit, period = await run_in_threadpool(_export_target, request, code, year)
        lines = exports.decided_lines(store, period.year, unit.id, period.end_date)
        return StreamingResponse(
            exports.csv_chunks(lines, wording(visit)), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": _filename("csv", unit, period.year)},
        )

    @app.get("/reports/{code}/{year}/classifications.xlsx")
    async def export_xlsx(request: Request, code: str, year: str) -> Response:
        visit, unit, period = await run_in_threadpool(_export_target, request, code, year)
        title = visit.gettext("Classifications %(year)s") % {"year": period.year} + f" {unit.code}"
        lines = exports.decided_lines(store, period.year, unit.id, period.end_date)
        handle = await run_in_threadpool(
            lambda: exports.xlsx_file(
                lines, wording(visit), title=title, date_format=excel_date_format(visit.locale)
            )
        )
        size = os.fstat(handle.fileno()).st_size
        return StreamingResponse(
            exports.file_chunks(handle),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": _filename("xlsx", unit, period.year), "Content-Length": str(size)},
        )

    @app.get("/reports/{code}/{year}/decision-list")
    def decision_print(request: Request, code: str, year: str, act: str = "") -> Response:
        visit = _visit(request)
        superior = _unit(site, code)
        chosen_year = _year(year)
        reader(site, visit, superior, chosen_year)
        period = _period(site, chosen_year)
        context = decision_act(site, superior, period, act) if act else decision_list(site, superior, period)
        context.update(
            superior=superior, year=chosen_year, period=period, printed_at=engine.clock(),
            back="/reports?" + urlencode({"unit": superior.code, "year": chosen_year}),
        )
        return site.render(request, "decision_print.html", context)
