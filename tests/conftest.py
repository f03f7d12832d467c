"""Fixtures: the real Chalice app, on moto, with a deployment's topics, queues and key table."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Fake credentials and a region before any client exists; nothing here reaches AWS.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(_variable, None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from chalicelib import secret_refs, webhook  # noqa: E402
from chalicelib.dynamodb import dynamodb_client  # noqa: E402
from chalicelib.publisher import sns_client  # noqa: E402
from tests.aws import Deployment, basic_auth  # noqa: E402


class Api:
    """The app as Segment reaches it: POSTs with an Emma key as Basic credentials."""

    def __init__(self, client: Client, key: str) -> None:
        self.http = client.http
        self.key = key

    def post(
        self,
        body: bytes | str | dict[str, Any],
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/v1/segment",
    ) -> Any:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        sent = {"authorization": basic_auth(self.key if key is None else key), "content-type": "application/json"}
        sent.update(headers or {})
        return self.http.post(path, headers={name.lower(): value for name, value in sent.items()}, body=body)


def answer_of(response: Any) -> dict[str, Any]:
    """The JSON body of an answer, checking that it is declared as JSON."""
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body: dict[str, Any] = json.loads(response.body)
    return body


def configure(monkeypatch: pytest.MonkeyPatch, deployment: Deployment) -> None:
    """Point the service at `deployment`, as a stage's environment variables would."""
    for variable in [name for name in os.environ if name.startswith("TOPIC_ARN_")]:
        monkeypatch.delenv(variable)
    for name, value in deployment.environment().items():
        monkeypatch.setenv(name, value)


PROCESS_CACHES = (
    sns_client,
    dynamodb_client,
    secret_refs.resolve,
    secret_refs.ssm_client,
    secret_refs.secretsmanager_client,
    webhook._secrets,
)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call, with the service's per-process clients and caches built afresh."""
    with mock_aws():
        for cached in PROCESS_CACHES:
            cached.cache_clear()
        yield
    for cached in PROCESS_CACHES:
        cached.cache_clear()


@pytest.fixture
def deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """A topic and subscribed queue per event type, and the key table."""
    deployment = Deployment()
    deployment.add_topics()
    configure(monkeypatch, deployment)
    return deployment


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Deployment]]:
    """One deployment for a whole module of tests that each drain the queues before they post.

    For the long parametrized corpus tests, where building a deployment per test would dominate.
    """
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        for cached in PROCESS_CACHES:
            cached.cache_clear()
        deployment = Deployment()
        deployment.add_topics()
        configure(monkeypatch, deployment)
        client = Client(app, project_dir=str(tmp_path_factory.mktemp("chalice")))
        yield Api(client, deployment.create_key("1234")), deployment
    for cached in PROCESS_CACHES:
        cached.cache_clear()


@pytest.fixture
def client(tmp_path: Path) -> Client:
    """Chalice's test client without a stage's environment: tests set it themselves."""
    return Client(app, project_dir=str(tmp_path))


@pytest.fixture
def api(client: Client, deployment: Deployment) -> Api:
    """The app, with an active key for account 1234."""
    return Api(client, deployment.create_key("1234"))
