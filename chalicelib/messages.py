"""The SNS message consumers receive, and the topic it goes to: a product interface, changed only deliberately.

docs/contract.md §4: each type goes to its own topic, else a default one.
The message is one JSON object `{accountId, receivedAt, timestamp, settings,
event}` with the `String` attributes `type`, `accountId`, `messageId`,
`source` (and `event` for track) that subscription filter policies match on.
FIFO topics also get a group id (one person's events in order) and a
deduplication id (one per account and messageId).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from chalicelib import config
from chalicelib.errors import MessageTooLarge, UnhandledEventType

SOURCE = "segment"
# SNS's limit for the message body and all attributes together.
MAX_MESSAGE_BYTES = 256 * 1024

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))\Z",
    re.ASCII,
)
# SNS and SQS carry only XML's characters in attribute values; anything else
# would make delivery fail downstream, after we had answered 200. Spelled as
# the characters XML excludes: the negated class of those it allows compiles
# ten times slower, at every cold start.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Message:
    """One SNS publish: the body, its attributes and, for FIFO topics, its ids.

    `message_id` is the event's own messageId, exactly as published in the body.
    """

    topic_arn: str
    body: str
    attributes: dict[str, str]
    message_id: str
    group_id: str | None = None
    deduplication_id: str | None = None

    @property
    def event_type(self) -> str:
        return self.attributes["type"]

    @cached_property
    def size(self) -> int:
        """Bytes SNS counts against its limit: the body plus each attribute's name, type and value."""
        attributes = self.attributes.items()
        return len(self.body) + sum(len(name) + len("String") + len(value.encode()) for name, value in attributes)


def topic_for(event_type: str) -> str:
    """The topic for `event_type`: its own, else the default; `UnhandledEventType` (501) when there is none."""
    arn = config.topic_arn(event_type)
    if arn is None:
        raise UnhandledEventType("type: this deployment has no topic for events of this type")
    return arn


def build_message(
    topic_arn: str,
    account_id: str,
    received_at: str,
    settings: dict[str, Any],
    event: dict[str, Any],
) -> Message:
    """The message for a validated event; `PayloadTooLarge` if SNS could not carry it."""
    envelope = {
        "accountId": account_id,
        "receivedAt": received_at,
        "timestamp": event_time(event, received_at),
        "settings": settings,
        "event": event,
    }
    # ASCII-only JSON: lone surrogates and non-characters a sender put in a
    # string reach consumers escaped instead of failing the publish.
    body = json.dumps(envelope, separators=(",", ":"))
    message = Message(
        topic_arn=topic_arn,
        body=body,
        attributes=_attributes(account_id, event),
        message_id=event["messageId"],
        **_fifo_ids(topic_arn, account_id, event),
    )
    if message.size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"the message would be {message.size} bytes; SNS carries at most {MAX_MESSAGE_BYTES}", message.size
        )
    return message


def encoded_size(value: Any) -> int:
    """The bytes `value` takes in a message body, encoded as `build_message` encodes it."""
    return len(json.dumps(value, separators=(",", ":")))


def _attributes(account_id: str, event: dict[str, Any]) -> dict[str, str]:
    attributes = {
        "type": event["type"],
        "accountId": account_id,
        "messageId": _attribute_safe(event["messageId"]),
        "source": SOURCE,
    }
    if event["type"] == "track":
        attributes["event"] = _attribute_safe(event["event"])
    return attributes


def _attribute_safe(value: str) -> str:
    """The value with characters SNS cannot carry replaced; the event keeps the original."""
    return _NOT_XML_CHAR.sub("\ufffd", value)


def _fifo_ids(topic_arn: str, account_id: str, event: dict[str, Any]) -> dict[str, str]:
    if not topic_arn.endswith(".fifo"):
        return {}
    # Validation guarantees userId or anonymousId on every type: one of them
    # for identify, track, page, screen and group, userId for alias and delete.
    person = event.get("userId") or event.get("anonymousId") or ""
    return {
        "group_id": _digest(account_id, person),
        "deduplication_id": _digest(account_id, event["messageId"]),
    }


def _digest(account_id: str, value: str) -> str:
    """A FIFO id from any string: SNS allows 128 characters of ASCII punctuation and alphanumerics."""
    return hashlib.sha256(f"{account_id}/{value}".encode("utf-8", "surrogatepass")).hexdigest()


def received_now() -> str:
    """Now, as the contract writes times: UTC ISO-8601 with milliseconds and `Z`."""
    return _iso_millis(datetime.now(UTC))


def event_time(event: dict[str, Any], received_at: str) -> str:
    """The first RFC 3339 time among the event's own times, else when we received it."""
    for field in ("timestamp", "originalTimestamp", "receivedAt"):
        parsed = rfc3339_utc(event.get(field))
        if parsed is not None:
            return parsed
    return received_at


def rfc3339_utc(value: Any) -> str | None:
    """`value` in UTC with milliseconds if it is an RFC 3339 date-time, else None."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, offset_h, offset_m = match.groups()
    offset = timedelta(0)
    if sign:
        offset = timedelta(hours=int(offset_h), minutes=int(offset_m)) * (-1 if sign == "-" else 1)
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond, timezone(offset)
        )
        return _iso_millis(local.astimezone(UTC))
    except (ValueError, OverflowError):
        # Out-of-range fields (month 13, second 60, offset 24:00) or a UTC
        # time before year 1: not a usable time.
        return None


def _iso_millis(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
