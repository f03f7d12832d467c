"""`make tail`'s rendering of a delivered notification."""

import json

from tools.tail import render


def test_a_message_renders_its_type_account_message_id_attributes_and_event() -> None:
    envelope = {
        "accountId": "1001",
        "receivedAt": "2026-11-27T10:00:00.000Z",
        "timestamp": "2026-11-27T09:59:58.120Z",
        "settings": {"groupIds": ["42"]},
        "event": {"type": "track", "userId": "u1", "messageId": "m-1", "event": "Signed Up"},
    }
    notification = {
        "Message": json.dumps(envelope),
        "MessageAttributes": {
            "type": {"Type": "String", "Value": "track"},
            "event": {"Type": "String", "Value": "Signed Up"},
        },
    }
    text = render("emma-segment-local-track", notification)
    header = text.splitlines()[0]
    assert header.startswith("track") and "account 1001" in header and "messageId m-1" in header
    assert "event=Signed Up  type=track" in text
    assert '"userId": "u1"' in text
    assert 'settings {"groupIds": ["42"]}' in text
    assert "\033[" not in text
