"""POST /v1/segment through the real Chalice app, on moto, reading what SNS delivered."""

import base64
import json
import re
from typing import Any

import pytest

from chalicelib.schemas import EVENT_TYPES
from tests.aws import Deployment
from tests.helpers import Api, answer_of, configure

MINIMAL_EVENTS: dict[str, dict[str, Any]] = {
    "identify": {"type": "identify", "userId": "u1", "traits": {"email": "peter@example.com"}},
    "track": {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"total": 29.0}},
    "page": {"type": "page", "anonymousId": "a1", "name": "Home"},
    "screen": {"type": "screen", "anonymousId": "a1", "name": "Settings"},
    "group": {"type": "group", "userId": "u1", "groupId": "g1"},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
    "delete": {"type": "delete", "userId": "u1"},
}
ISO_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


def settings_header(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_type_is_published_to_its_own_topic_and_answered_200(
    api: Api, deployment: Deployment, event_type: str
) -> None:
    # GIVEN a minimal valid event of each type
    event = MINIMAL_EVENTS[event_type]
    # WHEN Segment delivers it
    response = api.post(event)
    # THEN it is answered 200 with its messageId, and lands on that type's topic only
    assert response.status_code == 200
    [delivered] = deployment.delivered(event_type)
    assert answer_of(response) == {"messageId": delivered.event["messageId"]}
    assert delivered.event["type"] == event_type
    assert deployment.delivered_anywhere() == []


def test_the_envelope_carries_account_times_settings_and_the_normalized_event(api: Api, deployment: Deployment) -> None:
    event = {
        "type": "identify",
        "messageId": "m-1",
        "userId": "u1",
        "timestamp": "2026-11-27T09:59:58.12+01:00",
        "traits": {"email": "peter@example.com"},
    }
    response = api.post(event, headers={"X-Segment-Settings": settings_header({"groupIds": ["42"]})})
    assert response.status_code == 200
    [delivered] = deployment.delivered("identify")
    message = delivered.message
    assert list(message) == ["accountId", "receivedAt", "timestamp", "settings", "event"]
    assert message["accountId"] == "1234"
    assert ISO_MILLIS.match(message["receivedAt"])
    assert message["timestamp"] == "2026-11-27T08:59:58.120Z"
    assert message["settings"] == {"groupIds": ["42"]}
    assert message["event"] == event


def test_message_attributes_name_type_account_message_and_source(api: Api, deployment: Deployment) -> None:
    api.post({"type": "identify", "userId": "u1", "messageId": "m-1"})
    [delivered] = deployment.delivered("identify")
    assert delivered.attributes == {"type": "identify", "accountId": "1234", "messageId": "m-1", "source": "segment"}


def test_track_attributes_also_carry_the_event_name_for_filter_policies(api: Api, deployment: Deployment) -> None:
    api.post({"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m-1"})
    [delivered] = deployment.delivered("track")
    assert delivered.attributes["event"] == "Order Completed"


def test_settings_are_an_empty_object_without_the_header_or_with_an_empty_one(api: Api, deployment: Deployment) -> None:
    api.post(MINIMAL_EVENTS["identify"])
    assert api.post(MINIMAL_EVENTS["identify"], headers={"X-Segment-Settings": " "}).status_code == 200
    assert [item.message["settings"] for item in deployment.delivered("identify")] == [{}, {}]


def test_the_event_body_cannot_choose_the_account(api: Api, deployment: Deployment) -> None:
    api.post({**MINIMAL_EVENTS["identify"], "accountId": "9999", "account_id": "9999"})
    [delivered] = deployment.delivered("identify")
    assert delivered.message["accountId"] == "1234"
    assert delivered.attributes["accountId"] == "1234"


def test_the_timestamp_falls_back_to_when_the_endpoint_received_the_event(api: Api, deployment: Deployment) -> None:
    api.post({**MINIMAL_EVENTS["delete"], "timestamp": "2017", "originalTimestamp": "yesterday"})
    [delivered] = deployment.delivered("delete")
    assert delivered.message["timestamp"] == delivered.message["receivedAt"]
    assert delivered.event["timestamp"] == "2017"


def test_the_timestamp_is_taken_from_original_timestamp_when_timestamp_is_not_rfc3339(
    api: Api, deployment: Deployment
) -> None:
    api.post({**MINIMAL_EVENTS["track"], "timestamp": "2015-2-02T00:30:08.276Z", "originalTimestamp": "2015-02-02"})
    api.post({**MINIMAL_EVENTS["track"], "timestamp": None, "originalTimestamp": "2015-02-02T00:30:08.276543Z"})
    first, second = deployment.delivered("track")
    assert first.message["timestamp"] == first.message["receivedAt"]
    assert second.message["timestamp"] == "2015-02-02T00:30:08.276Z"


# --- normalization (docs/contract.md §3) ---


def test_fields_are_matched_whatever_their_casing_and_published_in_segments_spelling(
    api: Api, deployment: Deployment
) -> None:
    response = api.post(
        {"TYPE": "Track", "user_id": "u1", "Message-ID": "m-1", "EVENT": "Signed Up", "Properties": {"Plan": "pro"}}
    )
    assert response.status_code == 200
    [delivered] = deployment.delivered("track")
    assert delivered.event == {
        "type": "track",
        "userId": "u1",
        "messageId": "m-1",
        "event": "Signed Up",
        "properties": {"Plan": "pro"},
    }


def test_title_case_keys_with_spaces_are_segment_fields(api: Api, deployment: Deployment) -> None:
    response = api.post({"type": "alias", "Previous ID": "old", "User ID": "new"})
    assert response.status_code == 200
    [delivered] = deployment.delivered("alias")
    assert (delivered.event["previousId"], delivered.event["userId"]) == ("old", "new")
    assert "User ID" not in delivered.event


def test_action_is_read_as_type_and_not_published(api: Api, deployment: Deployment) -> None:
    response = api.post({"action": "track", "user_id": "u1", "event": "Email Bounced"})
    assert response.status_code == 200
    [delivered] = deployment.delivered("track")
    assert delivered.event["type"] == "track"
    assert "action" not in delivered.event


def test_two_spellings_of_one_field_must_agree(api: Api, deployment: Deployment) -> None:
    agreeing = api.post({"type": "identify", "userId": "u1", "user_id": "u1"})
    conflicting = api.post({"type": "identify", "userId": "u1", "user_id": "u2"})
    assert agreeing.status_code == 200
    assert conflicting.status_code == 400
    assert "userId" in answer_of(conflicting)["message"]
    assert len(deployment.delivered("identify")) == 1


def test_integer_ids_are_published_as_strings(api: Api, deployment: Deployment) -> None:
    api.post({"type": "group", "userId": 42, "groupId": 6052204319312, "messageId": 7})
    [delivered] = deployment.delivered("group")
    assert (delivered.event["userId"], delivered.event["groupId"], delivered.event["messageId"]) == (
        "42",
        "6052204319312",
        "7",
    )


def test_null_ids_and_null_or_empty_list_containers_count_as_absent(api: Api, deployment: Deployment) -> None:
    api.post({"type": "delete", "userId": "u1", "anonymousId": None, "context": None, "integrations": []})
    [delivered] = deployment.delivered("delete")
    assert set(delivered.event) == {"type", "userId", "messageId"}


def test_empty_objects_are_kept(api: Api, deployment: Deployment) -> None:
    api.post({**MINIMAL_EVENTS["track"], "properties": {}, "context": {}})
    [delivered] = deployment.delivered("track")
    assert (delivered.event["properties"], delivered.event["context"]) == ({}, {})


def test_unknown_and_nested_fields_are_kept_untouched_in_the_sent_order(api: Api, deployment: Deployment) -> None:
    event = {
        "email": "peter@example.com",
        "type": "identify",
        "_metadata": {"bundled": ["Segment.io"]},
        "userId": "u1",
        "traits": {"user_id": "nested", "Type": "x", "sessions count": 3},
        "version": "1.1",
        "projectId": "p1",
        "messageId": "m-1",
    }
    api.post(event)
    [delivered] = deployment.delivered("identify")
    assert delivered.event == event
    assert list(delivered.event) == list(event)


def test_the_write_key_is_never_published(api: Api, deployment: Deployment) -> None:
    api.post({**MINIMAL_EVENTS["identify"], "writeKey": "source-secret", "write_key": "source-secret"})
    [delivered] = deployment.delivered("identify")
    assert "source-secret" not in json.dumps(delivered.message)


def test_a_missing_or_empty_message_id_is_generated(api: Api, deployment: Deployment) -> None:
    api.post(MINIMAL_EVENTS["identify"])
    api.post({**MINIMAL_EVENTS["identify"], "messageId": ""})
    first, second = (item.event["messageId"] for item in deployment.delivered("identify"))
    assert first and second and first != second


def test_time_fields_are_kept_as_sent_and_never_a_reason_to_reject(api: Api, deployment: Deployment) -> None:
    times = {
        "timestamp": "{{.Timestamp}}",
        "originalTimestamp": "2020-05-09 23:54:49.209808489 +0000 UTC m=+70366.298768264",
        "sentAt": None,
        "receivedAt": 1234,
    }
    response = api.post({**MINIMAL_EVENTS["delete"], **times})
    assert response.status_code == 200
    [delivered] = deployment.delivered("delete")
    assert {name: delivered.event[name] for name in times} == times


def test_a_utf8_bom_is_ignored(api: Api, deployment: Deployment) -> None:
    response = api.post(b"\xef\xbb\xbf" + json.dumps(MINIMAL_EVENTS["identify"]).encode())
    assert response.status_code == 200


def test_nul_characters_survive_escaped_into_the_published_message(api: Api, deployment: Deployment) -> None:
    api.post(b'{"type":"track","userId":"u1","event":"a\\u0000b","properties":{"k\\u0000":"v\\u0000"}}')
    [delivered] = deployment.delivered("track")
    assert delivered.event["event"] == "a\x00b"
    assert delivered.event["properties"] == {"k\x00": "v\x00"}


def test_with_duplicate_keys_the_last_value_wins(api: Api, deployment: Deployment) -> None:
    api.post(b'{"type":"alias","userId":"first","previousId":"p","userId":"last"}')
    [delivered] = deployment.delivered("alias")
    assert delivered.event["userId"] == "last"


def test_attribute_values_sns_cannot_carry_are_replaced_but_the_event_keeps_them(
    api: Api, deployment: Deployment
) -> None:
    response = api.post(b'{"type":"track","userId":"u1","event":"bad\\ud800name","messageId":"m\\u0001"}')
    assert response.status_code == 200
    [delivered] = deployment.delivered("track")
    assert delivered.attributes["event"] == "bad\ufffdname"
    assert delivered.attributes["messageId"] == "m\ufffd"
    assert delivered.event["messageId"] == "m\x01"


# --- 400: never retried, nothing published ---

BAD_REQUESTS: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{type: identify}", "body is not valid JSON"),
    ("truncated JSON", b'{"type": "identify"', "body is not valid JSON"),
    ("an array", b'[{"type": "identify", "userId": "u1"}]', "body must be a JSON object"),
    ("a string", b'"identify"', "body must be a JSON object"),
    ("NaN", b'{"type":"track","userId":"u1","event":"e","properties":{"x":NaN}}', "NaN"),
    ("Infinity", b'{"type":"track","userId":"u1","event":"e","properties":{"x":-Infinity}}', "Infinity"),
    ("1e400", b'{"type":"track","userId":"u1","event":"e","properties":{"x":1e400}}', "64-bit float"),
    ("a 400-digit integer", b'{"type":"identify","userId":"u1","n":' + b"9" * 400 + b"}", "64-bit float"),
    ("nesting of 101 levels", b'{"type":"identify","userId":"u1","t":' + b"[" * 100 + b"]" * 100 + b"}", "nested"),
    ("nesting of 100,000 levels", b"[" * 100_000, "nested"),
    ("invalid UTF-8", b'{"type":"identify","userId":"\xff\xfe"}', "UTF-8"),
    ("no type", b'{"userId":"u1"}', "type"),
    ("a type that is not a string", b'{"type":["identify"],"userId":"u1"}', "type"),
    ("identify without userId or anonymousId", b'{"type":"identify","traits":{}}', "userId or anonymousId"),
    ("an empty userId and anonymousId", b'{"type":"page","userId":"","anonymousId":""}', "userId or anonymousId"),
    ("track without event", b'{"type":"track","userId":"u1"}', "event"),
    ("track with an empty event", b'{"type":"track","userId":"u1","event":""}', "event"),
    ("track with a numeric event", b'{"type":"track","userId":"u1","event":7}', "event"),
    ("group without groupId", b'{"type":"group","userId":"u1"}', "groupId"),
    ("alias without previousId", b'{"type":"alias","userId":"u1"}', "previousId"),
    ("delete without userId", b'{"type":"delete","anonymousId":"a1"}', "userId"),
    ("a boolean userId", b'{"type":"identify","userId":true}', "userId"),
    ("a float anonymousId", b'{"type":"identify","anonymousId":1.5}', "anonymousId"),
    ("an object groupId", b'{"type":"group","userId":"u","groupId":{"id":1}}', "groupId"),
    ("a list messageId", b'{"type":"identify","userId":"u","messageId":["m"]}', "messageId"),
    ("string traits", b'{"type":"identify","userId":"u1","traits":"vip"}', "traits"),
    ("a list of properties", b'{"type":"track","userId":"u1","event":"e","properties":[1]}', "properties"),
    ("numeric context", b'{"type":"identify","userId":"u1","context":3}', "context"),
    ("boolean integrations", b'{"type":"identify","userId":"u1","integrations":true}', "integrations"),
]


@pytest.mark.parametrize(("case", "body", "named"), BAD_REQUESTS, ids=[case for case, _, _ in BAD_REQUESTS])
def test_bad_input_is_a_400_naming_the_fault_and_nothing_is_published(
    api: Api, deployment: Deployment, case: str, body: bytes, named: str
) -> None:
    response = api.post(body)
    assert response.status_code == 400
    assert named in answer_of(response)["message"]
    assert set(answer_of(response)) == {"message"}
    assert deployment.delivered_anywhere() == []


MALFORMED_SETTINGS = [
    ("not base64", "not base64!", "is not base64"),
    ("not UTF-8", base64.b64encode(b"\xff\xfe").decode(), "UTF-8"),
    ("not JSON", base64.b64encode(b"{groupIds}").decode(), "not valid JSON"),
    ("a list", settings_header(["42"]), "must be a JSON object"),
]


@pytest.mark.parametrize(("case", "header", "named"), MALFORMED_SETTINGS, ids=[c for c, _, _ in MALFORMED_SETTINGS])
def test_malformed_segment_settings_are_a_400(
    api: Api, deployment: Deployment, case: str, header: str, named: str
) -> None:
    response = api.post(MINIMAL_EVENTS["identify"], headers={"X-Segment-Settings": header})
    assert response.status_code == 400
    message = answer_of(response)["message"]
    assert message.startswith("X-Segment-Settings") and named in message
    assert deployment.delivered_anywhere() == []


# --- 413, 415, 501 ---


def test_a_body_larger_than_sns_can_carry_is_a_413(api: Api, deployment: Deployment) -> None:
    padding = "x" * (256 * 1024)
    response = api.post({**MINIMAL_EVENTS["identify"], "traits": {"notes": padding}})
    assert response.status_code == 413
    assert "body" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


def test_a_message_that_grows_past_sns_limit_is_a_413(api: Api, deployment: Deployment) -> None:
    # GIVEN a body under the limit whose text triples when escaped as ASCII for SNS
    event = {**MINIMAL_EVENTS["identify"], "traits": {"notes": "é" * 60_000}}
    response = api.post(json.dumps(event, ensure_ascii=False).encode())
    assert response.status_code == 413
    assert "message" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_not_declared_as_json_is_a_415(api: Api, deployment: Deployment, content_type: str) -> None:
    response = api.post(MINIMAL_EVENTS["identify"], headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "Content-Type" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/ld+json"])
def test_json_content_types_with_parameters_or_suffixes_are_accepted(
    api: Api, deployment: Deployment, content_type: str
) -> None:
    response = api.post(MINIMAL_EVENTS["identify"], headers={"Content-Type": content_type})
    assert response.status_code == 200


def test_an_unknown_type_is_a_501(api: Api, deployment: Deployment) -> None:
    response = api.post({"type": "observability", "userId": "u1"})
    assert response.status_code == 501
    assert answer_of(response)["message"].startswith("type: is not handled")
    assert "observability" not in answer_of(response)["message"]


def test_a_type_without_a_topic_is_a_501(client: Any, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = Deployment()
    deployment.add_topic("identify")
    configure(monkeypatch, deployment)
    api = Api(client, deployment.create_key())
    response = api.post(MINIMAL_EVENTS["track"])
    assert response.status_code == 501
    assert answer_of(response) == {"message": "type: this deployment has no topic for events of this type"}


def test_types_without_their_own_topic_go_to_the_default_topic(
    client: Any, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment()
    deployment.add_topics(["identify", "default"])
    configure(monkeypatch, deployment)
    api = Api(client, deployment.create_key())
    api.post(MINIMAL_EVENTS["track"])
    api.post(MINIMAL_EVENTS["identify"])
    assert [item.event["type"] for item in deployment.delivered("default")] == ["track"]
    assert [item.event["type"] for item in deployment.delivered("identify")] == ["identify"]


# --- FIFO topics ---


def test_fifo_topics_get_a_group_per_person_and_a_deduplication_id_per_message(
    client: Any, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(fifo=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    api = Api(client, deployment.create_key("1234"))
    for event in (
        {"type": "track", "userId": "u1", "event": "first", "messageId": "m-1"},
        {"type": "track", "userId": "u1", "anonymousId": "a9", "event": "second", "messageId": "m-2"},
        {"type": "track", "anonymousId": "a9", "event": "third", "messageId": "m-3"},
    ):
        assert api.post(event).status_code == 200
    first, second, third = deployment.delivered("track")
    assert first.group_id == second.group_id != third.group_id
    assert first.group_id and third.group_id and len({first.group_id, third.group_id}) == 2
    deduplication_ids = {item.deduplication_id for item in (first, second, third)}
    assert len(deduplication_ids) == 3 and None not in deduplication_ids


def test_fifo_deduplication_ids_differ_between_accounts_for_one_message_id(
    client: Any, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(fifo=True)
    deployment.add_topics(["identify"])
    configure(monkeypatch, deployment)
    event = {"type": "identify", "userId": "u1", "messageId": "I'm unique"}
    for account in ("1", "2"):
        assert Api(client, deployment.create_key(account)).post(event).status_code == 200
    first, second = deployment.delivered("identify")
    assert first.deduplication_id != second.deduplication_id
    assert first.group_id != second.group_id


# --- Accept header ---


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html"])
def test_answers_do_not_depend_on_the_accept_header(api: Api, deployment: Deployment, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    accepted = api.post(MINIMAL_EVENTS["identify"], headers=headers)
    rejected = api.post(b"{", headers=headers)
    assert (accepted.status_code, rejected.status_code) == (200, 400)
    assert answer_of(accepted)["messageId"]
    assert answer_of(rejected)["message"]
