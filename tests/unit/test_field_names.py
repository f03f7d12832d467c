"""Segment's field names whatever casing or separators a sender used."""

import pytest

from chalicelib.errors import BadRequest
from chalicelib.field_names import canonical_fields


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ("user_id", "userId"),
        ("UserId", "userId"),
        ("User ID", "userId"),
        ("USER-ID", "userId"),
        ("message_id", "messageId"),
        ("Previous ID", "previousId"),
        ("anonymous_id", "anonymousId"),
        ("original_timestamp", "originalTimestamp"),
        ("sent_at", "sentAt"),
        ("Write Key", "writeKey"),
        ("TYPE", "type"),
    ],
)
def test_envelope_fields_get_segments_spelling(sent: str, name: str) -> None:
    assert canonical_fields({sent: "v"}) == {name: "v"}


def test_other_fields_and_nested_ones_keep_their_names() -> None:
    event = {"user_name": "x", "Email": "e", "traits": {"user_id": 1, "First Name": "P"}}
    assert canonical_fields(event) == event


def test_action_stands_for_type_only_when_there_is_no_type() -> None:
    assert canonical_fields({"action": "track", "event": "e"}) == {"event": "e", "type": "track"}
    assert canonical_fields({"type": "track", "action": "Accept"}) == {"type": "track", "action": "Accept"}


def test_agreeing_spellings_merge_and_conflicting_ones_are_refused() -> None:
    assert canonical_fields({"userId": "u", "user_id": "u"}) == {"userId": "u"}
    with pytest.raises(BadRequest, match="userId: sent as both 'userId' and 'user_id'"):
        canonical_fields({"userId": "u", "user_id": "v"})
