"""Hostile input: always a clear 4xx with {"message"}, never a 5xx, a crash or a publish."""

import base64
import json

import pytest

from tests.aws import Deployment
from tests.helpers import Api, answer_of

VALID = {"type": "identify", "userId": "u1"}
MEGABYTE = 1024 * 1024

HOSTILE_BODIES: list[tuple[str, bytes, int]] = [
    ("a 10 MB body", b'{"type":"identify","userId":"u1","pad":"' + b"x" * 10 * MEGABYTE + b'"}', 413),
    ("40,000-deep objects", b'{"a":' * 40_000 + b"1" + b"}" * 40_000, 400),
    ("100,000-deep arrays", b"[" * 100_000 + b"]" * 100_000, 400),
    ("invalid UTF-8", b'{"type":"identify","userId":"\xc3\x28"}', 400),
    ("an overlong UTF-8 encoding", b'{"type":"identify","userId":"\xc0\xaf"}', 400),
    ("a lone surrogate in UTF-8", b'{"type":"identify","userId":"\xed\xa0\x80"}', 400),
    ("1e400", b'{"type":"identify","userId":"u1","n":1e400}', 400),
    ("-1e400", b'{"type":"identify","userId":"u1","n":-1e400}', 400),
    ("NaN", b'{"type":"identify","userId":"u1","n":NaN}', 400),
    ("Infinity", b'{"type":"identify","userId":"u1","n":Infinity}', 400),
    ("a 5,000-digit integer", b'{"type":"identify","userId":"u1","n":' + b"7" * 5000 + b"}", 400),
    ("an empty body", b"", 400),
    ("whitespace", b"  \n\t ", 400),
    ("two objects", b'{"type":"identify","userId":"u1"}{"type":"identify","userId":"u2"}', 400),
    ("a NUL byte outside strings", b'{"type":"identify",\x00"userId":"u1"}', 400),
    ("a raw control character in a string", b'{"type":"identify","userId":"u\x01"}', 400),
]


@pytest.mark.parametrize(("case", "body", "status"), HOSTILE_BODIES, ids=[case for case, _, _ in HOSTILE_BODIES])
def test_a_hostile_body_is_a_clear_4xx_and_nothing_is_published(
    api: Api, deployment: Deployment, case: str, body: bytes, status: int
) -> None:
    for path in ("/v1/segment", "/v1/batch", "/v1/identify"):
        response = api.post(body, path=path)
        assert response.status_code == status, (path, answer_of(response))
        assert set(answer_of(response)) == {"message"}
    assert deployment.delivered_anywhere() == []


def settings(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


HOSTILE_HEADERS: list[tuple[str, dict[str, str], int]] = [
    ("1 MB of X-Segment-Settings", {"X-Segment-Settings": settings({"pad": "x" * MEGABYTE})}, 400),
    ("X-Segment-Settings not base64", {"X-Segment-Settings": "%%%not base64%%%"}, 400),
    ("X-Segment-Settings not UTF-8", {"X-Segment-Settings": base64.b64encode(b"\xff\xfe\xfd").decode()}, 400),
    ("X-Segment-Settings a list", {"X-Segment-Settings": settings([1, 2])}, 400),
    ("X-Segment-Settings NaN", {"X-Segment-Settings": base64.b64encode(b'{"a": NaN}').decode()}, 400),
    (
        "X-Segment-Settings deeply nested",
        {"X-Segment-Settings": settings({}).replace("e30=", "") + base64.b64encode(b"[" * 5000).decode()},
        400,
    ),
    ("1 MB of Authorization", {"Authorization": "Basic " + "A" * MEGABYTE}, 401),
    ("Authorization with 10,000 colons", {"Authorization": "Basic " + base64.b64encode(b":" * 10_000).decode()}, 401),
    ("Authorization not Basic", {"Authorization": "Digest username=x"}, 401),
    ("a 1 MB Content-Type", {"Content-Type": "application/" + "x" * MEGABYTE}, 415),
    ("a 1 MB Content-Encoding", {"Content-Encoding": "x" * MEGABYTE}, 415),
]


@pytest.mark.parametrize(("case", "headers", "status"), HOSTILE_HEADERS, ids=[case for case, _, _ in HOSTILE_HEADERS])
def test_a_hostile_header_is_a_clear_4xx_and_nothing_is_published(
    api: Api, deployment: Deployment, case: str, headers: dict[str, str], status: int
) -> None:
    response = api.post(VALID, headers=headers)
    assert response.status_code == status
    assert set(answer_of(response)) == {"message"}
    assert deployment.delivered_anywhere() == []


def test_a_huge_header_the_service_does_not_read_changes_nothing(api: Api, deployment: Deployment) -> None:
    response = api.post(VALID, headers={"X-Whatever": "x" * MEGABYTE})
    assert response.status_code == 200
    assert len(deployment.delivered("identify")) == 1


def test_odd_but_valid_json_is_accepted_as_json_allows(api: Api, deployment: Deployment) -> None:
    body = b'\xef\xbb\xbf{"type":"track","userId":"u\\u0000","userId":"u2","event":"e\\u0000","n":1E+2,"d":-0.0}'
    response = api.post(body)
    assert response.status_code == 200
    [delivered] = deployment.delivered("track")
    assert (delivered.event["userId"], delivered.event["event"], delivered.event["n"]) == ("u2", "e\x00", 100.0)
    assert "\\u0000" in json.dumps(delivered.message)
