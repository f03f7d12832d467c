"""POST /v1/webhook/{account_id}: Segment's Webhooks destination, authenticated by X-Signature."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.deadline import Deadline
from chalicelib.keys.__main__ import main as keys_command
from chalicelib.process_cache import forget_all
from chalicelib.secret_refs import secretsmanager_client
from chalicelib.webhook import CACHE_SECONDS, WebhookSecrets, sign
from tests.aws import Deployment
from tests.faults import silent_endpoint
from tests.helpers import answer_of

PREFIX = "emma-segment/test/webhook/"
EVENT = json.dumps({"type": "identify", "userId": "u1", "messageId": "m-1"}).encode()


@pytest.fixture
def secrets(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> WebhookSecrets:
    monkeypatch.setenv("WEBHOOK_SECRETS_PREFIX", PREFIX)
    return WebhookSecrets(secretsmanager_client(), PREFIX)


def post(client: Client, account_id: str, body: bytes, signature: str | None, **headers: str) -> Any:
    sent = {"content-type": "application/json", **headers}
    if signature is not None:
        sent["x-signature"] = signature
    return client.http.post(f"/v1/webhook/{account_id}", headers=sent, body=body)


def test_a_signed_delivery_is_published_for_the_account_in_the_path(
    client: Client, deployment: Deployment, secrets: WebhookSecrets
) -> None:
    secret = secrets.put("42")
    response = post(client, "42", EVENT, sign(EVENT, secret))
    assert response.status_code == 200
    [delivered] = deployment.delivered("identify")
    assert delivered.message["accountId"] == "42"
    assert delivered.event["messageId"] == "m-1"


def test_the_signature_is_read_in_either_case(client: Client, deployment: Deployment, secrets: WebhookSecrets) -> None:
    secret = secrets.put("42")
    assert post(client, "42", EVENT, sign(EVENT, secret).upper()).status_code == 200


@pytest.mark.parametrize(
    "signature",
    [None, "", "not-hex", "0" * 40, sign(EVENT, "another secret"), sign(EVENT + b" ", "the secret")],
    ids=["missing", "empty", "not hex", "zeros", "another secret", "another body"],
)
def test_a_missing_or_wrong_signature_is_a_401_and_nothing_is_published(
    client: Client, deployment: Deployment, secrets: WebhookSecrets, signature: str | None
) -> None:
    secrets.put("42")
    response = post(client, "42", EVENT, signature)
    assert response.status_code == 401
    assert "X-Signature" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


def test_an_account_without_a_secret_answers_like_a_wrong_signature(
    client: Client, deployment: Deployment, secrets: WebhookSecrets
) -> None:
    secret = secrets.put("42")
    unknown = post(client, "43", EVENT, sign(EVENT, secret))
    wrong = post(client, "42", EVENT, sign(EVENT, "guess"))
    assert unknown.status_code == wrong.status_code == 401
    assert answer_of(unknown) == answer_of(wrong)


def test_a_malformed_account_id_is_a_401(client: Client, deployment: Deployment, secrets: WebhookSecrets) -> None:
    assert post(client, "a" * 65, EVENT, sign(EVENT, "x")).status_code == 401


def test_a_signed_delivery_is_validated_like_any_event(
    client: Client, deployment: Deployment, secrets: WebhookSecrets
) -> None:
    secret = secrets.put("42")
    body = b'{"type": "track", "userId": "u1"}'
    response = post(client, "42", body, sign(body, secret))
    assert response.status_code == 400
    assert "event" in answer_of(response)["message"]


def test_webhook_mode_is_off_without_a_secrets_prefix(client: Client, deployment: Deployment) -> None:
    response = post(client, "42", EVENT, sign(EVENT, "x"))
    assert response.status_code == 404
    assert "webhook mode" in answer_of(response)["message"]


def test_the_keys_command_creates_rotates_and_deletes_secrets(
    client: Client, deployment: Deployment, secrets: WebhookSecrets, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys_command(["webhook-secret", "--account-id", "42"]) == 0
    first = capsys.readouterr().out.strip()
    assert post(client, "42", EVENT, sign(EVENT, first)).status_code == 200
    assert keys_command(["webhook-secret", "--account-id", "42", "--delete"]) == 0
    assert keys_command(["webhook-secret", "--account-id", "42"]) == 0
    second = capsys.readouterr().out.strip()
    assert second != first


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def in_time() -> Deadline:
    return Deadline.after(4.0)


def test_a_rotated_secret_is_picked_up_once_the_cached_one_stops_matching(secrets: WebhookSecrets) -> None:
    clock = FakeClock()
    cached = WebhookSecrets(secretsmanager_client(), PREFIX, clock=clock)
    old = secrets.put("42")
    assert cached.matches("42", EVENT, sign(EVENT, old), in_time())
    new = secrets.put("42")
    assert not cached.matches("42", EVENT, sign(EVENT, new), in_time()), "refreshed at most every few seconds"
    clock.now += 6
    assert cached.matches("42", EVENT, sign(EVENT, new), in_time())
    assert not cached.matches("42", EVENT, sign(EVENT, old), in_time())


@pytest.fixture
def secret_reads() -> Iterator[list[str]]:
    """The ids of the secrets the service reads from Secrets Manager, in order."""
    reads: list[str] = []

    def count(params: dict[str, Any], **kwargs: Any) -> None:
        reads.append(params["SecretId"].removeprefix(PREFIX))

    events: Any = secretsmanager_client().meta.events
    events.register("before-parameter-build.secrets-manager.GetSecretValue", count)
    yield reads
    events.unregister("before-parameter-build.secrets-manager.GetSecretValue", count)


def test_an_unknown_account_is_looked_up_once_per_cache_period_however_often_it_is_tried(
    secrets: WebhookSecrets, secret_reads: list[str]
) -> None:
    # GIVEN a cache in front of Secrets Manager, and an account that has no secret
    clock = FakeClock()
    cached = WebhookSecrets(secretsmanager_client(), PREFIX, clock=clock)
    # WHEN deliveries for it keep coming with made-up signatures, for most of a cache period
    for _ in range(20):
        assert not cached.matches("404", EVENT, sign(EVENT, "guess"), in_time())
        clock.now += (CACHE_SECONDS - 1) / 20
    # THEN the account was looked up once, and again only once the period is over
    assert secret_reads == ["404"]
    clock.now += 1
    cached.matches("404", EVENT, sign(EVENT, "guess"), in_time())
    assert secret_reads == ["404", "404"]


def test_the_cache_keeps_the_most_recently_used_accounts_up_to_its_limit(
    secrets: WebhookSecrets, secret_reads: list[str]
) -> None:
    # GIVEN a cache of three accounts, full
    cached = WebhookSecrets(secretsmanager_client(), PREFIX, clock=FakeClock(), max_accounts=3)
    for account in ("1", "2", "3"):
        cached.matches(account, EVENT, "0" * 40, in_time())
    # WHEN account 1 is used again and a fourth account arrives
    cached.matches("1", EVENT, "0" * 40, in_time())
    cached.matches("4", EVENT, "0" * 40, in_time())
    # THEN the least recently used account (2) was dropped: only it is read again
    for account in ("1", "3", "4", "2"):
        cached.matches(account, EVENT, "0" * 40, in_time())
    assert secret_reads == ["1", "2", "3", "4", "2"]


def test_a_secrets_manager_that_hangs_is_a_503_within_segments_timeout(
    client: Client, deployment: Deployment, secrets: WebhookSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Secrets Manager accepts connections and never answers
    with silent_endpoint() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", url)
        forget_all()
        # WHEN a signed delivery arrives
        started = time.monotonic()
        response = post(client, "42", EVENT, sign(EVENT, "the secret"))
        elapsed = time.monotonic() - started
    forget_all()
    # THEN Segment is told to retry, in time, and nothing is published
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "ReadTimeoutError" in answer_of(response)["message"]
    assert elapsed < 4.5
    assert deployment.delivered_anywhere() == []


def test_a_batch_from_the_webhooks_destination_is_refused_with_the_setting_to_change(
    client: Client, deployment: Deployment, secrets: WebhookSecrets
) -> None:
    # GIVEN Segment's Webhooks (Actions) destination with batching on: an array, signed over its first event only
    secret = secrets.put("42")
    first = json.dumps({"type": "identify", "userId": "u1", "messageId": "m-1"})
    body = f"[{first},{json.dumps({'type': 'identify', 'userId': 'u2'})}]".encode()
    response = post(client, "42", body, sign(first.encode(), secret))
    # THEN it is refused for good, naming what to change, and nothing is published
    assert response.status_code == 400
    assert answer_of(response)["message"].endswith("turn the destination's batching off")
    assert deployment.delivered_anywhere() == []
