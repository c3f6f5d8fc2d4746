"""The read models' SQLite database, as the app opens it."""

from __future__ import annotations

from pathlib import Path

from projections.store import make_engine
from web.readside import open_read_side
from web.server import accounts_url
from workflow.bootstrap import build_engine


def test_the_read_models_on_sqlite_free_a_dropped_generation_without_writing_it_over_but_accounts_delete_securely(
    tmp_path: Path,
) -> None:
    # Debian's SQLite writes zeros over every page a DROP TABLE frees: seconds per gigabyte at each rebuild, for rows
    # the event log holds anyway. The accounts' database (sessions, password hashes) keeps the library's default.
    engine = build_engine(database_url=None, data_dir=tmp_path)
    side = open_read_side(engine, database_url=None, data_dir=tmp_path)
    accounts = make_engine(accounts_url(None, tmp_path))
    with side.store.engine.connect() as conn, accounts.connect() as other, make_engine("sqlite://").connect() as plain:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 2  # FAST
        assert other.exec_driver_sql("PRAGMA secure_delete").scalar() == plain.exec_driver_sql(
            "PRAGMA secure_delete"
        ).scalar()
