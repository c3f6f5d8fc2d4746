from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

from transitions import Machine
from transitions.extensions.diagrams import GraphMachine

from domain.errors import InvalidTransition
from domain.messages import N_, Message, Series, Term
from domain.values import DossierState as S
from domain.values import Role


class Scope(Enum):
    """Where the actor's role must be held, relative to the dossier's unit."""

    # Hashed by identity, as the domain's Enums are (domain/values.py says why).
    __hash__ = object.__hash__

    OWN_UNIT = "the unit itself"
    DIRECT_SUPERIOR = "the committee directly above the unit"
    ANY_SUPERIOR = "a committee above the unit"


@dataclass(frozen=True)
class TriggerRule:
    trigger: str
    label: str
    role: Role
    scope: Scope
    needs_reason: bool = False
    # A closed period locks its dossiers, except the legal path to cancel and re-classify a published decision:
    # the states from which this trigger may still fire once the period is closed.
    when_closed_from: frozenset[S] = frozenset()

    @property
    def term(self) -> Term:
        """The step as a refusal names it: its label, in the reader's language on a page."""
        return Term("trigger", self.trigger, self.label)

    @property
    def independent(self) -> bool:
        """Reviews and decisions: never by whoever submitted the dossier, nor on their behalf."""
        return self.role is not Role.SECRETARY


EDITING = [S.DRAFT, S.RETURNED_TO_UNIT]

# One row per trigger: who may fire it and where. The transitions below say from where to where.
RULES_V1 = (
    TriggerRule("record_answers", "Save answers", Role.SECRETARY, Scope.OWN_UNIT),
    TriggerRule("attach_evidence", "Attach evidence", Role.SECRETARY, Scope.OWN_UNIT),
    TriggerRule("submit", "Submit self-assessment", Role.SECRETARY, Scope.OWN_UNIT),
    TriggerRule("resubmit", "Resubmit", Role.SECRETARY, Scope.OWN_UNIT),
    TriggerRule("withdraw", "Withdraw draft", Role.SECRETARY, Scope.OWN_UNIT, needs_reason=True),
    TriggerRule("restore", "Restore draft", Role.SECRETARY, Scope.OWN_UNIT),
    TriggerRule("endorse", "Endorse with proposed level", Role.REVIEWER, Scope.DIRECT_SUPERIOR),
    TriggerRule("return_to_unit", "Return to unit", Role.REVIEWER, Scope.DIRECT_SUPERIOR, needs_reason=True),
    TriggerRule(
        "approve", "Decide classification", Role.APPROVER, Scope.ANY_SUPERIOR,
        when_closed_from=frozenset({S.REOPENED}),
    ),
    TriggerRule(
        "return_to_committee", "Return to committee", Role.APPROVER, Scope.ANY_SUPERIOR, needs_reason=True
    ),
    TriggerRule(
        "mark_not_rated", "Mark not rated", Role.APPROVER, Scope.ANY_SUPERIOR, needs_reason=True,
        when_closed_from=frozenset({S.REOPENED}),
    ),
    TriggerRule(
        "reopen", "Re-open for re-classification", Role.APPROVER, Scope.ANY_SUPERIOR, needs_reason=True,
        when_closed_from=frozenset({S.APPROVED, S.NOT_RATED}),
    ),
)

TRANSITIONS_V1: list[dict[str, Any]] = [
    {"trigger": "record_answers", "source": EDITING, "dest": None},
    {"trigger": "attach_evidence", "source": EDITING, "dest": None},
    {"trigger": "submit", "source": S.DRAFT, "dest": S.SUBMITTED},
    {"trigger": "resubmit", "source": S.RETURNED_TO_UNIT, "dest": S.SUBMITTED},
    {"trigger": "withdraw", "source": S.DRAFT, "dest": S.WITHDRAWN},
    {"trigger": "restore", "source": S.WITHDRAWN, "dest": S.DRAFT},
    {"trigger": "endorse", "source": [S.SUBMITTED, S.RETURNED_TO_COMMITTEE], "dest": S.ENDORSED},
    {"trigger": "return_to_unit", "source": [S.SUBMITTED, S.RETURNED_TO_COMMITTEE], "dest": S.RETURNED_TO_UNIT},
    {"trigger": "approve", "source": [S.ENDORSED, S.REOPENED], "dest": S.APPROVED},
    {"trigger": "return_to_committee", "source": [S.ENDORSED, S.REOPENED], "dest": S.RETURNED_TO_COMMITTEE},
    {"trigger": "mark_not_rated", "source": [S.SUBMITTED, S.ENDORSED, S.REOPENED], "dest": S.NOT_RATED},
    {"trigger": "reopen", "source": [S.APPROVED, S.NOT_RATED], "dest": S.REOPENED},
]


class WorkflowSpec:
    """A version of the dossier workflow: a `transitions` machine used only as a table, never as a model's engine."""

    def __init__(self, version: int, transitions: list[dict[str, Any]], rules: tuple[TriggerRule, ...]) -> None:
        self.version = version
        self._transitions = transitions
        self.rules = {r.trigger: r for r in rules}
        missing = {t["trigger"] for t in transitions} ^ set(self.rules)
        if missing:
            raise ValueError(f"workflow v{version}: triggers without both a transition and a rule: {sorted(missing)}")
        self.machine = Machine(
            model=None, states=S, transitions=transitions, initial=S.DRAFT, auto_transitions=False
        )

    def destination(self, state: S, trigger: str) -> S:
        if trigger not in self.rules:
            raise InvalidTransition(N_("unknown action '%(trigger)s'"), trigger=trigger)
        found = self.machine.get_transitions(trigger=trigger, source=state.name)
        if not found:
            possible = [Term("trigger", t, t) for t in self.triggers_from(state)]
            raise InvalidTransition(
                N_("'%(step)s' is not possible on a dossier that is %(state)s; possible now: %(allowed)s"),
                step=self.rules[trigger].term, state=state,
                allowed=Series(possible) if possible else Message(N_("none")),
            )
        dest = found[0].dest
        # An internal transition (dest None) edits the dossier without changing its state.
        return state if dest is None else S[dest]

    def triggers_from(self, state: S) -> list[str]:
        return [t for t in self.machine.get_triggers(state.name) if t in self.rules]

    def locked(self, state: S, trigger: str, period_closed: bool) -> bool:
        return period_closed and state not in self.rule(trigger).when_closed_from

    def rule(self, trigger: str) -> TriggerRule:
        try:
            return self.rules[trigger]
        except KeyError:
            raise InvalidTransition(N_("unknown action '%(trigger)s'"), trigger=trigger) from None

    def edges(self) -> list[tuple[S, str, S | None]]:
        """Every (from state, trigger, to state) of the machine, in the table's order; None: the state stays (an
        edit). What the diagram and the transitions table are drawn from, so they cannot drift from the engine."""
        return [
            (S[source], trigger, None if transition.dest is None else S[transition.dest])
            for trigger, event in self.machine.events.items()
            if trigger in self.rules
            for source, transitions in event.transitions.items()
            for transition in transitions
        ]

    @cached_property
    def mermaid(self) -> str:
        graph_machine = GraphMachine(
            model=None, states=S, transitions=self._transitions, initial=S.DRAFT,
            auto_transitions=False, graph_engine="mermaid",
        )
        graph = graph_machine.graph_cls(graph_machine).get_graph(title=f"Dossier workflow v{self.version}")
        return str(graph.draw(None))


SPECS = {1: WorkflowSpec(1, TRANSITIONS_V1, RULES_V1)}
CURRENT_VERSION = max(SPECS)


_SCOPE_NAMES = {Scope.OWN_UNIT: "own", Scope.DIRECT_SUPERIOR: "direct", Scope.ANY_SUPERIOR: "any"}


def waiting_rule_tuples(
    spec: WorkflowSpec,
) -> list[tuple[str, Role, str, frozenset[S], bool, frozenset[S]]]:
    """The spec as plain data for the read side, which may not import the workflow: per trigger (trigger, role,
    scope "own" | "direct" | "any", the states it fires from, independent, the states it still fires from once the
    period is closed)."""
    return [
        (
            rule.trigger,
            rule.role,
            _SCOPE_NAMES[rule.scope],
            frozenset(state for state in S if rule.trigger in spec.triggers_from(state)),
            rule.independent,
            rule.when_closed_from,
        )
        for rule in spec.rules.values()
    ]


class Workflow:
    """All workflow versions: a dossier keeps the version it was opened under."""

    def __init__(self) -> None:
        # The tables never change while running, and asking `transitions` walks its event and transition lists (a
        # few per cent of a command): each destination found is kept. A refusal is not kept, so it is explained anew.
        self._destinations: dict[tuple[int, S, str], S] = {}

    def destination(self, version: int, state: S, trigger: str) -> S:
        key = (version, state, trigger)
        found = self._destinations.get(key)
        if found is None:
            found = self._destinations[key] = spec_for(version).destination(state, trigger)
        return found


def spec_for(version: int) -> WorkflowSpec:
    try:
        return SPECS[version]
    except KeyError:
        raise InvalidTransition(
            N_("unknown workflow version %(version)s; known: %(known)s"), version=version, known=str(sorted(SPECS))
        ) from None
