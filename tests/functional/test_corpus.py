"""The published-payload corpus, posted as Segment and its libraries would: every event, every batch.

Each is accepted unless it lacks what its type requires, and the tests state
that rule on their own (`tests.segment_rules`) rather than asking the service. The corpus is
`tests/data/segment-corpus` (`tests.corpus`), with the source of every example.
"""

import json
from pathlib import Path

import pytest

from tests import corpus
from tests.aws import Deployment
from tests.helpers import Api, answer_of
from tests.segment_rules import event_type_of, required_but_absent

FILES = corpus.files(batches=False)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_a_published_segment_event_is_accepted_unless_it_lacks_what_its_type_requires(
    shared_api: tuple[Api, Deployment], path: Path
) -> None:
    api, deployment = shared_api
    deployment.delivered_anywhere()
    raw = path.read_bytes()
    event = json.loads(raw)
    absent = required_but_absent(event)

    response = api.post(raw)

    if absent is not None:
        assert response.status_code == 400, answer_of(response)
        assert absent in answer_of(response)["message"]
        assert deployment.delivered_anywhere() == []
        return
    assert response.status_code == 200, answer_of(response)
    [delivered] = deployment.delivered_anywhere()
    assert delivered.event["messageId"] == answer_of(response)["messageId"]
    assert delivered.attributes["type"] == delivered.event["type"]
    assert "writeKey" not in delivered.event


def test_the_corpus_holds_the_expected_mix_of_complete_and_incomplete_events() -> None:
    # Pinned so that a change in the corpus or in the rule above is noticed.
    verdicts = [required_but_absent(json.loads(path.read_bytes())) for path in FILES]
    assert len(verdicts) == 141
    assert len(corpus.files(batches=True)) == 14
    assert verdicts.count(None) == 117
    # HTTP Tracking API bodies, whose type is in the URL path.
    assert verdicts.count("type") == 8
    # The corpus notes 19 events without userId or anonymousId; 4 of them spell
    # it "user_id" or "User ID", which the contract accepts.
    assert verdicts.count("userId or anonymousId") == 15
    assert verdicts.count("event") == 1


BATCH_FILES = corpus.files(batches=True)


@pytest.mark.parametrize("path", BATCH_FILES, ids=[path.stem for path in BATCH_FILES])
def test_a_published_batch_body_publishes_every_event_that_has_what_its_type_requires(
    shared_api: tuple[Api, Deployment], path: Path
) -> None:
    api, deployment = shared_api
    deployment.delivered_anywhere()
    body = json.loads(path.read_bytes())
    events = body if isinstance(body, list) else body["batch"]

    response = api.post(path.read_bytes(), path="/v1/batch")

    assert response.status_code == 200, answer_of(response)
    answer = answer_of(response)
    expected_rejections = [index for index, event in enumerate(events) if required_but_absent(event) is not None]
    assert [item["index"] for item in answer["rejected"]] == expected_rejections
    assert answer["accepted"] == len(events) - len(expected_rejections)
    published: dict[str, int] = {}
    for item in deployment.delivered_anywhere():
        published[item.event["type"]] = published.get(item.event["type"], 0) + 1
    expected: dict[str, int] = {}
    for index, event in enumerate(events):
        if index not in expected_rejections:
            expected[event_type_of(event)] = expected.get(event_type_of(event), 0) + 1
    assert published == expected
