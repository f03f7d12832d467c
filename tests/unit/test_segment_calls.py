"""Calls to Segment are bounded in time, and their failures are told apart."""

import time

import pytest
from requests_oauthlib import OAuth2Session

from chalicelib.segment_enable import segment
from chalicelib.segment_enable.errors import ConfigApiUnavailable, TokenExchangeFailed
from tests.fake_segment import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SLUG, SOURCE, FakeSegment, running_fake_segment

# API Gateway answers 504 after 29 seconds whatever the function is doing.
API_GATEWAY_SECONDS = 29


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSegment:
    fake = running_fake_segment()
    fake.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_bundle))
    return fake


def partner_app(fake: FakeSegment) -> segment.PartnerApp:
    return segment.PartnerApp(CLIENT_ID, CLIENT_SECRET, SLUG, REDIRECT_URI, fake.url, fake.url)


def test_the_longest_callback_fits_within_api_gateways_timeout() -> None:
    """The code exchange, a read and two writes, each at its connect and read timeouts."""
    assert 4 * sum(segment.TIMEOUT) < API_GATEWAY_SECONDS - 3


def test_a_config_api_that_does_not_answer_in_time_is_unavailable(fake: FakeSegment) -> None:
    fake.stall(1.0)
    destinations = segment.Destinations(OAuth2Session(CLIENT_ID), fake.url, SOURCE, SLUG, timeout=(1.0, 0.2))
    started = time.monotonic()
    with pytest.raises(ConfigApiUnavailable) as error:
        destinations.get()
    assert time.monotonic() - started < 0.9
    assert error.value.detail == "Config API GET: ReadTimeout"


def test_a_token_endpoint_that_does_not_answer_in_time_fails_the_exchange(fake: FakeSegment) -> None:
    fake.stall(1.0)
    started = time.monotonic()
    with pytest.raises(TokenExchangeFailed) as error:
        segment.exchange_code(partner_app(fake), "code", timeout=(1.0, 0.2))
    assert time.monotonic() - started < 0.9
    assert error.value.detail == "token exchange: ReadTimeout"


def test_an_unreachable_segment_fails_the_exchange(fake: FakeSegment) -> None:
    app = segment.PartnerApp(CLIENT_ID, CLIENT_SECRET, SLUG, REDIRECT_URI, "https://127.0.0.1:9", fake.url)
    with pytest.raises(TokenExchangeFailed) as error:
        segment.exchange_code(app, "code")
    assert error.value.detail == "token exchange: ConnectionError"


def test_a_certificate_that_is_not_trusted_fails_the_exchange(
    fake: FakeSegment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(TokenExchangeFailed) as error:
        segment.exchange_code(partner_app(fake), "code")
    assert error.value.detail == "token exchange: SSLError"
