"""Schemathesis against the API's own OpenAPI document, on the demo season, with a token: whatever a client sends
that the document allows (and much that it does not), the answer is never a server error and always matches what
the document promises (status, content type, body schema, headers).

The operations are driven from this test with each operation's Hypothesis strategy rather than with
`schemathesis.pytest.from_fixture`, whose lazy loader does not run under pytest 9 (it renames test nodes through a
pytest internal that is gone); the checks are schemathesis's own."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.web.api_world import api_on
from tests.web.world import SECRETARY, Web

# Generated requests per operation and mode: enough to find what the document allows but the app refuses badly, few
# enough that the whole run stays well under two minutes on a loaded two-core machine.
EXAMPLES = 15
# Schemathesis's own list of the statuses that reject invalid data, and 413: a body the document would refuse may
# also be larger than the API takes (a megabyte), which it refuses before reading it, as documented.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [
        "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
    ]}}}
)


# The provincial administrator reads every unit, the audit trail and the chain, and opens dossiers, but the engine
# refuses them the workflow's steps; a cell's secretary reaches the engine's own checks of a self-assessment, an
# upload and a submission.
@pytest.mark.parametrize("username", ["admin", SECRETARY])
def test_no_generated_request_gets_a_server_error_or_an_answer_the_document_does_not_promise(
    web: Web, username: str
) -> None:
    bearer = {"Authorization": f"Bearer {api_on(web).token(username)}"}
    schema = from_asgi("/openapi.json", web.app, config=CONFIG)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            )
            def run(case: Case) -> None:
                # Every check but one: "a request the document allows is accepted" cannot hold for an API whose
                # engine refuses requests of the right shape for what they mean (a return without a reason, an
                # unknown criterion, as_of and version together), with 422 and its reason.
                # A case whose headers were made invalid (Authorization left out, or given a value the document
                # does not allow) is sent as generated: with the token put back it would be a valid request, which
                # the API rightly accepts, and schemathesis would report that as invalid data accepted.
                negated_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
                case.call_and_validate(
                    headers=None if negated_headers else bearer, excluded_checks=[positive_data_acceptance]
                )

            try:
                run()
            except (Exception, BaseExceptionGroup) as error:  # every operation is tried; all failures reported at once
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)
