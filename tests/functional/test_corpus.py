"""Every single event of the published-payload corpus, posted as Segment would.

Each is accepted unless it lacks what its type requires, and the test states
that rule on its own (below) rather than asking the service. The corpus lives
beside the repository (`../shared/segment-corpus`) and is read from there.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.aws import Deployment
from tests.conftest import Api, answer_of

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "segment-corpus" / "valid"
PERSON_TYPES = {"identify", "track", "page", "screen", "group"}


def single_event_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.glob("*.json") if not path.name.startswith("batch-"))


def required_but_absent(event: dict[str, Any]) -> str | None:
    """The contract's required fields, restated: the first one the event lacks, or None."""
    fields = {re.sub(r"[\s_-]", "", key).lower(): value for key, value in event.items()}

    def present(name: str) -> bool:
        return fields.get(name) not in (None, "")

    event_type = str(fields.get("type") or fields.get("action") or "").lower()
    if not event_type:
        return "type"
    if event_type in PERSON_TYPES and not (present("userid") or present("anonymousid")):
        return "userId or anonymousId"
    needs = {"track": ["event"], "group": ["groupid"], "alias": ["userid", "previousid"], "delete": ["userid"]}
    for name in needs.get(event_type, []):
        if not present(name):
            return {"groupid": "groupId", "userid": "userId", "previousid": "previousId"}.get(name, name)
    return None


FILES = single_event_files()


@pytest.mark.skipif(not FILES, reason=f"the Segment payload corpus is not at {CORPUS} (CI has it in ../shared)")
@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_a_published_segment_event_is_accepted_unless_it_lacks_what_its_type_requires(
    api: Api, deployment: Deployment, path: Path
) -> None:
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


@pytest.mark.skipif(not FILES, reason=f"the Segment payload corpus is not at {CORPUS} (CI has it in ../shared)")
def test_the_corpus_holds_the_expected_mix_of_complete_and_incomplete_events() -> None:
    # Pinned so that a change in the corpus or in the rule above is noticed.
    verdicts = [required_but_absent(json.loads(path.read_bytes())) for path in FILES]
    assert len(verdicts) == 141
    assert verdicts.count(None) == 117
    # HTTP Tracking API bodies, whose type is in the URL path.
    assert verdicts.count("type") == 8
    # The corpus notes 19 events without userId or anonymousId; 4 of them spell
    # it "user_id" or "User ID", which the contract accepts.
    assert verdicts.count("userId or anonymousId") == 15
    assert verdicts.count("event") == 1
