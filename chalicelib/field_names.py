"""Segment's top-level field names, whatever casing or separators a sender used.

Segment warns partners that "the casing on these fields will vary by customer";
published payloads carry `user_id`, `message_id`, `"User ID"` and
`"Previous ID"`. Consumers should only ever see Segment's own spelling, so the
envelope fields are renamed here, before validation; everything else, and
everything nested, keeps the name it was sent with.
"""

from typing import Any

from chalicelib.errors import BadRequest

SEGMENT_FIELDS = (
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "event",
    "name",
    "category",
    "traits",
    "properties",
    "context",
    "integrations",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "version",
    "channel",
    "writeKey",
)

_SEPARATORS = str.maketrans("", "", "_- ")


def _squash(name: str) -> str:
    return name.translate(_SEPARATORS).lower()


# Some of Segment's docs examples say "action": "track" where the spec says
# "type": one more spelling of the type, held to the same rule as the others.
_BY_SQUASHED = {_squash(name): name for name in SEGMENT_FIELDS} | {"action": "type"}


def canonical_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The same event with Segment's fields under Segment's names, in the sent order.

    Two spellings of one field are fine when they agree and a `BadRequest` when
    they do not: there is no way to know which one the sender meant.
    """
    renamed: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in event.items():
        name = _BY_SQUASHED.get(_squash(key), key)
        if name in renamed and not _agree(name, renamed[name], value):
            raise BadRequest(f"{name}: sent as both {spelled[name]!r} and {key!r} with different values")
        renamed[name] = value
        spelled.setdefault(name, key)
    return renamed


def _agree(name: str, first: Any, second: Any) -> bool:
    """Whether two spellings of one field say the same; the type, matched without case, may differ in case."""
    if name == "type" and isinstance(first, str) and isinstance(second, str):
        return first.lower() == second.lower()
    return bool(first == second)


def sent_value(event: dict[str, Any], name: str) -> Any:
    """The value of Segment field `name` under any spelling, without checking for conflicts."""
    squashed = _squash(name)
    return next((value for key, value in event.items() if _squash(key) == squashed), None)
