"""schemathesis against `make run`: generated requests, answers checked against the OpenAPI document.

A bounded number of random examples per operation here; `make fuzz` raises it
(SCHEMATHESIS_EXAMPLES) and adds the coverage phase, which walks every
boundary of every schema (SCHEMATHESIS_COVERAGE=1).
"""

import base64
import json
import os
import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from chalicelib.openapi import SETTINGS_FORMAT, document
from tests.aws import basic_auth
from tests.e2e.conftest import DEMO_KEY, LocalRun
from tests.segment_rules import squashed, uses_segment_spelling

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE") == "1"
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # Invalid input is refused with one of the contract's 4xx, or 501 for a type with no topic.
            "negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 413, 415, 501]},
            # 5xx means "retry" to Segment: replaced by `no_server_error_but_501` below.
            "not_a_server_error": {"enabled": False},
            # chalice local answers methods no route declares itself (501, HTML); the deployed
            # API Gateway answers them with its gateway responses (docs/contract.md §7).
            "unsupported_method": {"enabled": False},
        },
        "phases": {"coverage": {"enabled": COVERAGE, "unexpected-methods": []}},
    }
)
schemathesis.openapi.format(
    SETTINGS_FORMAT,
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3).map(
        lambda settings: base64.b64encode(json.dumps(settings).encode()).decode()
    ),
)


# Enable with Segment is a browser flow through Segment's consent page; it is tested
# against a fake Segment in test_enable_with_segment_local.py.
@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    """Leave out events with another spelling of a Segment field ("MessageId" beside "messageId"), or "action".

    The contract matches those fields whatever their spelling (and reads "action"
    as "type"), refusing two spellings that disagree; JSON Schema cannot say so,
    and the document allows any other property. Every other body stays in play.
    """
    if isinstance(body, dict):
        events = body["batch"] if isinstance(body.get("batch"), list) else [body]
    else:
        events = body if isinstance(body, list) else []
    return all(plainly_spelled(event) for event in events if isinstance(event, dict))


def plainly_spelled(event: dict[str, Any]) -> bool:
    return uses_segment_spelling(event) and "action" not in squashed(event)


schema = schemathesis.openapi.from_dict(document(), config=CONFIG).exclude(path_regex="^/v1/segment/enable")


@schemathesis.check
def no_server_error_but_501(ctx: Any, response: Any, case: Any) -> None:
    """5xx means "retry" to Segment; only 501 (a type with no topic) is a deliberate one here."""
    assert response.status_code < 500 or response.status_code == 501, f"{response.status_code}: {response.text}"


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_conforms_to_the_document(case: Any, local_run: LocalRun) -> None:
    case.validate_response(answered(case, local_run))


def answered(case: Any, local_run: LocalRun) -> Any:
    """The service's answer to `case`, once the gateway's throttle lets it through.

    The examples come faster than an account may send batches (`make run` throttles
    as API Gateway does), and a 429 is answered before the body is read: so each is
    sent again after the 429's Retry-After, as Segment does, until the service
    itself answers it.
    """
    while True:
        response = case.call(base_url=local_run.url, headers={"Authorization": basic_auth(DEMO_KEY)})
        if response.status_code != 429:
            return response
        [retry_after] = response.headers["retry-after"]  # (schemathesis: lowercase names, a list of values)
        time.sleep(float(retry_after))
