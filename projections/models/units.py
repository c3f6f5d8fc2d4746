"""The hierarchy of units, as of any date, and the current hierarchy as a closure table.

Three tables:

- `units`: one row per unit with what never changes (code, kind, group, date of establishment) and its latest
  recorded version (name, parent, dissolution);
- `unit_versions`: the dated versions, as `Unit.timeline` holds them (a change effective on the same day as the
  previous one replaces it), so that the hierarchy on any day is one query;
- `unit_closure`: every (unit, ancestor, depth) of the *current* hierarchy, the unit itself at depth 0, so that
  "everything below X" is one indexed join. A move rewrites the rows of the moved subtree; moves are rare, so that is
  done with two set-wise statements rather than through the page's buffers.

"Current" means the latest recorded version: a move recorded in advance (effective next month) already counts in
the closure. Questions about a past (or future) day go through `unit_versions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from domain.text import case_key, search_words
from domain.unit import Unit
from projections.core import LoggedEvent, Page, Projection
from projections.store import ReadModelStore

_UNIT: Any = Unit
WORD_LENGTH = 100  # a word is kept (and searched) up to this many characters
REGISTERED, RENAMED, MOVED, DISSOLVED = _UNIT.Registered, _UNIT.Renamed, _UNIT.Moved, _UNIT.Dissolved


class UnitsProjection(Projection):
    name: ClassVar[str] = "units"
    # Seconds on the bench's 899,308-event SQLite log (see Projection.rebuild_cost): its pages and indexes in a
    # one-process rebuild (bench/issue6_figures.py --no-helper), and decoding the events it reads (the log's
    # read_wanted, scaled to the decoding inside a rebuild, which pauses the garbage collector).
    rebuild_cost = 17.0
    rebuild_reads = 0.5
    handles: ClassVar[tuple[type, ...]] = (REGISTERED, RENAMED, MOVED, DISSOLVED)

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        units = Table(
            f"units{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("code", String(100), nullable=False),
            Column("name", Text, nullable=False),
            Column("kind", String(40), nullable=False),
            Column("grp", Text, nullable=False),
            Column("parent_id", Uuid, nullable=True),
            Column("established_on", Date, nullable=False),
            Column("dissolved_on", Date, nullable=True),
            Column("active", Boolean, nullable=False),
            # The day the latest version took effect: the hierarchy of a day at or after every unit's latest change is
            # the current one, read from this table alone.
            Column("changed_on", Date, nullable=False),
            # Where its registration stands in the log: the order of units of the same name, as the engine lists them.
            Column("position", BigInteger, nullable=False),
            # Where it stands in the current hierarchy listed depth-first, siblings by name then registration: its
            # ancestors' keys and its own, end to end (see `_segment`). Compared byte by byte (PostgreSQL: "C"), as
            # Python compares the names, so that `ORDER BY sort_path` is the listing, with no sort in Python.
            Column("sort_path", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
            Index(f"ix_units{suffix}_code", "code", unique=True),
            Index(f"ix_units{suffix}_parent", "parent_id"),
            # Today's listing read from the index alone, in its order (at 250,000 units, looking up each row of an
            # index on the path alone took three times as long as reading the whole table).
            Index(
                f"ix_units{suffix}_listing", "sort_path", "established_on", "active", "unit_id", "code", "kind", "name",
                "parent_id",
            ),
            # The latest change of all (is today the current hierarchy?) without reading every row.
            Index(f"ix_units{suffix}_changed", "changed_on"),
        )
        versions = Table(
            f"unit_versions{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("effective_from", Date, primary_key=True),
            Column("name", Text, nullable=False),
            Column("parent_id", Uuid, nullable=True),
            Column("active", Boolean, nullable=False),
        )
        closure = Table(
            f"unit_closure{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("ancestor_id", Uuid, primary_key=True),
            Column("depth", Integer, nullable=False),
            # "Everything below X": by ancestor, then depth (depth 1 is "directly below").
            Index(f"ix_unit_closure{suffix}_ancestor", "ancestor_id", "depth", "unit_id"),
        )
        words = Table(
            f"unit_words{suffix}",
            metadata,
            # The folded words of every name a unit has borne and of its code: a search by name reads the units whose
            # words begin with the words typed, from this index, never every unit. Compared byte by byte (the
            # ranges of a prefix), as SQLite does.
            Column("word", String(100).with_variant(String(100, collation="C"), "postgresql"), primary_key=True),
            Column("unit_id", Uuid, primary_key=True),
            # A unit's words, for the other words of a search once the rarest has picked the units.
            Index(f"ix_unit_words{suffix}_unit", "unit_id", "word"),
        )
        return {"units": units, "unit_versions": versions, "unit_closure": closure, "unit_words": words}

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        uid = logged.originator_id
        units = page.rows("units")
        if isinstance(event, REGISTERED):
            units.put(
                {
                    "unit_id": uid,
                    "code": event.code,
                    "name": event.name,
                    "kind": event.kind.value,
                    "grp": event.group or event.kind.value,
                    "parent_id": event.parent_id,
                    "established_on": event.established_on,
                    "dissolved_on": None,
                    "active": True,
                    "changed_on": event.established_on,
                    "position": logged.position,
                    "sort_path": _path_below(page, event.parent_id) + _segment(event.name, logged.position),
                }
            )
            self._version(page, uid, event.established_on, event.name, event.parent_id, True)
            _words(page, uid, event.name, event.code)
            page.append("unit_closure", {"unit_id": uid, "ancestor_id": uid, "depth": 0})
            for depth, ancestor in enumerate(_ancestors(page, event.parent_id), start=1):
                page.append("unit_closure", {"unit_id": uid, "ancestor_id": ancestor, "depth": depth})
            return
        row = units.get(uid)
        if row is None:
            raise LookupError(f"unit {uid} changed before it was registered")
        day: date = event.effective_from
        if isinstance(event, RENAMED):
            old_path = row["sort_path"]
            new_path = _path_below(page, row["parent_id"]) + _segment(event.name, row["position"])
            units.update(uid, name=event.name, changed_on=day, sort_path=new_path)
            self._version(page, uid, day, event.name, row["parent_id"], row["active"])
            _words(page, uid, event.name)
            _repath_subtree(page, uid, old_path, new_path)
        elif isinstance(event, MOVED):
            old_path = row["sort_path"]
            new_path = _path_below(page, event.parent_id) + _segment(row["name"], row["position"])
            units.update(uid, parent_id=event.parent_id, changed_on=day, sort_path=new_path)
            self._version(page, uid, day, row["name"], event.parent_id, row["active"])
            _move_subtree(page, uid, event.parent_id)
            _repath_subtree(page, uid, old_path, new_path)
        elif isinstance(event, DISSOLVED):
            units.update(uid, active=False, dissolved_on=day, changed_on=day)
            self._version(page, uid, day, row["name"], row["parent_id"], False)

    @staticmethod
    def _version(page: Page, uid: UUID, day: date, name: str, parent_id: UUID | None, active: bool) -> None:
        # Keyed by (unit, day): a second change effective the same day replaces the version, as Unit._append does.
        page.rows("unit_versions").put(
            {"unit_id": uid, "effective_from": day, "name": name, "parent_id": parent_id, "active": active}
        )


def _words(page: Page, uid: UUID, *texts: str) -> None:
    # The words of an earlier name stay: the search of a day before a renaming finds the unit by the name it bore.
    words = page.rows("unit_words")
    for word in {w[:WORD_LENGTH] for text in texts for w in search_words(text)}:
        words.put({"word": word, "unit_id": uid})


# Characters that end a name's part of a path, below any a name holds (those few control characters are left out).
_NAME_END, _SEGMENT_END = "\x01", "\x02"
_CONTROL = {0: None, 1: None, 2: None}


def _segment(name: str, position: int) -> str:
    """A unit's own key in a sort path. The name ends with a character below any other, so that a name sorts before
    the longer names it begins (as Python compares strings); the registration's position, zero-padded, then orders
    namesakes; the segment's own end keeps every descendant between the unit and its next sibling."""
    return f"{name.translate(_CONTROL)}{_NAME_END}{position:020d}{_SEGMENT_END}"


def _path_below(page: Page, parent_id: UUID | None) -> str:
    if parent_id is None:
        return ""
    parent = page.rows("units").get(parent_id)
    return str(parent["sort_path"]) if parent is not None else ""


def _repath_subtree(page: Page, uid: UUID, old_path: str, new_path: str) -> None:
    """Give every unit below `uid` its new path: one set-wise statement (renames and moves are rare)."""
    if old_path == new_path:
        return
    page.flush()
    units, closure = page.tables["units"], page.tables["unit_closure"]
    below = select(closure.c.unit_id).where(closure.c.ancestor_id == uid, closure.c.depth > 0)
    page.conn.execute(
        update(units)
        .where(units.c.unit_id.in_(below))
        .values(sort_path=literal(new_path) + func.substr(units.c.sort_path, len(old_path) + 1))
    )
    # The page's copies of those rows hold their old paths.
    page.rows("units").forget()


def _ancestors(page: Page, parent_id: UUID | None) -> list[UUID]:
    """The current ancestors of a new unit, nearest first, by its parents' rows (hot in the page's buffer)."""
    found: list[UUID] = []
    units = page.rows("units")
    while parent_id is not None and parent_id not in found:
        found.append(parent_id)
        parent = units.get(parent_id)
        parent_id = parent["parent_id"] if parent is not None else None
    return found


def _move_subtree(page: Page, uid: UUID, new_parent: UUID) -> None:
    """Re-hang the closure rows of `uid`'s subtree under `new_parent`: two set-wise statements, whatever its size."""
    page.flush()
    closure = page.tables["unit_closure"]
    subtree = select(closure.c.unit_id).where(closure.c.ancestor_id == uid).scalar_subquery()
    old_ancestors = select(closure.c.ancestor_id).where(closure.c.unit_id == uid, closure.c.depth > 0)
    # Materialized before the delete: some databases refuse a subquery of the table a DELETE changes.
    above = [r[0] for r in page.conn.execute(old_ancestors)]
    if above:
        page.conn.execute(
            delete(closure).where(closure.c.unit_id.in_(subtree), closure.c.ancestor_id.in_(above))
        )
    below = closure.alias("below")
    target = closure.alias("target")
    page.conn.execute(
        insert(closure).from_select(
            ["unit_id", "ancestor_id", "depth"],
            # Every unit of the subtree under every ancestor of the new parent (itself included): a product, on purpose.
            select(below.c.unit_id, target.c.ancestor_id, below.c.depth + target.c.depth + 1)
            .select_from(below.join(target, true()))
            .where(below.c.ancestor_id == uid, target.c.unit_id == new_parent),
        )
    )


# --- queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    unit_id: UUID
    code: str
    name: str
    kind: str
    group: str
    parent_id: UUID | None
    established_on: date
    dissolved_on: date | None


class TreeRow(NamedTuple):
    """One line of the hierarchy on a day, in the order `dossierflow units` prints it. A named tuple: a national
    hierarchy makes 300,000 of them, and a frozen dataclass took several times longer to make."""

    depth: int
    code: str
    name: str
    kind: str
    parent_code: str | None


@dataclass(frozen=True)
class Descendant:
    unit_id: UUID
    code: str
    depth: int


def _unit_row(r: Any) -> UnitRow:
    return UnitRow(r.unit_id, r.code, r.name, r.kind, r.grp, r.parent_id, r.established_on, r.dissolved_on)


def unit_by_code(store: ReadModelStore, code: str) -> UnitRow | None:
    """The unit of this code, typed in any case (the engine refuses two codes that differ only so; of twins recorded
    before it did, the first registered). A code not found as typed is looked for among the units whose code has
    its longest folded word (an index read), compared by case key: SQL's lower() knows only ASCII on SQLite."""
    tables = store.live_tables(UnitsProjection.name)
    units, words = tables["units"], tables["unit_words"]
    typed = code.strip()
    with store.engine.connect() as conn:
        found = conn.execute(select(units).where(units.c.code == typed)).first()
        if found is not None:
            return _unit_row(found)
        longest = max((w[:WORD_LENGTH] for w in search_words(typed)), key=len, default=None)
        query = select(units).order_by(units.c.position)
        if longest is not None:
            query = query.join(words, words.c.unit_id == units.c.unit_id).where(words.c.word == longest)
        # A code of no letter or digit at all ("--") has no word to look up: every code is compared, a rare case.
        wanted = case_key(typed)
        twin = next((row for row in conn.execute(query) if case_key(row.code) == wanted), None)
    return _unit_row(twin) if twin is not None else None


def unit_row(store: ReadModelStore, unit_id: UUID) -> UnitRow | None:
    units = store.live_tables(UnitsProjection.name)["units"]
    with store.engine.connect() as conn:
        found = conn.execute(select(units).where(units.c.unit_id == unit_id)).first()
    return _unit_row(found) if found is not None else None


def hierarchy_as_of(store: ReadModelStore, day: date) -> list[TreeRow]:
    """Every unit active on `day`, depth-first from the top-level units, siblings by name (then by registration):
    the same rows, in the same order, as `Engine.hierarchy(day)`.

    Ids are read as text and never made into UUIDs: at 300,000 units that conversion alone cost seconds.
    """
    tables = store.live_tables(UnitsProjection.name)
    units, versions = tables["units"], tables["unit_versions"]
    uid, parent = cast(units.c.unit_id, String), cast(units.c.parent_id, String)
    with store.engine.connect() as conn:
        latest_change = conn.execute(select(func.max(units.c.changed_on))).scalar()
        if latest_change is None:
            return []
        if day >= latest_change:
            # Nothing changed after that day: the current versions are the day's (the common question, "today"),
            # read in the order of the listing. A unit whose parent is not listed is not either, as in the walk below.
            listing: list[TreeRow] = []
            listed: dict[str, tuple[int, str]] = {}
            current = (
                select(uid, units.c.code, units.c.kind, units.c.name, parent)
                .where(units.c.established_on <= day, units.c.active)
                .order_by(units.c.sort_path)
            )
            for key, code, kind, name, parent_key in conn.execute(current).all():
                if parent_key is None:
                    depth, parent_code = 0, None
                else:
                    above = listed.get(parent_key)
                    if above is None:
                        continue
                    depth, parent_code = above[0] + 1, above[1]
                listed[key] = (depth, code)
                listing.append(TreeRow(depth, code, name, kind, parent_code))
            return listing
        else:
            fixed = {
                r[0]: r[1:]
                for r in conn.execute(
                    select(uid, units.c.code, units.c.kind, units.c.position).where(units.c.established_on <= day)
                )
            }
            latest: dict[str, tuple[str, str | None, bool]] = {}
            ordered = select(
                cast(versions.c.unit_id, String), versions.c.name, cast(versions.c.parent_id, String),
                versions.c.active,
            ).where(versions.c.effective_from <= day).order_by(versions.c.unit_id, versions.c.effective_from)
            for v in conn.execute(ordered):
                latest[v[0]] = (v[1], v[2], v[3])  # the last one per unit wins
            rows: list[Any] = [
                (key, *fixed[key], name, parent_key)
                for key, (name, parent_key, active) in latest.items()
                if active and key in fixed
            ]
    by_parent: dict[str | None, list[tuple[str, int, str, str, str]]] = {}
    codes: dict[str, str] = {}
    for key, code, kind, position, name, parent_key in rows:
        codes[key] = code
        by_parent.setdefault(parent_key, []).append((name, position, key, code, kind))
    tree: list[TreeRow] = []
    # Iterative depth-first walk (a deep hierarchy must not hit the recursion limit). Each level is kept in reverse
    # order, so that taking the next sibling is a pop from the end.
    stack: list[tuple[str | None, int]] = [(None, 0)]
    pending = [_reverse_sorted(by_parent.get(None, []))]
    while pending:
        level = pending[-1]
        if not level:
            pending.pop()
            stack.pop()
            continue
        name, _, key, code, kind = level.pop()
        parent_key, depth = stack[-1]
        tree.append(TreeRow(depth, code, name, kind, codes[parent_key] if parent_key else None))
        children = by_parent.get(key)
        if children:
            stack.append((key, depth + 1))
            pending.append(_reverse_sorted(children))
    return tree


@dataclass(frozen=True)
class Listing:
    """A part of the hierarchy on a day, as `dossierflow units` prints it: how many units it holds (by kind), and
    its rows in the listing's order, read as they are printed (`rows` is a generator: at 250,000 units, nothing
    is built first). `shown_most` rows at most are yielded; `total - shown` are left out."""

    total: int
    by_kind: dict[str, int]
    rows: Iterator[TreeRow]


def listing_as_of(
    store: ReadModelStore, day: date, *, under: str | None = None, max_depth: int | None = None,
    limit: int | None = None,
) -> Listing | None:
    """The units active on `day`, depth-first as `hierarchy_as_of` lists them, kept to the subtree of the unit coded
    `under` (itself included; depths then count from it) and to `max_depth` levels below the top (0: the top only),
    at most `limit` rows. None when `under` names no unit active on that day.

    For a day at or after the latest change (today, the usual question) the rows are one range of the listing index,
    read lazily, and the count is a count over the same range: a page of a national hierarchy costs what the page
    costs. For an earlier day the whole hierarchy of that day is walked first (`hierarchy_as_of`), then cut.
    """
    tables = store.live_tables(UnitsProjection.name)
    units = tables["units"]
    with store.engine.connect() as conn:
        latest_change = conn.execute(select(func.max(units.c.changed_on))).scalar()
    if latest_change is None:
        return None if under is not None else Listing(0, {}, iter(()))
    if day < latest_change:
        return _cut_listing(hierarchy_as_of(store, day), under, max_depth, limit)
    conditions: list[Any] = [units.c.established_on <= day, units.c.active]
    base_depth = 0
    if under is not None:
        with store.engine.connect() as conn:
            top = conn.execute(
                select(units.c.sort_path, units.c.parent_id).where(
                    units.c.code == under, units.c.established_on <= day, units.c.active
                )
            ).first()
        if top is None:
            return None
        path = str(top.sort_path)
        base_depth = path.count(_SEGMENT_END) - 1
        # Every path beginning with the unit's own: from its path up to the same path with its last character one
        # higher (a segment's end is below any character a name holds).
        conditions += [units.c.sort_path >= path, units.c.sort_path < path[:-1] + chr(ord(_SEGMENT_END) + 1)]
    if max_depth is not None:
        segments = func.length(units.c.sort_path) - func.length(func.replace(units.c.sort_path, _SEGMENT_END, ""))
        conditions.append(segments <= base_depth + max_depth + 1)
    with store.engine.connect() as conn:
        by_kind = {
            str(kind): int(n)
            for kind, n in conn.execute(
                select(units.c.kind, func.count()).where(*conditions).group_by(units.c.kind)
            )
        }
    return Listing(
        sum(by_kind.values()), by_kind, _listed(store, units, conditions, under is not None, base_depth, limit)
    )


def _listed(
    store: ReadModelStore, units: Table, conditions: list[Any], rooted: bool, base_depth: int, limit: int | None
) -> Iterator[TreeRow]:
    """The rows of today's listing in its order, a unit whose parent is not listed left out (as in the walk)."""
    uid, parent = cast(units.c.unit_id, String), cast(units.c.parent_id, String)
    query = (
        select(uid, units.c.code, units.c.kind, units.c.name, parent, units.c.sort_path)
        .where(*conditions)
        .order_by(units.c.sort_path)
    )
    if limit is not None:
        # A few more than shown: some rows may be left out below a unit that is not listed.
        query = query.limit(limit + 100)
    listed: dict[str, tuple[int, str]] = {}
    shown = 0
    with store.engine.connect() as conn:
        result = conn.execution_options(yield_per=1000).execute(query)
        for key, code, kind, name, parent_key, path in result:
            if limit is not None and shown >= limit:
                break
            above = listed.get(parent_key) if parent_key is not None else None
            if above is not None:
                depth, parent_code = above[0] + 1, above[1]
            elif parent_key is None or (rooted and not listed):
                # A top-level unit, or the first row below --unit: the unit itself, at its own depth.
                depth, parent_code = str(path).count(_SEGMENT_END) - 1 - base_depth, None
                if parent_key is not None:
                    parent_code = _code_of(store, units, parent_key)
            else:
                continue
            listed[key] = (depth, code)
            shown += 1
            yield TreeRow(depth, code, name, kind, parent_code)
        result.close()


def _code_of(store: ReadModelStore, units: Table, key: str) -> str | None:
    with store.engine.connect() as conn:
        found = conn.execute(select(units.c.code).where(cast(units.c.unit_id, String) == key)).scalar()
    return None if found is None else str(found)


def _cut_listing(
    tree: list[TreeRow], under: str | None, max_depth: int | None, limit: int | None
) -> Listing | None:
    if under is not None:
        start = next((i for i, row in enumerate(tree) if row.code == under), None)
        if start is None:
            return None
        top = tree[start]
        end = next((i for i in range(start + 1, len(tree)) if tree[i].depth <= top.depth), len(tree))
        tree = [row._replace(depth=row.depth - top.depth) for row in tree[start:end]]
    if max_depth is not None:
        tree = [row for row in tree if row.depth <= max_depth]
    by_kind: dict[str, int] = {}
    for row in tree:
        by_kind[row.kind] = by_kind.get(row.kind, 0) + 1
    return Listing(len(tree), by_kind, iter(tree if limit is None else tree[:limit]))


def _reverse_sorted(siblings: list[tuple[str, int, str, str, str]]) -> list[tuple[str, int, str, str, str]]:
    # By name as Python compares strings (code points), then by registration: the engine's sort is stable over
    # the order of registration.
    return sorted(siblings, key=lambda t: (t[0], t[1]), reverse=True)


def descendants(store: ReadModelStore, unit_id: UUID, *, include_self: bool = False) -> list[Descendant]:
    """Every unit below `unit_id` in the current hierarchy, nearest first, then by code."""
    tables = store.live_tables(UnitsProjection.name)
    units, closure = tables["units"], tables["unit_closure"]
    query = (
        select(closure.c.unit_id, units.c.code, closure.c.depth)
        .join(units, units.c.unit_id == closure.c.unit_id)
        .where(closure.c.ancestor_id == unit_id, closure.c.depth >= (0 if include_self else 1))
        .order_by(closure.c.depth, units.c.code)
    )
    with store.engine.connect() as conn:
        return [Descendant(r.unit_id, r.code, r.depth) for r in conn.execute(query)]


def subtree_as_of(store: ReadModelStore, unit_id: UUID, day: date) -> list[tuple[UUID, str]] | None:
    """The unit and every unit below it as the hierarchy stood on `day` (dissolved ones too: their decisions stand),
    as (id, code) by code; None when nothing changed after that day, so that the current hierarchy, which is indexed,
    is the day's. A past day reads every unit's versions up to it once (a province's units are a few thousand)."""
    tables = store.live_tables(UnitsProjection.name)
    units, versions = tables["units"], tables["unit_versions"]
    with store.engine.connect() as conn:
        latest_change = conn.execute(select(func.max(units.c.changed_on))).scalar()
        if latest_change is None or day >= latest_change:
            return None
        parent_of: dict[UUID, UUID | None] = {}
        ordered = (
            select(versions.c.unit_id, versions.c.parent_id)
            .where(versions.c.effective_from <= day)
            .order_by(versions.c.unit_id, versions.c.effective_from)
        )
        for v in conn.execute(ordered):
            parent_of[v.unit_id] = v.parent_id  # the last one per unit wins
        below: dict[UUID | None, list[UUID]] = {}
        for uid, parent in parent_of.items():
            below.setdefault(parent, []).append(uid)
        found: list[UUID] = []
        pending = [unit_id] if unit_id in parent_of else []
        while pending:
            uid = pending.pop()
            found.append(uid)
            pending.extend(below.get(uid, ()))
        codes: dict[UUID, str] = {}
        for start in range(0, len(found), 500):
            chunk = found[start : start + 500]
            query = select(units.c.unit_id, units.c.code).where(units.c.unit_id.in_(chunk))
            codes.update({r.unit_id: r.code for r in conn.execute(query)})
    return sorted(codes.items(), key=lambda pair: pair[1])


@dataclass(frozen=True)
class Child:
    """A unit directly below another on a day, with its name and kind of that day."""

    unit_id: UUID
    code: str
    name: str
    kind: str


def children_as_of(store: ReadModelStore, parent_id: UUID, day: date) -> list[Child]:
    """The units directly below `parent_id` and active on `day`, in no particular order: one level of a tree that
    is expanded a node at a time (a province's whole hierarchy is too much to read for one page)."""
    tables = store.live_tables(UnitsProjection.name)
    units, versions = tables["units"], tables["unit_versions"]
    with store.engine.connect() as conn:
        latest_change = conn.execute(select(func.max(units.c.changed_on))).scalar()
        if latest_change is None:
            return []
        if day >= latest_change:
            # Nothing changed after that day: the current parents are the day's, and they are indexed.
            found = conn.execute(
                select(units.c.unit_id, units.c.code, units.c.name, units.c.kind).where(
                    units.c.parent_id == parent_id, units.c.established_on <= day, units.c.active
                )
            )
            return [Child(r.unit_id, r.code, r.name, r.kind) for r in found]
        # A past day: every unit that was ever below the parent by then, each at its version of that day.
        candidates = select(versions.c.unit_id).where(
            versions.c.parent_id == parent_id, versions.c.effective_from <= day
        )
        latest: dict[UUID, tuple[str, UUID | None, bool]] = {}
        ordered = (
            select(versions.c.unit_id, versions.c.name, versions.c.parent_id, versions.c.active)
            .where(versions.c.unit_id.in_(candidates), versions.c.effective_from <= day)
            .order_by(versions.c.unit_id, versions.c.effective_from)
        )
        for v in conn.execute(ordered):
            latest[v.unit_id] = (v.name, v.parent_id, v.active)  # the last one per unit wins
        below = [uid for uid, (_, parent, active) in latest.items() if parent == parent_id and active]
        fixed = {
            r.unit_id: (r.code, r.kind)
            for chunk in (below[i : i + 500] for i in range(0, len(below), 500))
            for r in conn.execute(
                select(units.c.unit_id, units.c.code, units.c.kind).where(units.c.unit_id.in_(chunk))
            )
        }
    return [Child(uid, fixed[uid][0], latest[uid][0], fixed[uid][1]) for uid in below if uid in fixed]


@dataclass(frozen=True)
class Named:
    """A unit active on a day, as a search reads it: ids as text (the database's own), its parent's likewise."""

    key: str
    code: str
    name: str
    kind: str
    parent_key: str | None


def active_units_as_of(store: ReadModelStore, day: date) -> list[Named]:
    """Every unit active on `day` with its name and parent of that day, in no order and without the tree's walk:
    what a search by name reads, walking up from the few units found. Ids stay text: making 300,000 of them into
    UUIDs costs more than the search."""
    tables = store.live_tables(UnitsProjection.name)
    units, versions = tables["units"], tables["unit_versions"]
    uid, parent = cast(units.c.unit_id, String), cast(units.c.parent_id, String)
    with store.engine.connect() as conn:
        latest_change = conn.execute(select(func.max(units.c.changed_on))).scalar()
        if latest_change is None:
            return []
        if day >= latest_change:
            query = select(uid, units.c.code, units.c.name, units.c.kind, parent).where(
                units.c.established_on <= day, units.c.active
            )
            return [Named(*r) for r in conn.execute(query)]
        fixed = {r[0]: (r[1], r[2]) for r in conn.execute(select(uid, units.c.code, units.c.kind))}
        latest: dict[str, tuple[str, str | None, bool]] = {}
        ordered = (
            select(
                cast(versions.c.unit_id, String), versions.c.name, cast(versions.c.parent_id, String),
                versions.c.active,
            )
            .where(versions.c.effective_from <= day)
            .order_by(versions.c.unit_id, versions.c.effective_from)
        )
        for v in conn.execute(ordered):
            latest[v[0]] = (v[1], v[2], v[3])  # the last one per unit wins
    return [
        Named(key, fixed[key][0], name, fixed[key][1], parent_key)
        for key, (name, parent_key, active) in latest.items()
        if active and key in fixed
    ]


def version_as_of(store: ReadModelStore, unit_id: UUID, day: date) -> tuple[str, UUID | None, bool] | None:
    """The unit's (name, parent, active) on `day`, or None before it existed."""
    versions = store.live_tables(UnitsProjection.name)["unit_versions"]
    with store.engine.connect() as conn:
        return _version_as_of(conn, versions, unit_id, day)


def _version_as_of(conn: Any, versions: Table, unit_id: UUID, day: date) -> tuple[str, UUID | None, bool] | None:
    found = conn.execute(
        select(versions.c.name, versions.c.parent_id, versions.c.active)
        .where(versions.c.unit_id == unit_id, versions.c.effective_from <= day)
        .order_by(versions.c.effective_from.desc())
        .limit(1)
    ).first()
    return None if found is None else (found.name, found.parent_id, found.active)


def ancestors_as_of(store: ReadModelStore, unit_id: UUID, day: date) -> list[UUID]:
    """The units above `unit_id` on `day`, nearest first, as `workflow.authorization.ancestors` finds them: one
    indexed lookup per level (a handful)."""
    versions = store.live_tables(UnitsProjection.name)["unit_versions"]
    found: list[UUID] = []
    with store.engine.connect() as conn:
        version = _version_as_of(conn, versions, unit_id, day)
        parent = version[1] if version else None
        while parent is not None and parent not in found:
            found.append(parent)
            version = _version_as_of(conn, versions, parent, day)
            parent = version[1] if version else None
    return found


def parent_as_of(store: ReadModelStore, unit_id: UUID, day: date) -> UUID | None:
    version = version_as_of(store, unit_id, day)
    return version[1] if version else None


def is_below(store: ReadModelStore, unit_id: UUID, ancestor_id: UUID) -> bool:
    closure = store.live_tables(UnitsProjection.name)["unit_closure"]
    with store.engine.connect() as conn:
        found = conn.execute(
            select(closure.c.depth).where(and_(closure.c.unit_id == unit_id, closure.c.ancestor_id == ancestor_id))
        ).first()
    return found is not None and int(found.depth) > 0


def unit_names(store: ReadModelStore, unit_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The current names of the units asked for, in one query per 500."""
    units = store.live_tables(UnitsProjection.name)["units"]
    wanted = list(set(unit_ids))
    found: dict[UUID, str] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(units.c.unit_id, units.c.name).where(units.c.unit_id.in_(chunk))
            found.update({r.unit_id: r.name for r in conn.execute(query)})
    return found


def names_as_of(store: ReadModelStore, unit_ids: Iterable[UUID], day: date) -> dict[UUID, str]:
    """The names the units asked for bore on `day` (a unit registered later is left out), one query per 500."""
    versions = store.live_tables(UnitsProjection.name)["unit_versions"]
    wanted = list(set(unit_ids))
    found: dict[UUID, str] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            latest = (
                select(versions.c.unit_id, func.max(versions.c.effective_from).label("since"))
                .where(versions.c.unit_id.in_(chunk), versions.c.effective_from <= day)
                .group_by(versions.c.unit_id)
                .subquery()
            )
            query = select(versions.c.unit_id, versions.c.name).join(
                latest, and_(versions.c.unit_id == latest.c.unit_id, versions.c.effective_from == latest.c.since)
            )
            found.update({r.unit_id: r.name for r in conn.execute(query)})
    return found


def top_level_units(store: ReadModelStore) -> list[UnitRow]:
    """The units with no unit above them now, by code."""
    table = store.live_tables(UnitsProjection.name)["units"]
    with store.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.parent_id.is_(None)).order_by(table.c.code))
        return [_unit_row(r) for r in found]


@dataclass(frozen=True)
class Found:
    """A unit a search by name found, as it stood on the day asked about, with the units above it then."""

    unit_id: UUID
    code: str
    name: str
    kind: str
    path: tuple[tuple[UUID, str], ...]  # (id, name) of each unit above it, the top first


def search_units(store: ReadModelStore, text: str, day: date, *, most: int) -> list[Found] | None:
    """The units active on `day` whose name of that day or code has, for every word of `text`, a word it begins
    ("kim tan" finds "Đảng bộ phường Kim Tân"), in no order; None when more than `most` units have words that begin
    so (too broad to read: the caller asks for more words).

    Read from the index of words: the rarest word typed picks the units, the others are checked on each unit's own
    words, and only those units and the units above them are read, never all of them."""
    wanted = sorted({w[:WORD_LENGTH] for w in search_words(text)})
    if not wanted:
        return []
    tables = store.live_tables(UnitsProjection.name)
    words, versions, units = tables["unit_words"], tables["unit_versions"], tables["units"]
    with store.engine.connect() as conn:
        sizes = {}
        for word in wanted:
            # Counted further than `most`: "thôn" and "lạc" both pass it, and the rarer must lead.
            capped = select(words.c.unit_id).where(_begins(words.c.word, word)).limit(10 * most).subquery()
            sizes[word] = conn.execute(select(func.count()).select_from(capped)).scalar_one()
        lead = min(wanted, key=lambda w: (sizes[w], -len(w)))  # the longer of two as common: more of it to match
        first = words.alias("lead")
        query = select(first.c.unit_id).where(_begins(first.c.word, lead)).distinct()
        for n, word in enumerate(w for w in wanted if w != lead):
            other = words.alias(f"other_{n}")
            query = query.where(
                select(other.c.unit_id).where(other.c.unit_id == first.c.unit_id, _begins(other.c.word, word)).exists()
            )
        ids = [r[0] for r in conn.execute(query.limit(most + 1))]
        if len(ids) > most:
            return None
        own = _versions_of(conn, versions, ids, day)
        fixed: dict[UUID, tuple[str, str]] = {}
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            query = select(units.c.unit_id, units.c.code, units.c.kind).where(units.c.unit_id.in_(chunk))
            fixed.update({r.unit_id: (r.code, r.kind) for r in conn.execute(query)})
        # The units above them, a level at a time: a handful of queries, whatever the number found.
        known = dict(own)
        above = {v[1] for v in own.values() if v[1] is not None} - set(known)
        while above:
            found = _versions_of(conn, versions, list(above), day)
            known.update(found)
            above = {v[1] for v in found.values() if v[1] is not None} - set(known)
    results = []
    for uid in ids:
        version = own.get(uid)
        if version is None or not version[2] or uid not in fixed:
            continue
        name, parent, _ = version
        code, kind = fixed[uid]
        # A word of an earlier name picked it: the day's name (or the code) must have every word as well.
        have = search_words(name) + search_words(code)
        if not all(any(h.startswith(w) for h in have) for w in wanted):
            continue
        path: list[tuple[UUID, str]] = []
        while parent is not None and parent in known and known[parent][2] and len(path) < 100:
            path.append((parent, known[parent][0]))
            parent = known[parent][1]
        results.append(Found(uid, code, name, kind, tuple(reversed(path))))
    return results


def _begins(column: Any, word: str) -> Any:
    # A range of the index (the words that begin with `word`), where LIKE would need a case-sensitive collation.
    return and_(column >= word, column < word + "\U0010ffff")


def _versions_of(
    conn: Any, versions: Table, unit_ids: list[UUID], day: date
) -> dict[UUID, tuple[str, UUID | None, bool]]:
    """Each unit's (name, parent, active) on `day`, for those that existed then, one query per 500."""
    found: dict[UUID, tuple[str, UUID | None, bool]] = {}
    for chunk in (unit_ids[i : i + 500] for i in range(0, len(unit_ids), 500)):
        query = (
            select(versions.c.unit_id, versions.c.name, versions.c.parent_id, versions.c.active)
            .where(versions.c.unit_id.in_(chunk), versions.c.effective_from <= day)
            .order_by(versions.c.unit_id, versions.c.effective_from)
        )
        for r in conn.execute(query):
            found[r.unit_id] = (r.name, r.parent_id, r.active)  # the last one per unit wins
    return found
