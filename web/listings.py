"""Plain-text views of the read models for the command line: every listing reads them, none scans the log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from uuid import UUID

from domain.values import DossierState
from projections.models import access, audit, dossiers, statistics, units
from projections.store import ReadModelStore
from web.report import escaped_lines
from workflow.clock import VIETNAM


def _when(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M")


# What a listing prints when not told how much: enough to see the shape, never a national hierarchy at once.
DEFAULT_LIMIT = 200


@escaped_lines
def status_lines(
    store: ReadModelStore,
    year: int | None,
    *,
    unit: units.UnitRow | None = None,
    states: list[DossierState] | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> Iterator[str]:
    """Per period: its dossiers counted (by state, decided, four-good), then its dossiers by unit code, `limit` at
    most, then how many more there are and how to see them. With `unit`: the figures and dossiers of that unit and
    everything below it; with `states`: only the dossiers in those states are listed. Lines come as rows are read."""
    for period_year, period in sorted(dossiers.periods(store).items()):
        if year is not None and period_year != year:
            continue
        state = "closed" if period["closed_at"] is not None else "open"
        rules = f"rule set {period['rule_set_id']} v{period['rule_set_version']}"
        # A unit's own dossier and everything below it; with no unit, below every top-level unit and their own.
        tops = [row.unit_id for row in units.top_level_units(store)] if unit is None else [unit.unit_id]
        summary = statistics.period_totals(store, period_year, tops)
        total, by_state, decided, four_good = summary.dossiers, summary.by_state, summary.by_level, summary.four_good
        where = "" if unit is None else f" for {unit.name} [{unit.code}] and below"
        yield f"== {period_year} ({state}), {rules}{where}: {total} dossiers"
        yield "   by state: " + (", ".join(f"{k} {v}" for k, v in sorted(by_state.items()) if v) or "none yet")
        if any(decided.values()):
            yield "   decided: " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items()) if v)
            yield f"   four-good recognized: {four_good}"
        below = unit.unit_id if unit is not None else None
        if states is None:
            listed = total
        else:
            # The figures above count them already: no count over the period's dossiers.
            listed = sum(by_state.get(s.value, 0) for s in states)
            yield f"   in {', '.join(s.value for s in states)}: {listed}"
        shown = 0
        for row in dossiers.iter_dossiers(store, period_year, unit_below=below, states=states, limit=limit):
            shown += 1
            level = f" -> {row.final_level}" if row.final_level is not None else ""
            four = " (four-good)" if row.four_good else ""
            yield f"   {row.unit_name or row.unit_code:<60} [{row.unit_code}] {row.state:<22}{level}{four}"
        if listed > shown:
            yield (
                f"   … and {listed - shown:,} more (--limit N or --all for more; --unit CODE or --state STATE for a "
                f"part; `dossierflow stats {period_year} --unit CODE` for the figures below a unit)"
            )


def _kinds(by_kind: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(by_kind.items(), key=lambda item: (-item[1], item[0])))


@escaped_lines
def unit_lines(
    store: ReadModelStore, day: date, *, under: str | None = None, depth: int | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> Iterator[str]:
    """A summary line (how many units, by kind), then the tree depth-first, `limit` rows at most, then how many
    more there are and how to see them. Lines come as rows are read. Nothing at all when `under` names no unit
    active on `day` (the caller says so)."""
    listing = units.listing_as_of(store, day, under=under, max_depth=depth, limit=limit)
    if listing is None or not listing.total:
        return
    where = f" under {under} (itself included)" if under is not None else ""
    levels = f", {depth} level{'s' * (depth != 1)} down" if depth is not None else ""
    yield f"Units on {day}{where}{levels}: {listing.total:,} ({_kinds(listing.by_kind)})"
    shown = 0
    for row in listing.rows:
        shown += 1
        yield f"{'  ' * row.depth}{row.name}  [{row.code}, {row.kind}]"
    if listing.total > shown:
        yield (
            f"… and {listing.total - shown:,} more (--limit N or --all for more; --unit CODE or --depth N for a "
            "part)"
        )


def top_units(store: ReadModelStore) -> list[units.UnitRow]:
    return units.top_level_units(store)


@escaped_lines
def stats_lines(store: ReadModelStore, unit: units.UnitRow, year: int) -> Iterator[str]:
    figures = statistics.statistics(store, unit.unit_id, year)
    yield f"== {unit.name} [{unit.code}], {year}: {figures.dossiers} dossiers below"
    yield "   by state: " + (", ".join(f"{k} {v}" for k, v in sorted(figures.by_state.items()) if v) or "none")
    yield "   decided: " + (", ".join(f"{k} {v}" for k, v in sorted(figures.by_level.items()) if v) or "none yet")
    share = figures.four_good_share
    shown = f" ({share:.0%} of {figures.cells} cells)" if share is not None else ""
    yield f"   four-good cells: {figures.four_good_cells}{shown}; four-good committees: {figures.four_good_committees}"
    yield f"   cells taking part in the four-good model: {figures.pilot_cells}"
    for target in figures.targets:
        mark = "met" if target.met else "NOT met"
        yield f"   target {target.name}: {target.figure} of {target.of} (wanted {target.wanted}): {mark}"
    below = figures.committees_below
    if below.committees:
        yield (
            f"   committees below with cells evaluated: {below.committees}; meeting the pilot target "
            f"{below.pilot_met}, the model-cell target {below.model_met}, 100% good or better {below.all_good_met}"
        )
    for meter in statistics.quota_meters(store, unit.unit_id, year):
        cap = "no cap" if meter.allowed is None else f"allowed {meter.allowed}"
        over = "  OVER THE CAP" if meter.over else ""
        yield (
            f"   quota, group {meter.group}: {meter.excellent} excellent among {meter.good_or_better} "
            f"good or better, {cap}{over}"
        )


@escaped_lines
def audit_lines(rows: list[audit.AuditRow]) -> Iterator[str]:
    for row in rows:
        who = row.person_name or (str(row.person_id) if row.person_id else "system")
        role = f" as {row.role}" if row.role else ""
        behalf = f" on behalf of {row.on_behalf_of_name or row.on_behalf_of}" if row.on_behalf_of else ""
        moved = f" {row.from_state} -> {row.to_state}" if row.to_state and row.from_state != row.to_state else ""
        level = f" level {row.level}" if row.level else ""
        yield f"#{row.position} {_when(row.recorded_at)} {who}{role}{behalf}: {row.label}{moved}{level}"
        subject = f"{row.aggregate_kind} {row.aggregate_id} v{row.aggregate_version}"
        if row.year is not None:
            subject += f", {row.year}"
        yield f"    on {subject}; grant {row.grant_id or '-'}; chain {row.chain_hash or '-'}"
        if row.reason:
            yield f"    why: {row.reason}"
        if row.changes:
            for key, value in row.changes.items():
                yield from _change_lines(key, value)


def _change_lines(key: str, value: object) -> Iterator[str]:
    # Answers and facts come as {criterion: {before, after}}: one line each, as a reader compares them.
    if isinstance(value, dict) and value and all(
        isinstance(v, dict) and set(v) == {"before", "after"} for v in value.values()
    ):
        for item, change in value.items():
            yield f"    changed {key}.{item}: {_plain(change['before'])} -> {_plain(change['after'])}"
        return
    yield f"    changed {key}: {_plain(value)}"


def _plain(value: object) -> str:
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if v not in (None, {}, [], "")}
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in shown.items()) + "}"
    return "-" if value is None else str(value)


@escaped_lines
def could_act_lines(found: list[access.CouldAct], names: dict[UUID, str]) -> Iterator[str]:
    for person in found:
        behalf = ""
        if person.on_behalf_of is not None:
            holder = names.get(person.on_behalf_of, str(person.on_behalf_of))
            behalf = f" on behalf of {holder} (delegation {person.delegation_id})"
        unit = names.get(person.unit_id, str(person.unit_id))
        could = f": {', '.join(person.triggers)}" if person.triggers else ""
        yield (
            f"{person.full_name} ({person.username}) as {person.role.value} over {unit}{behalf}, "
            f"grant {person.grant_id}{could}"
        )
