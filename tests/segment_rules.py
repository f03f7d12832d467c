"""The contract's required fields, restated for tests independently of the service's code.

Tests use this as their oracle for "accepted unless it lacks what its type requires".
"""

import re
from typing import Any

PERSON_TYPES = {"identify", "track", "page", "screen", "group"}
_DISPLAY = {"groupid": "groupId", "userid": "userId", "previousid": "previousId"}


def squashed(event: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys without case or separators, as the contract matches them."""
    return {re.sub(r"[\s_-]", "", key).lower(): value for key, value in event.items()}


def required_but_absent(event: Any, implied_type: str | None = None) -> str | None:
    """The first thing the contract requires that `event` lacks, or None if it lacks nothing."""
    if not isinstance(event, dict):
        return "object"
    fields = squashed(event)

    def present(name: str) -> bool:
        return fields.get(name) not in (None, "")

    event_type = str(fields.get("type") or fields.get("action") or implied_type or "").lower()
    if not event_type:
        return "type"
    if event_type in PERSON_TYPES and not (present("userid") or present("anonymousid")):
        return "userId or anonymousId"
    needs = {"track": ["event"], "group": ["groupid"], "alias": ["userid", "previousid"], "delete": ["userid"]}
    for name in needs.get(event_type, []):
        if not present(name):
            return _DISPLAY.get(name, name)
    return None


def event_type_of(event: dict[str, Any], implied_type: str | None = None) -> str:
    fields = squashed(event)
    return str(fields.get("type") or fields.get("action") or implied_type).lower()


SEGMENT_SPELLINGS = {
    "type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "name", "category", "traits",
    "properties", "context", "integrations", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "version",
    "channel", "writeKey",
}  # fmt: skip


def uses_segment_spelling(event: dict[str, Any]) -> bool:
    """True if every top-level key that names a Segment field is spelled as Segment spells it."""
    squashed_names = {name.lower() for name in SEGMENT_SPELLINGS}
    return all(key in SEGMENT_SPELLINGS for key in event if re.sub(r"[\s_-]", "", key).lower() in squashed_names)
