"""Security properties: secrets never leave, the account comes only from credentials, disabled keys stop.

Canaries are planted in every place a secret could leak from (the Authorization
header, the webhook secret, the settings, the event) and every answer and log
line of a run over every route is scanned for them.
"""

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import api_key_authorizer
from chalicelib.secret_refs import secretsmanager_client
from chalicelib.webhook import WebhookSecrets, sign
from tests.aws import Deployment, basic_auth
from tests.helpers import Api, configure

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
PREFIX = "emma-segment/test/webhook/"
CANARY_EMAIL = "canary.person@example.com"
CANARY_TRAIT = "canary-trait-8c1f"
CANARY_SETTING = "canary-setting-2b7e"
CANARY_WRITE_KEY = "canary-write-key-93ad"


def every_kind_of_request(
    client: Client, deployment: Deployment, key: str, disabled_key: str, webhook_secret: str
) -> list[Any]:
    """The routes and their failure modes, each carrying canaries."""
    api = Api(client, key)
    event = {
        "type": "identify",
        "userId": "u1",
        "traits": {"email": CANARY_EMAIL, "secret": CANARY_TRAIT},
        "writeKey": CANARY_WRITE_KEY,
    }
    settings = base64.b64encode(json.dumps({"apiSecret": CANARY_SETTING}).encode()).decode()
    body = json.dumps(event).encode()
    return [
        api.post(event, headers={"X-Segment-Settings": settings}),
        api.post({"batch": [event, {**event, "traits": "broken " + CANARY_TRAIT}]}, path="/v1/batch"),
        api.post({**event, "type": None}, path="/v1/identify"),
        api.post(body[:-5]),
        api.post({**event, "traits": CANARY_TRAIT}),
        api.post(event, headers={"X-Segment-Settings": settings[:-3] + "%%%"}),
        api.post(event, key=disabled_key),
        api.post(event, key=key + "-wrong"),
        api.post(
            event, headers={"Authorization": "Basic " + base64.b64encode(f"{key}:{CANARY_TRAIT}".encode()).decode()}
        ),
        client.http.post(
            "/v1/webhook/42",
            headers={"content-type": "application/json", "x-signature": sign(body, webhook_secret)},
            body=body,
        ),
        client.http.post(
            "/v1/webhook/42",
            headers={"content-type": "application/json", "x-signature": sign(body, webhook_secret + "x")},
            body=body,
        ),
        client.http.get("/v1/segment/enable", headers={"authorization": basic_auth(key)}),
    ]


def test_no_answer_or_log_line_carries_a_key_a_secret_or_what_an_event_says(
    client: Client, aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = Deployment(dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    monkeypatch.setenv("WEBHOOK_SECRETS_PREFIX", PREFIX)
    key, disabled_key = deployment.create_key("1234"), deployment.create_key("1234")
    deployment.disable(disabled_key)
    webhook_secret = WebhookSecrets(secretsmanager_client(), PREFIX).put("42")

    answers = every_kind_of_request(client, deployment, key, disabled_key, webhook_secret)

    seen = capsys.readouterr()
    text = seen.out + seen.err + "".join(a.body.decode() + json.dumps(a.headers) for a in answers)
    secrets = [key, disabled_key, basic_auth(key), basic_auth(disabled_key), webhook_secret, CANARY_SETTING,
               CANARY_TRAIT, CANARY_EMAIL, CANARY_WRITE_KEY]  # fmt: skip
    leaks = [secret for secret in secrets if secret in text]
    assert leaks == []
    assert {answer.status_code for answer in answers} >= {200, 400, 401, 403}


def test_no_body_can_choose_the_account(client: Client, api: Api, deployment: Deployment) -> None:
    pretending = {"accountId": "9999", "account_id": "9999", "AccountId": "9999"}
    api.post({"type": "identify", "userId": "u1", **pretending})
    api.post({"batch": [{"type": "track", "userId": "u1", "event": "e", **pretending}], **pretending}, path="/v1/batch")
    api.post({"userId": "u1", **pretending}, path="/v1/page")
    delivered = deployment.delivered_anywhere()
    assert len(delivered) == 3
    assert {item.message["accountId"] for item in delivered} == {"1234"}
    assert {item.attributes["accountId"] for item in delivered} == {"1234"}


def test_a_disabled_key_is_refused_at_the_next_authorization(api: Api, deployment: Deployment) -> None:
    # GIVEN a key in use
    assert api.post({"type": "identify", "userId": "u1"}).status_code == 200
    # WHEN it is disabled: the service keeps no decision of its own, so the next
    # authorization (API Gateway's, once its cache for this key has expired) refuses it
    deployment.disable(api.key)
    assert api.post({"type": "identify", "userId": "u1"}).status_code == 403


def test_the_authorizer_cache_ttl_is_the_one_the_operating_guide_promises() -> None:
    ttl = api_key_authorizer.config.ttl_seconds
    assert ttl == 300
    promised = re.search(r"caches each decision for \*\*(\d+) seconds\*\*", OPERATING.read_text())
    assert promised is not None and int(promised.group(1)) == ttl
