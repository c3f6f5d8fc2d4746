"""The oversight pages: the units tree as of any date, the dashboard with its charts, and the audit trail.

They are for the people who oversee a season rather than act on one dossier: auditors, approvers, reviewers and
administrators, each within the units their grants cover (the units held and everything below them). Everything
here reads the read models; the only write is the signing of a checkpoint, as `dossierflow checkpoint` does.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID
from xml.etree import ElementTree

import pygal
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from pygal.style import Style
from starlette.concurrency import run_in_threadpool

from domain.errors import InvalidInput, NotAuthorized, NotFound
from domain.ids import dossier_id
from domain.values import Classification, DossierState, Role, UnitKind
from projections.models import access as access_model
from projections.models import audit as audit_model
from projections.models import dossiers as dossiers_model
from projections.models import statistics as statistics_model
from projections.models import units as units_model
from web import i18n, labels
from web.app import Site, Visit, check_csrf
from web.labels import N_
from web.routes import Refused, SignInNeeded
from workflow.clock import EARLIEST, LATEST, end_of_day, start_of_day
from workflow.store import HeadSigner, public_key_pem

OVERSIGHT_ROLES = frozenset({Role.AUDITOR, Role.APPROVER, Role.REVIEWER, Role.ADMINISTRATOR})
AUDIT_PAGE = 50
AUDIT_COUNT_LIMIT = 10_000
# Units that can have units below them: their children are fetched when opened, the others are leaves.
PARENT_KINDS = frozenset({UnitKind.SUPERIOR_COMMITTEE.value, UnitKind.GRASSROOTS_COMMITTEE.value})
# How many levels below a root the tree shows at once; deeper levels open a node at a time.
OPEN_LEVELS = 2
OPEN_AT_MOST = 12  # parents opened at once below the first level
SEARCH_LIMIT = 100
# A search whose words begin the words of more units than this asks for more words rather than read them all.
SEARCH_READ_LIMIT = 2_000
CHARTS = ("levels", "four_good", "quota", "targets", "states")
# An SVG drawn by pygal carries its own <style> and nothing else that runs: shown through <img>, never inline.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
CHART_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1d2433", foreground_strong="#1d2433",
    foreground_subtle="#5b6475", colors=("#b3261e", "#6b8fc7", "#1e7b3c", "#c98a00", "#5b6475"),
    font_family="system-ui, 'Noto Sans', 'Noto Sans Devanagari', sans-serif", label_font_size=13,
    major_label_font_size=13, value_font_size=12, legend_font_size=14, title_font_size=16, value_label_font_size=12,
)
AUDIT_ACTIONS = tuple(sorted(audit_model.LABELS))


def _signed_in(request: Request) -> Visit:
    visit: Visit = request.state.visit
    if visit.person is None:
        raise SignInNeeded()
    return visit


# --- who sees what -------------------------------------------------------------------------------------------------


def scope_roots(visit: Visit) -> list[UUID]:
    """The units this person oversees (held as auditor, approver, reviewer or administrator), in the order of their
    roles; deny by default: nobody else sees these pages."""
    roots: list[UUID] = []
    for authority in visit.authorities:
        if authority.role in OVERSIGHT_ROLES and authority.unit_id not in roots:
            roots.append(authority.unit_id)
    if not roots:
        raise NotAuthorized(
            N_("the units, dashboard and audit pages are for auditors, approvers, reviewers and administrators")
        )
    return roots


def in_scope(site: Site, roots: Sequence[UUID], uid: UUID, day: date) -> bool:
    if uid in roots:
        return True
    return bool(set(roots) & set(units_model.ancestors_as_of(site.side.store, uid, day)))


def _unit_in_scope(site: Site, visit: Visit, roots: Sequence[UUID], code: str, day: date) -> units_model.UnitRow:
    """A unit named by its code: unknown is 404, outside this person's units 403."""
    code = code.strip()[:100]
    row = units_model.unit_by_code(site.side.store, code) if code else None
    if row is None:
        raise NotFound(N_("no unit with the code '%(code)s'"), code=code[:60])
    # Below a unit held today, or below it on the day asked about (a unit since moved away from it).
    if not (in_scope(site, roots, row.unit_id, visit.today) or in_scope(site, roots, row.unit_id, day)):
        raise NotAuthorized(N_("%(unit)s is outside the units your roles cover"), unit=row.name)
    return row


# --- reading the query string ----------------------------------------------------------------------------------


def _day(text: str, default: date) -> date:
    text = text.strip()
    if not text:
        return default
    try:
        if not text.isascii():
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("'%(text)s' is not a date (YYYY-MM-DD)"), text=text[:40]) from None
    # The ends of the calendar overflow once moved to UTC; no unit or event is anywhere near them.
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(N_("%(day)s is outside %(first)s–%(last)s"), day=day.isoformat(), first=EARLIEST.year,
                           last=LATEST.year)
    return day


def _year(text: str, default: int | None) -> int | None:
    text = text.strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise InvalidInput(N_("'%(text)s' is not a year"), text=text[:40])
    return int(text)


def _years(site: Site) -> list[int]:
    return sorted(dossiers_model.periods(site.side.store), reverse=True)


def _default_year(years: Sequence[int], day: date) -> int | None:
    # The season whose classifications stand on `day`: the last one before its year (a year's evaluation is decided
    # in the following winter), or the earliest there is.
    earlier = [y for y in years if y < day.year]
    return max(earlier) if earlier else (min(years) if years else None)


# --- the units tree ----------------------------------------------------------------------------------------------


@dataclass
class Node:
    unit_id: UUID
    code: str
    name: str
    kind: str
    dossier: dossiers_model.DossierRow | None = None
    children: list[Node] | None = None  # None: not read yet (opened on demand)

    @property
    def may_have_children(self) -> bool:
        return self.kind in PARENT_KINDS


@dataclass
class Tree:
    roots: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        stack = list(self.roots)
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children or ())


def _children(site: Site, parent: UUID, day: date) -> list[Node]:
    found = units_model.children_as_of(site.side.store, parent, day)
    found.sort(key=lambda c: i18n.vietnamese_key(c.name))
    return [Node(c.unit_id, c.code, c.name, c.kind) for c in found]


def _grow(site: Site, nodes: list[Node], day: date, levels: int) -> None:
    """Open `levels` levels below `nodes`, a level only while few units are to be opened: a province's sixty
    districts stay links (each opens its own hundreds of units), a city and a district under one root open."""
    frontier = nodes
    for level in range(levels):
        parents = [n for n in frontier if n.may_have_children]
        if level > 0 and len(parents) > OPEN_AT_MOST:
            return
        frontier = []
        for node in parents:
            node.children = _children(site, node.unit_id, day)
            frontier.extend(node.children)


def _with_dossiers(site: Site, tree: Tree, year: int | None) -> None:
    if year is None:
        return
    nodes = list(tree.walk())
    rows = dossiers_model.dossier_rows(site.side.store, [dossier_id(n.unit_id, year) for n in nodes])
    for node in nodes:
        node.dossier = rows.get(dossier_id(node.unit_id, year))


def _search(site: Site, roots: Sequence[UUID], day: date, q: str) -> tuple[list[dict[str, Any]], int | None]:
    """Units in scope on `day` whose name or code has a word beginning with each word of `q`, tones or not, with the
    path down to each: the first SEARCH_LIMIT by name, and how many match (None: more than SEARCH_READ_LIMIT units
    match before the scope is even checked, and none is shown)."""
    found = units_model.search_units(site.side.store, q, day, most=SEARCH_READ_LIMIT)
    if found is None:
        return [], None
    held = set(roots)
    shown = sorted(
        (f for f in found if f.unit_id in held or any(uid in held for uid, _ in f.path)),
        key=lambda f: i18n.vietnamese_key(f.name),
    )
    return [
        {"code": f.code, "name": f.name, "kind": f.kind, "path": [name for _, name in f.path]}
        for f in shown[:SEARCH_LIMIT]
    ], len(shown)


# --- the dashboard ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    year: int
    stats: statistics_model.Statistics
    overdue: int
    meters: tuple[statistics_model.QuotaMeter, ...]


def _figures(site: Site, uid: UUID, year: int, today: date) -> Figures:
    store = site.side.store
    overdue = dossiers_model.list_dossiers(store, year=year, unit_below=uid, overdue_on=today, limit=0).total
    return Figures(year, statistics_model.statistics(store, uid, year), overdue,
                   statistics_model.quota_meters(store, uid, year))


def _share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


def _chart_data(visit: Visit, name: str, figures: list[Figures]) -> tuple[str, list[str], list[tuple[str, list[Any]]]]:
    """A chart's title, its x labels and its series (one per period): the same figures as the table beside it."""
    if name == "levels":
        levels = [c.value for c in Classification]
        return (visit.gettext("Classification mix"), [visit.gettext(labels.LEVELS[v]) for v in levels],
                [(str(f.year), [f.stats.by_level.get(v, 0) for v in levels]) for f in figures])
    if name == "four_good":
        return (visit.gettext("Party cells recognized four-good, in percent"), [visit.gettext("Four-good cells")],
                [(str(f.year), [_percent(_share(f.stats.four_good_cells, f.stats.cells))]) for f in figures])
    if name == "quota":
        groups = sorted({m.group for f in figures for m in f.meters})
        series: list[tuple[str, list[Any]]] = []
        for f in figures:
            by_group = {m.group: m for m in f.meters}
            series.append((visit.gettext("%(year)s: excellent") % {"year": f.year},
                           [by_group[x].excellent if x in by_group else None for x in groups]))
            series.append((visit.gettext("%(year)s: allowed") % {"year": f.year},
                           [by_group[x].allowed if x in by_group else None for x in groups]))
        names = [visit.gettext(label) if (label := labels.group_label(g)) else g for g in groups]
        return visit.gettext("The quota of excellent, per group"), names, series
    if name == "targets":
        return (
            visit.gettext("Committees below meeting each target, in percent"),
            [
                visit.gettext("Two pilot cells"), visit.gettext("At least 20 percent model cells"),
                visit.gettext("All cells good or better"),
            ],
            [(str(f.year), [_percent(_share(n, f.stats.committees_below.committees)) for n in (
                f.stats.committees_below.pilot_met, f.stats.committees_below.model_met,
                f.stats.committees_below.all_good_met)]) for f in figures],
        )
    states = [s.value for s in DossierState]
    x_labels = [visit.gettext(labels.STATES[s]) for s in states] + [visit.gettext("Overdue")]
    return (visit.gettext("Dossiers by state, and overdue"), x_labels,
            [(str(f.year), [f.stats.by_state.get(s, 0) for s in states] + [f.overdue]) for f in figures])


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


# The charts whose values are percentages; the others count units or dossiers.
PERCENT_CHARTS = frozenset({"four_good", "targets"})


def render_chart(visit: Visit, name: str, figures: list[Figures]) -> str:
    title, x_labels, series = _chart_data(visit, name, figures)
    formatter = visit.formats.number
    chart = pygal.Bar(
        # js=[]: pygal otherwise links its tooltip script from a CDN; the chart is a still image.
        js=[], style=CHART_STYLE, width=720, height=400, title=title, legend_at_bottom=True,
        print_values=True, x_label_rotation=20 if len(x_labels) > 4 or max(map(len, x_labels), default=0) > 18 else 0,
        truncate_label=-1,
        value_formatter=lambda v: "" if v is None else formatter(v), show_y_guides=True,
        no_data_text=visit.gettext("No figures"),
    )
    chart.x_labels = x_labels
    if name not in PERCENT_CHARTS:
        # Counts of units: pygal scales small counts (all zero, say) in tenths, and no committee has 0.3 units.
        top = max((v for _, values in series for v in values if v is not None), default=0)
        if top < 10:
            chart.y_labels = list(range(0, max(1, math.ceil(top)) + 1))
    for label, values in series:
        chart.add(label, values)
    return without_scripts(chart.render_tree())


def without_scripts(root: ElementTree.Element) -> str:
    """The SVG without the <script> pygal always writes (its configuration for the tooltips, even with js=[]):
    nothing in a chart runs, whatever serves it."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return ElementTree.tostring(root, encoding="unicode")


# --- the audit trail -----------------------------------------------------------------------------------------------


@dataclass
class AuditQuery:
    """The audit search as typed (shown back in the form) and as the read model's filters."""

    person: str = ""
    unit: str = ""
    action: str = ""
    year: str = ""
    since: str = ""
    until: str = ""
    filters: dict[str, Any] = field(default_factory=dict)

    def query_string(self, **extra: Any) -> str:
        values = {k: getattr(self, k) for k in ("person", "unit", "action", "year", "since", "until")}
        return urlencode({k: v for k, v in {**values, **extra}.items() if v not in ("", None)})


def _audit_query(site: Site, visit: Visit, roots: Sequence[UUID], params: dict[str, str]) -> AuditQuery:
    def typed(name: str) -> str:
        return params.get(name, "").strip()[:200]

    query = AuditQuery(
        typed("person"), typed("unit"), typed("action"), typed("year"), typed("since"), typed("until")
    )
    store = site.side.store
    if query.unit:
        unit = _unit_in_scope(site, visit, roots, query.unit, visit.today)
        query.unit = unit.code  # as recorded: it names the CSV file
    else:
        # Deny by default: the trail is always that of a unit in scope and everything below it.
        first = units_model.unit_row(store, roots[0])
        if first is None:
            raise NotFound(N_("the unit your role is held over is unknown to the read models"))
        unit = first
        query.unit = unit.code
    query.filters["unit_id"] = unit.unit_id
    if query.person:
        # A mistyped username or a year without a period is said so, as the CLI says it: "0 events" would read
        # as someone, or a year, in which nothing happened.
        query.filters["person_id"] = site.engine.person_by_username(query.person).id
    if query.action:
        if query.action not in audit_model.LABELS:
            raise InvalidInput(N_("'%(action)s' is not an action of the audit trail"), action=query.action[:40])
        query.filters["action"] = query.action
    if query.year:
        query.filters["year"] = year = _year(query.year, None)
        if year not in _years(site):
            raise NotFound(N_("no evaluation period for %(year)s"), year=year)
    if query.since:
        query.filters["since"] = start_of_day(_day(query.since, visit.today))
    if query.until:
        query.filters["until"] = end_of_day(_day(query.until, visit.today))
    if query.since and query.until and query.filters["since"] > query.filters["until"]:
        raise InvalidInput(N_("the time range ends before it starts"))
    return query


def _page_number(text: str) -> int:
    text = text.strip()
    if not text:
        return 1
    if not (text.isascii() and text.isdigit() and len(text) < 7) or int(text) < 1:
        raise InvalidInput(N_("'%(text)s' is not a page number"), text=text[:40])
    return int(text)


def _position(text: str, name: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) < 19):
        raise InvalidInput(N_("'%(text)s' is not a position in the trail (%(name)s)"), text=text[:40], name=name)
    return int(text)


def _csv_chunks(site: Site, filters: dict[str, Any]) -> Iterator[str]:
    # A BOM first, so that a spreadsheet opens the Vietnamese names as UTF-8; then a chunk of rows at a time, read
    # by position: the export never holds the whole trail.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(audit_model.COLUMNS)
    for count, row in enumerate(audit_model.iter_audit(site.side.store, **filters), start=1):
        writer.writerow(audit_model.csv_values(row))
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _signer(site: Site) -> HeadSigner:
    signer = getattr(site.engine.recorder, "signer", None)
    if not isinstance(signer, HeadSigner):
        raise Refused(409, labels.N_("This store is opened without a signing key"))
    return signer


# --- the routes ----------------------------------------------------------------------------------------------------


def register(app: FastAPI, site: Site) -> None:
    store = site.side.store

    @app.get("/units")
    def units_page(request: Request, on: str = "", year: str = "", q: str = "", unit: str = "") -> Response:
        visit = _signed_in(request)
        roots = scope_roots(visit)
        day = _day(on, visit.today)
        years = _years(site)
        chosen = _year(year, _default_year(years, day))
        q = q.strip()[:200]
        context: dict[str, Any] = {"day": day, "on": day.isoformat(), "year": chosen, "years": years, "q": q,
                                   "unit": unit.strip()[:100], "fragment": False, "results": None}
        if q:
            context["results"], context["matched"] = _search(site, roots, day, q)
            context.update(shown_at_most=SEARCH_LIMIT, read_at_most=SEARCH_READ_LIMIT)
            return site.render(request, "units.html", context,
                               block="tree" if request.headers.get("hx-request") else None)
        if context["unit"]:
            row = _unit_in_scope(site, visit, roots, context["unit"], day)
            version = units_model.version_as_of(store, row.unit_id, day)
            if version is None or not version[2]:
                raise NotFound(N_("%(unit)s did not exist on %(day)s"), unit=row.name, day=day)
            starts = [Node(row.unit_id, row.code, version[0], row.kind)]
        else:
            starts = []
            for uid in roots:
                found = units_model.unit_row(store, uid)
                version = units_model.version_as_of(store, uid, day)
                if found is not None and version is not None and version[2]:
                    starts.append(Node(uid, found.code, version[0], found.kind))
        fragment = bool(request.headers.get("hx-request")) and request.query_params.get("open") == "1"
        tree = Tree(starts)
        _grow(site, tree.roots, day, 1 if fragment else OPEN_LEVELS)
        _with_dossiers(site, tree, chosen)
        context.update(tree=tree, fragment=fragment)
        return site.render(request, "units.html", context, block="tree" if fragment else None)

    @app.get("/dashboard")
    def dashboard(request: Request, unit: str = "", year: str = "", compare: str = "") -> Response:
        visit = _signed_in(request)
        context = _dashboard_context(visit, unit, year, compare)
        return site.render(request, "dashboard.html", context,
                           block="figures" if request.headers.get("hx-request") else None)

    def _dashboard_context(visit: Visit, unit: str, year: str, compare: str) -> dict[str, Any]:
        roots = scope_roots(visit)
        if unit.strip():
            row = _unit_in_scope(site, visit, roots, unit, visit.today)
        else:
            first = units_model.unit_row(store, roots[0])
            if first is None:
                raise NotFound(N_("the unit your role is held over is unknown to the read models"))
            row = first
        years = _years(site)
        if not years:
            raise NotFound(N_("no evaluation period is open yet"))
        chosen = _year(year, _default_year(years, visit.today))
        assert chosen is not None
        if chosen not in years:
            raise NotFound(N_("no evaluation period for %(year)s"), year=chosen)
        earlier = chosen - 1 if chosen - 1 in years else None
        against = _year(compare, earlier) if compare != "none" else None
        if against is not None and against not in years:
            raise NotFound(N_("no evaluation period for %(year)s"), year=against)
        shown = [_figures(site, row.unit_id, chosen, visit.today)]
        if against is not None and against != chosen:
            shown.append(_figures(site, row.unit_id, against, visit.today))
        groups = sorted({m.group for f in shown for m in f.meters})
        query = urlencode({"unit": row.code, "year": chosen, "compare": against or "none"})
        return {
            "unit": row, "year": chosen, "compare": against, "years": years, "figures": shown, "groups": groups,
            "levels": [c.value for c in Classification], "states": [s.value for s in DossierState],
            "charts": CHARTS, "chart_query": query,
            "scope": [r for r in (units_model.unit_row(store, u) for u in roots) if r is not None],
            "meters": [{m.group: m for m in f.meters} for f in shown],
        }

    @app.get("/dashboard/charts/{name}.svg")
    def chart(request: Request, name: str, unit: str = "", year: str = "", compare: str = "") -> Response:
        visit = _signed_in(request)
        if name not in CHARTS:
            raise NotFound(N_("no chart '%(name)s'"), name=name[:40])
        context = _dashboard_context(visit, unit, year, compare)
        svg = render_chart(visit, name, context["figures"])
        return Response(svg, media_type="image/svg+xml", headers={"Content-Security-Policy": CHART_POLICY})

    @app.get("/audit")
    def audit_page(request: Request, page: str = "", after: str = "", before: str = "") -> Response:
        visit = _signed_in(request)
        roots = scope_roots(visit)
        query = _audit_query(site, visit, roots, dict(request.query_params))
        number = _page_number(page)
        # The pager's links carry the position next to their page (as deep pages cost the same as the first);
        # a page asked for by its number alone is counted from the start.
        if after.strip() and before.strip():
            raise InvalidInput(N_("a page comes after a position or before one, not both"))
        following = _position(after, "after") if after.strip() else None
        preceding = _position(before, "before") if before.strip() else None
        offset = (number - 1) * AUDIT_PAGE if following is None and preceding is None else 0
        trail = audit_model.audit_trail(
            store, offset=offset, after=following, before=preceding, limit=AUDIT_PAGE,
            count_limit=AUDIT_COUNT_LIMIT, **query.filters,
        )
        if preceding is not None and not trail.earlier:
            number = 1  # a page link kept from before the trail changed: this is the first page now
        unit_ids = {r.role_unit_id for r in trail.rows if r.role_unit_id} | {r.unit_id for r in trail.rows if r.unit_id}
        # Past the count's limit the number of pages is not known: the pager offers the next page while pages are full.
        pages = max(1, -(-trail.total // AUDIT_PAGE)) if trail.total_exact else None
        context = {
            "query": query, "trail": trail, "page": number, "pages": pages,
            "names": units_model.unit_names(store, unit_ids),
            "actions": AUDIT_ACTIONS, "audit_labels": audit_model.LABELS, "years": _years(site),
            "scope": [r for r in (units_model.unit_row(store, u) for u in roots) if r is not None],
            "chain": site.chain.verdict,
        }
        return site.render(request, "audit.html", context,
                           block="results" if request.headers.get("hx-request") else None)

    @app.get("/audit.csv")
    def audit_csv(request: Request, page: str = "") -> Response:
        visit = _signed_in(request)
        roots = scope_roots(visit)
        _page_number(page)  # the export holds every page; a page that is no number is still bad input
        query = _audit_query(site, visit, roots, dict(request.query_params))
        name = f"audit-{query.unit}-{visit.today.isoformat()}.csv"
        return StreamingResponse(
            _csv_chunks(site, query.filters), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"},
        )

    @app.get("/audit/who-could-act")
    def who_could_act(request: Request, dossier: str = "", on: str = "") -> Response:
        visit = _signed_in(request)
        roots = scope_roots(visit)
        reference = dossier.strip()[:200]
        day = _day(on, visit.today)
        context: dict[str, Any] = {"reference": reference, "on": day.isoformat(), "day": day, "answers": None}
        if reference:
            did = site.engine.find_dossier(reference)
            row = dossiers_model.dossier_row(store, did)
            if row is None:
                raise NotFound(N_("no dossier '%(reference)s'"), reference=reference[:60])
            if not in_scope(site, roots, row.unit_id, visit.today):
                raise NotAuthorized(N_("this dossier is outside the units your roles cover"))
            found = access_model.who_could_act(store, did, end_of_day(day), site.waiting_rules)
            grants: dict[UUID, access_model.GrantRecord] = {}
            for holder in {p.on_behalf_of or p.person_id for p in found}:
                grants.update({g.grant_id: g for g in access_model.access_history(store, person_id=holder)})
            names = units_model.unit_names(store, [p.unit_id for p in found] + [row.unit_id])
            holders = {g.person_id: g.full_name for g in grants.values()}
            context.update(answers=[
                {"could": p, "grant": grants.get(p.grant_id),
                 "delegation": next((d for g in grants.values() for d in g.delegations
                                     if d.delegation_id == p.delegation_id), None)}
                for p in found
            ], names=names, holders=holders, dossier=row, state=dossiers_model.dossier_state_on(store, did, day))
        return site.render(request, "audit.html", {**context, "who": True})

    @app.get("/audit/public-key.pem")
    def public_key(request: Request) -> Response:
        visit = _signed_in(request)
        scope_roots(visit)
        key = _signer(site).public_key
        return Response(public_key_pem(key), media_type="application/x-pem-file",
                        headers={"Content-Disposition": 'attachment; filename="dossierflow-public-key.pem"'})

    @app.post("/audit/checkpoint")
    async def checkpoint(request: Request) -> Response:
        visit = _signed_in(request)
        scope_roots(visit)
        form = await request.form()
        token = form.get("csrf_token")
        if not check_csrf(request, token if isinstance(token, str) else None):
            raise Refused(403, labels.N_("This form has expired or did not come from this site"),
                          labels.N_("Reload the page and try again."))
        signer = _signer(site)
        # The chain as the background check last verified it (the whole log is walked at most once a minute, never
        # by a request), or verified now when the server has not checked it yet.
        verdict = site.chain.verdict
        # A worker that does not verify shows the verifying worker's verdict, which carries no signed head to re-sign:
        # that worker (and one that has not checked yet) verifies here.
        if verdict is None or (verdict.ok and verdict.signed_head is None):
            verdict = await run_in_threadpool(site.chain.check_now)
        head = verdict.signed_head
        if not verdict.ok or head is None:
            raise Refused(409, labels.N_("The signed chain does not verify: no checkpoint is signed over it"),
                          verdict.first_finding)
        signed = await run_in_threadpool(signer.sign_head, head.position, head.notification_id, head.hash)
        signer.remember(signed)
        return Response(signed.to_json(), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="checkpoint-{signed.position}.json"'})

