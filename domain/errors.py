from __future__ import annotations

from typing import Any

from domain.messages import Message


class DomainError(Exception):
    """A refusal the user can act on; the message says what was wrong and changes nothing.

    Raised with a template and its values, `InvalidInput(N_("%(what)s cannot be empty"), what=...)`, or with a
    ready Message: `str(error)` is the English sentence, `error.message` what a page renders in its reader's
    language.
    """

    def __init__(self, template: str | Message, /, **params: object) -> None:
        self.message = template if isinstance(template, Message) else Message(template, **params)
        super().__init__(str(self.message))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword values are not in `args`: rebuilt from the message, the error crosses a process boundary whole.
        return (_rebuild, (type(self), self.message))


def _rebuild(cls: type[DomainError], message: Message) -> DomainError:
    return cls(message)


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
