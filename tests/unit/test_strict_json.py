"""RFC 8259 JSON and nothing more: what Python's parser would let through is a BadRequest."""

import pytest

from chalicelib import strict_json
from chalicelib.errors import BadRequest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
        (b'{"a": 1, "a": 2}', {"a": 2}),
        (b'{"a": "\\u0000"}', {"a": "\x00"}),
        (b'{"n": 1.7976931348623157e308}', {"n": 1.7976931348623157e308}),
        (b'{"n": -' + str(int(1.7976931348623157e308)).encode() + b"}", None),
        (b"[" * 100 + b"]" * 100, None),
    ],
    ids=["object", "BOM", "duplicate keys", "NUL", "largest float", "largest float as an integer", "depth 100"],
)
def test_what_rfc_8259_allows_is_accepted(raw: bytes, expected: object) -> None:
    value = strict_json.parse(raw, "body")
    if expected is not None:
        assert value == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"n": NaN}', "NaN is not a JSON number"),
        (b'{"n": Infinity}', "Infinity is not a JSON number"),
        (b"[1e400]", "does not fit a 64-bit float"),
        (b"[-1e309]", "does not fit a 64-bit float"),
        (b"[" + b"9" * 310 + b"]", "does not fit a 64-bit float"),
        (b"[" + b"9" * 5000 + b"]", "does not fit a 64-bit float"),
        (b"[" * 101 + b"]" * 101, "nested deeper than 100 levels"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested deeper than 100 levels"),
        (b"\xc3\x28", "not valid UTF-8"),
        (b"", "not valid JSON"),
        (b'{"a": "\x01"}', "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b'{"a": 1,}', "not valid JSON"),
    ],
)
def test_what_rfc_8259_does_not_allow_is_a_bad_request(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        strict_json.parse(raw, "body")


def test_error_messages_name_what_was_parsed() -> None:
    with pytest.raises(BadRequest, match=r"^X-Segment-Settings is not valid JSON"):
        strict_json.parse(b"{", "X-Segment-Settings")


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[]", "an array"), (b'"s"', "a string"), (b"null", "null"), (b"1", "a number")]
)
def test_parse_object_refuses_other_values(raw: bytes, kind: str) -> None:
    with pytest.raises(BadRequest, match=f"must be a JSON object, not {kind}"):
        strict_json.parse_object(raw, "body")
