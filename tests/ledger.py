"""A small aggregate and application for the store's own tests: the chain, signatures and tampering."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder

from workflow.store import register_transcodings

# What save_ledgers writes.
EVENTS = 10


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title
        self.total = Decimal(0)

    @event("Entered")
    def enter(self, amount: Decimal) -> None:
        self.total += amount


class LedgerApp(Application[UUID]):
    name = "dossierflow"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        register_transcodings(transcoder)


def save_ledgers(application: LedgerApp) -> None:
    """Events 1..4 in four commits (batches of one), events 5..10 in one commit (a batch of six)."""
    first = Ledger("first")
    application.save(first)
    for amount in ("100.00", "200.00", "300.00"):
        first.enter(Decimal(amount))
        application.save(first)
    second = Ledger("second")
    for amount in ("1.00", "2.00", "3.00", "4.00", "5.00"):
        second.enter(Decimal(amount))
    application.save(second)
