"""One structured log line per request: ids, types, sizes and outcomes, never secrets or traits."""

import base64
import json

import pytest

from tests.aws import Deployment, basic_auth
from tests.helpers import Api, log_lines

EMAIL = "peter.gibbons@example.com"
EVENT = {
    "type": "identify",
    "userId": "u1",
    "messageId": "m-1",
    "traits": {"email": EMAIL, "plan": "secret-plan"},
    "properties": {"card": "4111111111111111"},
    "writeKey": "source-write-key",
}


def test_each_request_writes_one_line_with_ids_sizes_and_outcome(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    [record] = log_lines(capsys.readouterr().out, "request")
    assert record["status"] == 200
    assert (record["account_id"], record["type"], record["message_id"]) == ("1234", "identify", "m-1")
    assert record["request_id"]
    assert record["body_bytes"] == len(json.dumps(EVENT))
    assert record["message_bytes"] > 0
    assert record["attempts"] == 1
    assert record["duration_ms"] >= 0


def test_a_rejected_request_logs_its_status_and_reason(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post({"type": "track", "userId": "u1"})
    [record] = log_lines(capsys.readouterr().out, "request")
    assert record["status"] == 400
    assert "event" in record["error"]


def test_the_authorizer_logs_its_decision_and_the_account(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    api.post(EVENT, key="unknown")
    allowed, refused = log_lines(capsys.readouterr().out, "authorizer")
    assert (allowed["outcome"], allowed["account_id"]) == ("allow", "1234")
    assert (refused["outcome"], refused["reason"]) == ("unauthorized", "unknown key")


def test_logs_never_contain_keys_settings_traits_properties_or_emails(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    disabled = deployment.create_key("99")
    deployment.disable(disabled)
    settings = base64.b64encode(json.dumps({"apiSecret": "settings-secret"}).encode()).decode()
    api.post(EVENT, headers={"X-Segment-Settings": settings})
    api.post({**EVENT, "traits": "not-an-object " + EMAIL})
    api.post(EVENT, key=disabled)
    api.post(b'{"type": "identify", "userId": "' + EMAIL.encode() + b'"')
    output = capsys.readouterr().out
    for secret in (api.key, disabled, basic_auth(api.key), EMAIL, "secret-plan", "4111111111111111",
                   "source-write-key", "settings-secret"):  # fmt: skip
        assert secret not in output
