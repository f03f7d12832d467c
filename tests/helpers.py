"""What tests share: the app as Segment reaches it, answers and log lines read back, a deployment configured.

Fixtures are in `conftest.py`; these are plain functions and classes, imported where used.
"""

import json
import os
from typing import Any

import pytest
from chalice.test import Client

from tests.aws import Deployment, basic_auth


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


def log_lines(output: str, kind: str) -> list[dict[str, Any]]:
    """The JSON log lines of `kind` ("request", "authorizer", ...) among what the service printed."""
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if record.get("log") == kind]
