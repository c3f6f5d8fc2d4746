"""Names shown for the engine's values (states, levels, roles, steps), as msgids for the catalogs.

`N_` only marks a string for extraction (babel.cfg lists it as a keyword); templates translate at render time.
"""

from __future__ import annotations

from domain.errors import (
    AlreadyExists,
    ClassificationRefused,
    ConcurrencyConflict,
    DomainError,
    EvidenceRejected,
    InvalidInput,
    InvalidTransition,
    NotAuthorized,
    NotFound,
    OrderingViolation,
    PeriodClosed,
    QuotaExceeded,
    ReasonRequired,
    RuleSetError,
)


def N_(message: str) -> str:
    return message


STATES = {
    "draft": N_("Draft"),
    "withdrawn": N_("Withdrawn"),
    "submitted": N_("Submitted"),
    "returned_to_unit": N_("Returned to the unit"),
    "endorsed": N_("Endorsed"),
    "returned_to_committee": N_("Returned to the committee"),
    "approved": N_("Decided"),
    "not_rated": N_("Not rated"),
    "reopened": N_("Re-opened"),
}
LEVELS = {
    "excellent": N_("Excellent (completed tasks excellently)"),
    "good": N_("Good (completed tasks well)"),
    "completed": N_("Completed tasks"),
    "not_completed": N_("Did not complete tasks"),
    "not_rated": N_("Not rated"),
}
GRADES = {
    "excellent": N_("Excellent"),
    "good": N_("Good"),
    "average": N_("Average"),
    "poor": N_("Poor"),
}
ROLES = {
    "secretary": N_("Secretary"),
    "reviewer": N_("Reviewer (organization board)"),
    "approver": N_("Approver (standing committee)"),
    "auditor": N_("Auditor (inspection committee)"),
    "administrator": N_("Administrator"),
}
TRIGGERS = {
    "record_answers": N_("Save answers"),
    "attach_evidence": N_("Attach evidence"),
    "submit": N_("Submit self-assessment"),
    "resubmit": N_("Resubmit"),
    "withdraw": N_("Withdraw draft"),
    "restore": N_("Restore draft"),
    "endorse": N_("Endorse with a proposed classification"),
    "return_to_unit": N_("Return to the unit"),
    "approve": N_("Decide the classification"),
    "return_to_committee": N_("Return to the committee"),
    "mark_not_rated": N_("Mark not rated"),
    "reopen": N_("Re-open for re-classification"),
    "remove_evidence": N_("Remove evidence"),
}
# A person's last step on a dossier, as My work lists it: the workflow's steps, and opening the dossier.
STEPS = {**TRIGGERS, "open": N_("Opened the dossier")}
# What the page says once a step is done.
DONE = {
    "record_answers": N_("Your answers are saved."),
    "attach_evidence": N_("The file is attached."),
    "remove_evidence": N_("The file is removed."),
    "submit": N_("The self-assessment is submitted to the committee."),
    "resubmit": N_("The self-assessment is submitted again."),
    "withdraw": N_("The draft is withdrawn."),
    "restore": N_("The draft is restored."),
    "endorse": N_("The dossier is endorsed and goes to the approver."),
    "return_to_unit": N_("The dossier is returned to the unit with your reason."),
    "approve": N_("The classification is decided."),
    "decide_list": N_("The decision list is recorded."),
    "return_to_committee": N_("The dossier is returned to the committee with your reason."),
    "mark_not_rated": N_("The unit is marked not rated."),
    "reopen": N_("The dossier is re-opened for re-classification."),
}
GROUNDS = {
    "under_six_months": N_("Under six months old at the end of the period"),
    "suspended": N_("Suspended"),
    "exempted": N_("Exempted"),
}
# Where a role must be held for a step (workflow/spec.py Scope), as a refusal names it.
SCOPES = {
    "the unit itself": N_("the unit itself"),
    "the committee directly above the unit": N_("the committee directly above the unit"),
    "a committee above the unit": N_("a committee above the unit"),
}
KINDS = {
    "party_cell": N_("Party cell"),
    "grassroots_cell": N_("Grassroots party cell"),
    "grassroots_committee": N_("Grassroots party committee"),
    "superior_committee": N_("Superior committee"),
}
# The groups of similar units the quota counts within, as the demo and the administrators name them; a unit with
# no group of its own is counted by its kind (KINDS). A name typed that is in neither is shown as typed.
GROUPS = {
    "ward/commune": N_("Wards and communes"),
    "armed forces": N_("Armed forces"),
    "agencies": N_("Agencies"),
    "schools": N_("Schools"),
}


def group_label(group: str) -> str | None:
    """A quota group's msgid, or None for a name typed that the app has no translation of (shown as typed)."""
    return GROUPS.get(group) or KINDS.get(group)

# What the engine names when it finds no such record ("no dossier 1f0c…"; workflow/engine.py passes these words).
RECORDS = (N_("person"), N_("unit"), N_("dossier"), N_("period"), N_("decision book"))

# The headline of a refusal, by the engine's error; the engine's own sentence follows it as the detail.
_HEADLINES: list[tuple[type[DomainError], int, str]] = [
    (NotAuthorized, 403, N_("You may not do this")),
    (NotFound, 404, N_("Not found")),
    (ConcurrencyConflict, 409, N_("Someone else changed this dossier first")),
    (ReasonRequired, 422, N_("A reason is needed")),
    (QuotaExceeded, 422, N_("The quota of excellent would be exceeded")),
    (EvidenceRejected, 422, N_("The file was refused")),
    (PeriodClosed, 409, N_("The period is closed")),
    (InvalidTransition, 409, N_("This step is not possible in the dossier's present state")),
    (OrderingViolation, 409, N_("This must wait for another decision")),
    (ClassificationRefused, 422, N_("This classification is refused by the rules")),
    (AlreadyExists, 409, N_("This already exists")),
    (RuleSetError, 409, N_("The rule set does not allow this")),
    (InvalidInput, 422, N_("Something in the form is not valid")),
]


# The headline and detail of a page answering an HTTP error the routes did not raise themselves: an address no route
# has, a method a route does not take, a body that is not a form.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: (N_("The form could not be read"), N_("Reload the page and try again.")),
    404: (N_("This page does not exist"), N_("Check the address, or start again from your work.")),
    405: (N_("This address does not take this kind of request"), N_("Reload the page and try again.")),
}


STORE_FAILED: tuple[str, str] = (
    N_("The store is unavailable"),
    N_("Nothing was changed. Try again in a moment; if this goes on, tell the administrator."),
)


def refusal(error: DomainError, *, on_dossier: bool = True) -> tuple[int, str]:
    """The HTTP status and the headline (a msgid) for an engine refusal; `on_dossier` is False on the pages that
    change units, people, grants and periods, where a concurrent change is not a dossier's."""
    if isinstance(error, ConcurrencyConflict) and not on_dossier:
        return 409, N_("Someone else changed this record first")
    for cls, status, headline in _HEADLINES:
        if isinstance(error, cls):
            return status, headline
    return 422, N_("The request was refused")


# Evidence files by the names people know their types by; the page keeps the exact type in a tooltip.
MEDIA_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "text/plain": N_("Text (TXT)"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (DOCX)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (XLSX)",
    "application/vnd.oasis.opendocument.text": "OpenDocument (ODT)",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument (ODS)",
}
