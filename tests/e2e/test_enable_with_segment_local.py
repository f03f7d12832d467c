"""Enable with Segment over real HTTP: `make run`'s service, the fake Segment, and a browser's redirects."""

import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
import requests

from chalicelib.segment_enable import signing
from tests.aws import basic_auth
from tests.e2e.conftest import DEMO_KEY, LocalRun, free_port, start_local_run
from tests.fake_segment import CLIENT_ID, CLIENT_SECRET, SLUG, FakeSegment, running_fake_segment

LINK_SECRET = "e2e-link-secret"


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[LocalRun, FakeSegment]]:
    """`make run`'s service, configured as Emma's partner app in the fake Segment."""
    fake = running_fake_segment()
    port = free_port()
    settings = {
        "SEGMENT_OAUTH_CLIENT_ID": CLIENT_ID,
        "SEGMENT_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "SEGMENT_DESTINATION_SLUG": SLUG,
        "SEGMENT_OAUTH_REDIRECT_URI": f"http://127.0.0.1:{port}/v1/segment/enable/callback",
        "SEGMENT_ENABLE_LINK_SECRET": LINK_SECRET,
        "SEGMENT_OAUTH_URL": fake.url,
        "SEGMENT_API_URL": fake.url,
        "REQUESTS_CA_BUNDLE": str(fake.ca_bundle),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        run = start_local_run(port=port)
    yield run, fake
    run.stop()


@pytest.fixture
def segment(service: tuple[LocalRun, FakeSegment]) -> FakeSegment:
    _, fake = service
    fake.reset()
    fake.register_redirect_uri(f"{service[0].url}/v1/segment/enable/callback")
    return fake


def follow(url: str, fake: FakeSegment, headers: dict[str, str] | None = None) -> requests.Response:
    """A browser's way from `url` to the final page, keeping the flow's cookie.

    The cookie is carried by hand: it is `Secure`, which a cookie jar keeps
    from plain-HTTP `chalice local`, as browsers do except on localhost.
    """
    cookies: dict[str, str] = {}
    for _ in range(5):
        sent = dict(headers or {})
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        response = requests.get(url, headers=sent, allow_redirects=False, verify=str(fake.ca_bundle), timeout=10)
        for name, morsel in SimpleCookie(response.headers.get("Set-Cookie", "")).items():
            cookies[name] = morsel.value
        if response.status_code != 302:
            return response
        url, headers = response.headers["Location"], None
    raise AssertionError("too many redirects")


def test_a_customer_enables_emma_with_a_link_from_the_emma_app(
    service: tuple[LocalRun, FakeSegment], segment: FakeSegment
) -> None:
    run, _ = service
    expires = int(time.time()) + 300
    link = f"{run.url}/v1/segment/enable/link?" + urlencode(
        {"account": "4242", "expires": expires, "signature": signing.link_signature(LINK_SECRET, "4242", expires)}
    )

    page = follow(link, segment)

    assert page.status_code == 200, page.text
    assert "Emma is enabled in Segment" in page.text
    destination_key = segment.api_key()
    assert destination_key is not None
    assert run.keys().find(destination_key).account_id == "4242"  # type: ignore[union-attr]
    event = requests.post(
        run.endpoint,
        json={"type": "identify", "userId": "u1"},
        headers={"Authorization": basic_auth(destination_key)},
        timeout=10,
    )
    assert event.status_code == 200


def test_a_customer_with_an_api_key_finds_emma_already_enabled(
    service: tuple[LocalRun, FakeSegment], segment: FakeSegment
) -> None:
    run, _ = service
    segment.add_destination(DEMO_KEY, enabled=True)

    page = follow(f"{run.url}/v1/segment/enable", segment, headers={"Authorization": basic_auth(DEMO_KEY)})

    assert page.status_code == 200, page.text
    assert "Emma was already enabled" in page.text
