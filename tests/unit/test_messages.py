"""The SNS message format: times, attributes, FIFO ids and the size SNS counts."""

import json

import pytest

from chalicelib.errors import PayloadTooLarge
from chalicelib.messages import MAX_MESSAGE_BYTES, build_message, event_time, rfc3339_utc

RECEIVED = "2026-11-27T10:00:00.000Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T09:59:58.120Z", "2026-11-27T09:59:58.120Z"),
        ("2009-11-10T23:00:00Z", "2009-11-10T23:00:00.000Z"),
        ("2020-04-23T22:38:48.55Z", "2020-04-23T22:38:48.550Z"),
        ("2018-09-05T23:05:25.862826965Z", "2018-09-05T23:05:25.862Z"),
        ("2021-03-04T14:48:51.693229+05:30", "2021-03-04T09:18:51.693Z"),
        ("2021-03-04T01:00:00-02:00", "2021-03-04T03:00:00.000Z"),
        ("2021-03-04t01:00:00z", "2021-03-04T01:00:00.000Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("2021-12-31T23:59:59.9999999Z", "2021-12-31T23:59:59.999Z"),
    ],
)
def test_rfc3339_times_are_given_in_utc_with_milliseconds(value: str, expected: str) -> None:
    assert rfc3339_utc(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2017",
        "2015-02-02",
        "2015-2-02T00:30:08.276Z",
        "2020-05-09 23:54:49.209808489 +0000 UTC m=+70366.298768264",
        "2018-09-05T23:05:25.524122374Z[GMT]",
        "{{.Timestamp}}",
        "2021-02-30T00:00:00Z",
        "2021-01-01T24:00:00Z",
        "2021-01-01T00:00:60Z",
        "2021-01-01T00:00:00+24:00",
        "2021-01-01T00:00:00",
        "0001-01-01T00:00:00+01:00",
        "\uff12\uff10\uff12\uff11-01-01T00:00:00Z",  # full-width digits
        1609459200,
        None,
    ],
)
def test_anything_else_is_not_a_time(value: object) -> None:
    assert rfc3339_utc(value) is None


def test_the_event_time_prefers_timestamp_then_original_timestamp_then_received_at() -> None:
    assert event_time({"timestamp": "2021-01-01T00:00:00Z", "receivedAt": "2022-01-01T00:00:00Z"}, RECEIVED) == (
        "2021-01-01T00:00:00.000Z"
    )
    assert event_time({"timestamp": "x", "originalTimestamp": "2021-01-02T00:00:00Z"}, RECEIVED) == (
        "2021-01-02T00:00:00.000Z"
    )
    assert event_time({"timestamp": "x", "receivedAt": "2021-01-03T00:00:00Z"}, RECEIVED) == "2021-01-03T00:00:00.000Z"
    assert event_time({"timestamp": "x"}, RECEIVED) == RECEIVED


def event(**fields: object) -> dict[str, object]:
    return {"type": "identify", "userId": "u1", "messageId": "m-1", **fields}


def test_the_size_counts_the_body_and_each_attribute_name_type_and_value() -> None:
    message = build_message("arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, event())
    attribute_bytes = sum(len(name) + len("String") + len(value.encode()) for name, value in message.attributes.items())
    assert message.size == len(message.body.encode()) + attribute_bytes


def test_a_message_at_the_limit_is_built_and_one_byte_more_is_refused() -> None:
    probe = build_message("arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, event(pad=""))
    fitting = event(pad="x" * (MAX_MESSAGE_BYTES - probe.size))
    assert build_message("arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, fitting).size == MAX_MESSAGE_BYTES
    with pytest.raises(PayloadTooLarge):
        build_message(
            "arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, event(pad="x" * (MAX_MESSAGE_BYTES - probe.size + 1))
        )


def test_the_body_is_ascii_json_even_for_lone_surrogates() -> None:
    message = build_message("arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, event(name="\ud800é\x00"))
    assert message.body.isascii()
    assert json.loads(message.body)["event"]["name"] == "\ud800é\x00"


def test_standard_topics_get_no_fifo_ids_and_fifo_topics_get_bounded_ascii_ones() -> None:
    standard = build_message("arn:aws:sns:us-east-1:1:t", "42", RECEIVED, {}, event())
    fifo = build_message("arn:aws:sns:us-east-1:1:t.fifo", "42", RECEIVED, {}, event(userId="ü" * 500))
    assert (standard.group_id, standard.deduplication_id) == (None, None)
    for fifo_id in (fifo.group_id, fifo.deduplication_id):
        assert fifo_id is not None and fifo_id.isascii() and len(fifo_id) <= 128


def test_attributes_keep_every_character_xml_allows_and_replace_every_other() -> None:
    # XML 1.0's Char production: what SNS and SQS can carry in an attribute value.
    allowed = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE), *range(0x10000, 0x110000)}
    kept = ""
    # In slices, so that each message stays within SNS's size limit.
    for start in range(0, 0x110000, 0x2000):
        name = "".join(map(chr, range(start, min(start + 0x2000, 0x110000))))
        event = {"type": "track", "userId": "u1", "messageId": "m1", "event": name}
        kept += build_message("arn:aws:sns:us-east-1:123456789012:track", "1", RECEIVED, {}, event).attributes["event"]
    assert len(kept) == 0x110000
    assert all(kept[code] == chr(code) for code in allowed)
    assert {kept[code] for code in range(0x110000) if code not in allowed} == {"\ufffd"}
