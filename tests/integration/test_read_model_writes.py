"""A page's bulk writes (SQLite's executemany, PostgreSQL's COPY, upserts and updates through the driver) store
exactly what SQLAlchemy's own statements store, value for value, for every column type the read models use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from projections.core import Page, Row, insert_rows, insert_values
from projections.store import make_engine


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("k", Uuid, primary_key=True),
        Column("n", Integer, primary_key=True),
        Column("body", Text, nullable=True),
        Column("short", String(40), nullable=True),
        Column("flag", Boolean, nullable=True),
        Column("big", BigInteger, nullable=True),
        Column("ratio", Float, nullable=True),
        Column("day", Date, nullable=True),
        Column("at", DateTime(timezone=True), nullable=True),
        Column("ref", Uuid, nullable=True),
    )


def _rows() -> list[Row]:
    # What COPY's text format must escape, and what each driver converts: tabs, line feeds, backslashes, "\N" (COPY's
    # NULL), quotes, letters beyond ASCII, an offset other than UTC, the edges of the integer types.
    tricky = ["tab\there", "line\nfeed", "back\\slash", "\\N", "'quoted' \"twice\"", "Đảng bộ xã Kim Tân", "", "€"]
    rows: list[Row] = []
    for n, body in enumerate(tricky):
        rows.append(
            {
                "k": UUID(int=n + 1),
                "n": n,
                "body": body,
                "short": body[:40] or None,
                "flag": n % 3 == 0 if n % 4 else None,
                "big": 2**40 + n if n % 2 else -(2**62),
                "ratio": 0.1 * n if n % 5 else None,
                "day": date(2024, 1, 1) + timedelta(days=n * 40),
                "at": datetime(2024, 7, 1, 8, 30, n, 123456, tzinfo=timezone(timedelta(hours=7))) if n % 6 else None,
                "ref": uuid4() if n % 2 else None,
            }
        )
    rows.append({"k": UUID(int=99), "n": 0, "body": None, "short": None, "flag": False, "big": None, "ratio": None,
                 "day": None, "at": datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "ref": None})
    return rows


def _dump(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.k, table.c.n))]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url").replace("postgresql://", "postgresql+psycopg://", 1)
    found = make_engine(url)
    yield found
    found.dispose()


def test_bulk_inserts_updates_and_upserts_store_what_sqlalchemy_stores(engine: Engine) -> None:
    metadata = MetaData()
    ours, theirs = _table(metadata, "ours"), _table(metadata, "theirs")
    metadata.create_all(engine)
    rows = _rows()
    with engine.begin() as conn:
        insert_rows(conn, ours, [dict(r) for r in rows])
        conn.execute(insert(theirs), rows)
    assert _dump(engine, ours) == _dump(engine, theirs)
    assert len(_dump(engine, ours)) == len(rows)

    # Rows read then changed (updates of the changed columns), and rows put unread (upserts), one new.
    changed = {"body": "after\tthe\\change", "flag": True, "at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}
    replaced = {**rows[1], "short": "put whole", "ratio": 2.5, "day": date(2030, 5, 6)}
    added = {**rows[2], "k": UUID(int=500), "body": "new\nrow"}
    with engine.begin() as conn:
        page = Page(conn, {"t": ours})
        keyed = page.rows("t")
        keyed.load([(rows[0]["k"], rows[0]["n"]), (rows[3]["k"], rows[3]["n"])])
        keyed.update(rows[0]["k"], rows[0]["n"], **changed)
        keyed.update(rows[3]["k"], rows[3]["n"], ratio=None, ref=rows[1]["ref"])
        keyed.put(dict(replaced))
        keyed.put(dict(added))
        page.flush(final=True)
        conn.execute(update(theirs).where(theirs.c.k == rows[0]["k"], theirs.c.n == rows[0]["n"]).values(changed))
        conn.execute(
            update(theirs).where(theirs.c.k == rows[3]["k"], theirs.c.n == rows[3]["n"]).values(
                ratio=None, ref=rows[1]["ref"]
            )
        )
        conn.execute(delete(theirs).where(theirs.c.k == replaced["k"], theirs.c.n == replaced["n"]))
        conn.execute(insert(theirs), [replaced, added])
    assert _dump(engine, ours) == _dump(engine, theirs)
    assert len(_dump(engine, ours)) == len(rows) + 1


def test_rows_appended_as_values_in_column_order_store_what_sqlalchemy_stores(engine: Engine) -> None:
    metadata = MetaData()
    ours, theirs, single = _table(metadata, "ours"), _table(metadata, "theirs"), _table(metadata, "single")
    metadata.create_all(engine)
    rows = _rows()
    columns = tuple(reversed([c.name for c in ours.columns]))
    with engine.begin() as conn:
        page = Page(conn, {"t": ours, "one": single})
        page.append_values("t", columns, [tuple(r[c] for c in columns) for r in rows[:3]])
        page.append_values("t", columns, [tuple(r[c] for c in columns) for r in rows[3:]])
        # One row alone takes the driver's single statement, not COPY or executemany.
        page.append_values("one", columns, [tuple(rows[4][c] for c in columns)])
        page.flush(final=True)
        conn.execute(insert(theirs), rows)
    assert _dump(engine, ours) == _dump(engine, theirs)
    assert _dump(engine, single) == [r for r in _dump(engine, theirs) if r[:2] == (rows[4]["k"], rows[4]["n"])]


def test_values_for_a_table_with_a_default_only_sqlalchemy_computes_are_inserted_by_sqlalchemy(engine: Engine) -> None:
    metadata = MetaData()
    table = Table(
        "defaulted", metadata, Column("k", Integer, primary_key=True), Column("v", String(20), default="computed")
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        insert_values(conn, table, ("k",), [(1,), (2,)])
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(table).order_by(table.c.k))] == [(1, "computed"), (2, "computed")]


def test_a_bulk_insert_the_database_refuses_raises_as_sqlalchemy_does(engine: Engine) -> None:
    metadata = MetaData()
    ours = _table(metadata, "ours")
    metadata.create_all(engine)
    row = _rows()[0]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_rows(conn, ours, [dict(row), dict(row)])
    # Rolled back whole: nothing of the refused page stays.
    assert _dump(engine, ours) == []


def _counts(metadata: MetaData, name: str) -> Table:
    return Table(
        name, metadata, Column("k", String(40), primary_key=True), Column("a", Integer), Column("b", Integer)
    )


def test_statements_kept_with_a_table_write_that_table_only_page_after_page(engine: Engine) -> None:
    # The counters' upsert and delete, a row's delete and a single row's read are built once per table and kept with
    # it: two tables of one shape (a read model's live generation and the one being rebuilt) must each get their own,
    # and a later page must read what the earlier one wrote, not what the statement saw when it was built.
    metadata = MetaData()
    first, second = _counts(metadata, "counts_1"), _counts(metadata, "counts_2")
    metadata.create_all(engine)

    def page_of(conn: Any) -> Page:
        return Page(conn, {"first": first, "second": second})

    def dump(table: Table) -> dict[str, tuple[int, int]]:
        with engine.connect() as conn:
            return {r.k: (r.a, r.b) for r in conn.execute(select(table))}

    with engine.begin() as conn:
        page = page_of(conn)
        page.counters("first").add(("x",), a=2, b=1)
        page.counters("first").add(("y",), a=1)
        page.counters("second").add(("x",), a=5)
        page.flush(final=True)
    assert dump(first) == {"x": (2, 1), "y": (1, 0)}
    assert dump(second) == {"x": (5, 0)}

    with engine.begin() as conn:
        page = page_of(conn)
        # Back to zero in the first table only: its row goes, the second table's row of the same key stays.
        page.counters("first").add(("x",), a=-2, b=-1)
        page.counters("second").add(("x",), a=-1)
        page.flush(final=True)
    assert dump(first) == {"y": (1, 0)}
    assert dump(second) == {"x": (4, 0)}

    with engine.begin() as conn:
        page = page_of(conn)
        page.rows("first").load([("y",)])
        page.rows("second").load([("x",)])
        assert page.rows("first").get("y") == {"k": "y", "a": 1, "b": 0}
        assert page.rows("second").get("x") == {"k": "x", "a": 4, "b": 0}
        page.rows("first").load([("x",)])
        assert page.rows("first").get("x") is None
        page.rows("second").update("x", b=7)
        page.rows("first").delete("y")
        page.flush(final=True)
    assert dump(first) == {}
    assert dump(second) == {"x": (4, 7)}

    with engine.begin() as conn:
        page = page_of(conn)
        page.rows("second").load([("x",)])
        assert page.rows("second").get("x") == {"k": "x", "a": 4, "b": 7}
        page.rows("second").delete("x")
        page.flush(final=True)
    assert dump(second) == {}


def test_a_row_read_by_its_key_is_what_sqlalchemy_reads(engine: Engine) -> None:
    # On SQLite a single row is read through the driver, each value converted by its column's type: every type the
    # read models use must come back as SQLAlchemy's own select gives it, and a missing key as None.
    metadata = MetaData()
    ours = _table(metadata, "ours")
    metadata.create_all(engine)
    rows = _rows()
    with engine.begin() as conn:
        conn.execute(insert(ours), rows)
    with engine.connect() as conn:
        expected = {(r.k, r.n): dict(r._mapping) for r in conn.execute(select(ours))}
        page = Page(conn, {"t": ours})
        keyed = page.rows("t")
        for row in rows:
            found = keyed.get(row["k"], row["n"])
            assert found == expected[(row["k"], row["n"])]
            assert found is not None
            assert [type(v) for v in found.values()] == [type(v) for v in expected[(row["k"], row["n"])].values()]
        assert keyed.get(UUID(int=12345), 0) is None
