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


def test_action_is_one_more_spelling_of_type_held_to_the_same_rule() -> None:
    assert canonical_fields({"action": "track", "event": "e"}) == {"type": "track", "event": "e"}
    assert list(canonical_fields({"type": "track", "Action": "Track", "event": "e"})) == ["type", "event"]
    with pytest.raises(BadRequest, match="type: sent as both 'type' and 'action' with different values"):
        canonical_fields({"type": "identify", "action": "track"})
    with pytest.raises(BadRequest, match="type: sent as both 'action' and 'Action' with different values"):
        canonical_fields({"action": "identify", "Action": "track"})


def test_agreeing_spellings_merge_and_conflicting_ones_are_refused() -> None:
    assert canonical_fields({"userId": "u", "user_id": "u"}) == {"userId": "u"}
    with pytest.raises(BadRequest, match="userId: sent as both 'userId' and 'user_id'"):
        canonical_fields({"userId": "u", "user_id": "v"})
