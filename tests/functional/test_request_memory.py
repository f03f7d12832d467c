"""No request grows the process by more than 64 MiB, whatever its body makes of the batch's shared fields.

A batch's context and integrations, and the settings, are copied into every
event's message: a 329 KB body once made 413 MiB of them. Measured with
tracemalloc, which counts every Python allocation the request makes, the AWS
emulator's (in this process) included, so the figures are upper bounds. What
the largest batch that is accepted holds, published whole, is in `make bench`.
"""

import base64
import json
import tracemalloc
from typing import Any

import pytest

from chalicelib.batches import MAX_BATCH_BYTES, MAX_BATCH_MESSAGE_BYTES
from tests.aws import Deployment
from tests.helpers import Api, answer_of

BOUND_BYTES = 64 * 1024 * 1024


def peak_of(api: Api, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[Any, int]:
    """The answer to `body` on /v1/batch, and the most memory the request held at once."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) <= MAX_BATCH_BYTES
    tracemalloc.start()
    try:
        response = api.post(raw, path="/v1/batch", headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


def tiny_events(count: int) -> list[dict[str, str]]:
    return [{"type": "identify", "userId": f"u{n}"} for n in range(count)]


SHARED = [
    ("2,000 events and a 200 KB context", {"batch": tiny_events(2000), "context": {"pad": "x" * 200_000}}, None),
    ("2,500 events and a 150 KB context", {"batch": tiny_events(2500), "context": {"pad": "x" * 150_000}}, None),
    ("2,500 events and 25 KB of settings", {"batch": tiny_events(2500)}, {"groupIds": ["x" * 18_000]}),
]


@pytest.mark.parametrize(("case", "body", "settings"), SHARED, ids=[case for case, _, _ in SHARED])
def test_a_batch_whose_messages_would_pass_the_cap_is_a_413_with_nothing_published(
    api: Api, deployment: Deployment, case: str, body: dict[str, Any], settings: dict[str, Any] | None
) -> None:
    headers = {"X-Segment-Settings": base64.b64encode(json.dumps(settings).encode()).decode()} if settings else None
    response, peak = peak_of(api, body, headers)
    assert response.status_code == 413
    assert answer_of(response)["message"].startswith(
        f"batch: its messages would be more than {MAX_BATCH_MESSAGE_BYTES}"
    )
    assert deployment.delivered_anywhere() == []
    assert peak < BOUND_BYTES, f"{case}: {peak / 2**20:.1f} MiB"
