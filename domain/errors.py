from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on; the message says what was wrong and changes nothing."""


class InvalidInput(DomainError):
    pass


class InvalidTransition(DomainError):
    pass


class ReasonRequired(DomainError):
    pass


class NotAuthorized(DomainError):
    pass


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class PeriodClosed(DomainError):
    pass


class QuotaExceeded(DomainError):
    pass


class OrderingViolation(DomainError):
    """A higher level decided before the levels below it."""


class ClassificationRefused(DomainError):
    """A decision above what the rules allow, or a lower one without a reason."""


class EvidenceRejected(DomainError):
    pass


class ConcurrencyConflict(DomainError):
    """Someone else changed the same record first; reload and retry on the new state."""


class RuleSetError(DomainError):
    """A rule set file that cannot be loaded or does not validate."""
