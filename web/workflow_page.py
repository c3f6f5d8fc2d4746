"""The workflow page: the dossier workflow drawn by Graphviz from the very spec the engine follows
(workflow/spec.py), and the same transitions as a table a screen reader can read, in the person's language."""

from __future__ import annotations

import functools
import html
import logging
import re
from dataclasses import dataclass

import graphviz
from fastapi import FastAPI, Request
from fastapi.responses import Response
from markupsafe import Markup

from domain.errors import NotFound
from domain.values import DossierState, Role
from web import i18n, labels
from web.app import Site
from web.labels import N_
from web.routes import _signed_in
from workflow.spec import CURRENT_VERSION, SPECS, Scope, WorkflowSpec

logger = logging.getLogger(__name__)
SCOPES = {
    Scope.OWN_UNIT: N_("over the unit itself"),
    Scope.DIRECT_SUPERIOR: N_("over the committee directly above the unit"),
    Scope.ANY_SUPERIOR: N_("over any committee above the unit"),
}
# Graphviz lays the text out with the server's font metrics; a font most browsers also have keeps the boxes fitting.
_FONT = "DejaVu Sans"
_ROLE_COLOURS = {
    Role.SECRETARY: "#1b6e3a",
    Role.REVIEWER: "#0b4f9c",
    Role.APPROVER: "#a4161a",
    Role.AUDITOR: "#5b6575",
    Role.ADMINISTRATOR: "#5b6575",
}


@dataclass(frozen=True)
class Step:
    """One row of the transitions table: from a state, by an action, to a state (None: it stays), by whom."""

    source: DossierState
    trigger: str
    destination: DossierState | None
    role: Role
    scope: Scope
    needs_reason: bool
    independent: bool
    when_closed: bool


def steps(spec: WorkflowSpec) -> list[Step]:
    found = []
    for source, trigger, destination in spec.edges():
        rule = spec.rule(trigger)
        found.append(
            Step(
                source, trigger, destination, rule.role, rule.scope, rule.needs_reason, rule.independent,
                source in rule.when_closed_from,
            )
        )
    return found


def diagram(version: int, locale: str) -> str | None:
    """The workflow as SVG in `locale`, or None when Graphviz's `dot` cannot run here (not installed: the page then
    says so and still shows the table, rather than fail)."""
    try:
        return _drawn(version, locale)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        logger.warning("the workflow diagram cannot be drawn: %s", error)
        return None


@functools.lru_cache(maxsize=16)
def _drawn(version: int, locale: str) -> str:
    """`dot` runs once per version and language."""
    spec = SPECS[version]
    t = i18n.translations(locale)
    graph = graphviz.Digraph(
        name=f"workflow-v{version}",
        graph_attr={"rankdir": "TB", "fontname": _FONT, "bgcolor": "transparent", "nodesep": "0.4"},
        node_attr={"shape": "box", "style": "rounded", "fontname": _FONT, "fontsize": "13", "margin": "0.15,0.08"},
        edge_attr={"fontname": _FONT, "fontsize": "11"},
    )
    for state in DossierState:
        attrs = {"penwidth": "2"} if state is DossierState.DRAFT else {}
        graph.node(state.value, t.gettext(labels.STATES[state.value]), **attrs)
    # One arrow per pair of states, naming every action that takes it, coloured by the role that fires them.
    arrows: dict[tuple[str, str], list[Step]] = {}
    for step in steps(spec):
        target = (step.destination or step.source).value
        arrows.setdefault((step.source.value, target), []).append(step)
    for (source, target), taken in arrows.items():
        text = "\n".join(dict.fromkeys(t.gettext(labels.TRIGGERS[s.trigger]) for s in taken))
        colour = _ROLE_COLOURS[taken[0].role]
        graph.edge(source, target, label=text, color=colour, fontcolor=colour)
    svg = graph.pipe(format="svg", encoding="utf-8")
    # Drawn inside the page: the XML prolog, doctype and comments belong to a file, not to an element.
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    # Graphviz titles each shape by its id ("draft", "draft->submitted"): a browser shows them as tooltips, so they
    # are said in the page's language, as the shapes' own labels are.
    names = {state.value: str(t.gettext(labels.STATES[state.value])) for state in DossierState}
    names[graph.name or ""] = str(t.gettext("The dossier workflow, version %(version)s")) % {"version": version}

    def titled(match: re.Match[str]) -> str:
        ends = html.unescape(match.group(1)).split("->")
        said = " → ".join(names.get(end, end) for end in ends)
        return f"<title>{html.escape(said, quote=False)}</title>"

    svg = re.sub(r"<title>(.*?)</title>", titled, svg)
    return svg


def register(app: FastAPI, site: Site) -> None:
    @app.get("/workflow")
    def workflow_page(request: Request, version: str = "") -> Response:
        """The dossier workflow: its diagram and its transitions with who may fire each."""
        visit = _signed_in(request)
        number = CURRENT_VERSION
        if version:
            if not (version.isascii() and version.isdigit() and len(version) < 6) or int(version) not in SPECS:
                raise NotFound(N_("no workflow version '%(version)s'; known: %(known)s"), version=version[:20],
                               known=", ".join(map(str, sorted(SPECS))))
            number = int(version)
        svg = diagram(number, visit.locale)
        caption = visit.gettext("The dossier workflow, version %(version)s") % {"version": number}
        if svg is not None:
            svg = svg.replace("<svg ", '<svg role="img" aria-labelledby="diagram-caption" ', 1)
        return site.render(
            request, "workflow.html",
            {
                "version": number, "versions": sorted(SPECS), "svg": Markup(svg) if svg else None, "caption": caption,
                "steps": steps(SPECS[number]), "scopes": SCOPES, "roles": [r for r in Role if r in _fired(number)],
            },
        )


def _fired(version: int) -> set[Role]:
    return {rule.role for rule in SPECS[version].rules.values()}
