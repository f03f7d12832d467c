"""Enable with Segment through the real app, against a fake Segment over HTTPS and keys on moto.

A test plays the customer's browser: it starts the flow at the app, follows
the redirect to the fake's consent page, and brings Segment's redirect back to
the app's callback, carrying the flow's cookie as a browser would.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
from chalice.test import Client

from chalicelib.keys import ApiKey
from chalicelib.process_cache import forget_all
from chalicelib.segment_enable import signing
from chalicelib.segment_enable.views import COOKIE
from tests.aws import Deployment, basic_auth
from tests.fake_segment import (
    CLIENT_ID,
    CLIENT_SECRET,
    DESTINATION,
    REDIRECT_URI,
    SLUG,
    FakeSegment,
    running_fake_segment,
)
from tests.helpers import Api, configure

LINK_SECRET = "link-secret-canary-9b7e"
CALLBACK_PATH = urlsplit(REDIRECT_URI).path
# API Gateway's stage prefix, which the test client's routes do not have.
STAGE_PREFIX = CALLBACK_PATH.removesuffix("/v1/segment/enable/callback")


def environment(fake: FakeSegment) -> dict[str, str]:
    return {
        "SEGMENT_OAUTH_CLIENT_ID": CLIENT_ID,
        "SEGMENT_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "SEGMENT_DESTINATION_SLUG": SLUG,
        "SEGMENT_OAUTH_REDIRECT_URI": REDIRECT_URI,
        "SEGMENT_ENABLE_LINK_SECRET": LINK_SECRET,
        "SEGMENT_OAUTH_URL": fake.url,
        "SEGMENT_API_URL": fake.url,
        "REQUESTS_CA_BUNDLE": str(fake.ca_bundle),
    }


@pytest.fixture
def deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """Only the key table: the flow publishes nothing (a test that sends events adds a topic)."""
    deployment = Deployment()
    configure(monkeypatch, deployment)
    return deployment


@pytest.fixture
def key(deployment: Deployment) -> str:
    """An active key of account 1234, which starts the flow."""
    return deployment.create_key("1234")


@pytest.fixture
def segment(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> FakeSegment:
    """The fake Segment, emptied, and the service configured as Emma's partner app in it."""
    fake = running_fake_segment()
    fake.reset()
    for name, value in environment(fake).items():
        monkeypatch.setenv(name, value)
    forget_all()
    return fake


class Browser:
    """A customer's browser: follows the redirects between the app and Segment and keeps the flow's cookie."""

    def __init__(self, client: Client, fake: FakeSegment) -> None:
        self.client = client
        self.segment = fake
        self.cookies: dict[str, str] = {}

    def other(self) -> "Browser":
        """Another browser, on the same app and Segment."""
        return Browser(self.client, self.segment)

    def open(self, path: str, headers: dict[str, str] | None = None) -> Any:
        """A GET on the app, with this browser's cookies."""
        sent = dict(headers or {})
        if self.cookies:
            sent["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.client.http.get(path, headers=sent)
        for name, morsel in SimpleCookie(response.headers.get("Set-Cookie", "")).items():
            if morsel["max-age"] == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
        return response

    def consent(self, authorization_url: str) -> str:
        """Segment's consent page, answered as the fake is scripted: the callback it redirects to."""
        answer = requests.get(authorization_url, allow_redirects=False, verify=str(self.segment.ca_bundle), timeout=5)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["Location"])
        assert location.path == CALLBACK_PATH
        return f"{location.path.removeprefix(STAGE_PREFIX)}?{location.query}"

    def start_with_key(self, key: str) -> str:
        """Start with an API key; the callback URL Segment sends the browser back to."""
        start = self.open("/v1/segment/enable", headers={"authorization": basic_auth(key)})
        assert start.status_code == 302, start.body
        return self.consent(start.headers["Location"])

    def enable_with_key(self, key: str) -> Any:
        return self.open(self.start_with_key(key))


def link_path(account_id: str, expires_in: float = 600, secret: str = LINK_SECRET) -> str:
    expires = int(time.time() + expires_in)
    signature = signing.link_signature(secret, account_id, expires)
    return "/v1/segment/enable/link?" + urlencode({"account": account_id, "expires": expires, "signature": signature})


def page_text(response: Any) -> str:
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    text: str = response.body.decode()
    return text


def keys_of(deployment: Deployment, account_id: str) -> list[ApiKey]:
    return [record for record in deployment.keys.all() if record.account_id == account_id]


def owner_of(deployment: Deployment, key: str | None) -> str | None:
    """The account of an active key, else None."""
    record = deployment.keys.find(key) if key is not None else None
    return record.account_id if record is not None and record.active else None


@pytest.fixture
def browser(client: Client, segment: FakeSegment) -> Browser:
    return Browser(client, segment)


# Starting the flow.


def test_start_redirects_to_segments_consent_page_with_the_code_flow_parameters(browser: Browser, key: str) -> None:
    response = browser.open("/v1/segment/enable", headers={"authorization": basic_auth(key)})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{browser.segment.url}/oauth2/auth"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query.pop("state")
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "scope": f"destination/{SLUG}",
        "redirect_uri": REDIRECT_URI,
    }
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"):
        assert attribute in cookie
    assert key not in response.headers["Location"] + cookie


def test_start_with_a_key_needs_an_active_key(browser: Browser, key: str, deployment: Deployment) -> None:
    deployment.disable(key)
    assert browser.open("/v1/segment/enable").status_code == 401
    assert browser.open("/v1/segment/enable", headers={"authorization": basic_auth("unknown")}).status_code == 401
    assert browser.open("/v1/segment/enable", headers={"authorization": basic_auth(key)}).status_code == 403


def test_a_link_signed_by_the_emma_app_starts_the_flow_for_its_account(
    browser: Browser, deployment: Deployment
) -> None:
    start = browser.open(link_path("777"))
    assert start.status_code == 302
    assert browser.open(browser.consent(start.headers["Location"])).status_code == 200
    [minted] = keys_of(deployment, "777")
    destination_key = browser.segment.api_key()
    assert destination_key is not None
    assert deployment.keys.find(destination_key) == ApiKey(minted.key_hash, "777", "active")


def tampered(path: str) -> str:
    return path.replace("signature=", "signature=0")[:-1]


BAD_LINKS = [
    ("signed with another secret", lambda: link_path("777", secret="guess"), "This link is not valid"),
    ("tampered signature", lambda: tampered(link_path("777")), "This link is not valid"),
    ("another account", lambda: link_path("777").replace("account=777", "account=778"), "This link is not valid"),
    ("expired", lambda: link_path("777", expires_in=-1), "This link has expired"),
    ("valid for an hour", lambda: link_path("777", expires_in=3600), "This link is not valid"),
    ("no parameters", lambda: "/v1/segment/enable/link", "This link is not valid"),
    ("expiry not a number", lambda: link_path("777").replace("expires=", "expires=x"), "This link is not valid"),
]


@pytest.mark.parametrize(("case", "path", "title"), BAD_LINKS, ids=[case for case, *_ in BAD_LINKS])
def test_links_that_are_forged_tampered_expired_or_long_lived_are_refused(
    browser: Browser, case: str, path: Callable[[], str], title: str
) -> None:
    response = browser.open(path())
    assert response.status_code == 400
    assert f"<h1>{title}</h1>" in page_text(response)
    assert "Set-Cookie" not in response.headers


# The callback: success.


def test_enabling_creates_the_destination_enabled_with_a_new_key_of_the_account(
    browser: Browser, key: str, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = browser.enable_with_key(key)

    assert page.status_code == 200
    text = page_text(page)
    assert "<h1>Emma is enabled in Segment</h1>" in text
    assert "source web in workspace acme" in text and "Emma account 1234" in text
    destination = browser.segment.destination()
    assert destination is not None
    assert (destination["name"], destination["enabled"], destination["connection_mode"]) == (DESTINATION, True, "CLOUD")
    destination_key = browser.segment.api_key()
    assert destination_key is not None and destination_key != key
    assert destination_key not in text
    minted = [record for record in keys_of(deployment, "1234") if record.created_for]
    assert [(record.status, record.created_for) for record in minted] == [("active", DESTINATION)]
    assert deployment.keys.find(destination_key) == ApiKey(minted[0].key_hash, "1234", "active")
    # What Segment then delivers with that key are the account's events.
    deployment.add_topic("identify")
    configure(monkeypatch, deployment)
    assert Api(browser.client, destination_key).post({"type": "identify", "userId": "u1"}).status_code == 200
    [delivered] = deployment.delivered("identify")
    assert delivered.message["accountId"] == "1234"


def test_the_callback_clears_the_flows_cookie_and_cannot_be_replayed(
    browser: Browser, key: str, deployment: Deployment
) -> None:
    callback = browser.start_with_key(key)
    assert browser.open(callback).status_code == 200
    assert COOKIE not in browser.cookies
    assert browser.open(callback).status_code == 400
    assert len(keys_of(deployment, "1234")) == 2  # the one that started, and the one minted once


def test_a_destination_that_already_works_for_the_account_is_left_as_it_is(
    browser: Browser, key: str, deployment: Deployment
) -> None:
    browser.segment.add_destination(key, enabled=True)
    page = browser.enable_with_key(key)
    assert page.status_code == 200
    assert "<h1>Emma was already enabled</h1>" in page_text(page)
    assert [call.method for call in browser.segment.config_api_calls] == ["GET"]
    assert browser.segment.api_key() == key
    assert len(keys_of(deployment, "1234")) == 1


def test_a_disabled_destination_with_a_working_key_is_only_enabled_again(
    browser: Browser, key: str, deployment: Deployment
) -> None:
    browser.segment.add_destination(key, enabled=False)
    page = browser.enable_with_key(key)
    assert page.status_code == 200
    assert "was enabled again" in page_text(page)
    [_, patch] = browser.segment.config_api_calls
    assert (patch.method, patch.body["update_mask"]["paths"]) == ("PATCH", ["destination.enabled"])
    assert browser.segment.destination() == {**browser.segment.destination(), "enabled": True}  # type: ignore[dict-item]
    assert browser.segment.api_key() == key
    assert len(keys_of(deployment, "1234")) == 1


@pytest.mark.parametrize("previous", ["unknown", "disabled", "another account's", "absent"])
def test_a_destination_without_a_working_key_of_the_account_gets_a_new_one(
    browser: Browser, key: str, deployment: Deployment, previous: str
) -> None:
    previous_key = {
        "unknown": "a-key-typed-by-hand",
        "disabled": deployment.create_key("1234"),
        "another account's": deployment.create_key("999"),
        "absent": None,
    }[previous]
    if previous == "disabled":
        deployment.disable(previous_key)  # type: ignore[arg-type]
    browser.segment.add_destination(previous_key, enabled=previous != "absent")

    page = browser.enable_with_key(key)

    assert page.status_code == 200
    assert "was given a new Emma API key and enabled" in page_text(page)
    [_, patch] = browser.segment.config_api_calls
    assert patch.method == "PATCH"
    assert patch.body["update_mask"]["paths"] == ["destination.enabled", "destination.config"]
    assert browser.segment.destination()["enabled"] is True  # type: ignore[index]
    new_key = browser.segment.api_key()
    assert new_key is not None and new_key not in (previous_key, key)
    assert owner_of(deployment, new_key) == "1234"
    if previous == "another account's":
        assert deployment.keys.find(previous_key).active  # type: ignore[arg-type,union-attr]


def test_a_destination_created_meanwhile_by_another_flow_is_updated_with_this_ones_key(
    browser: Browser, key: str, deployment: Deployment
) -> None:
    browser.segment.add_destination("key-of-the-other-flow", enabled=True)
    browser.segment.fail_config_api("GET", 404)  # it did not exist yet when this flow looked
    assert browser.enable_with_key(key).status_code == 200
    assert [call.method for call in browser.segment.config_api_calls] == ["GET", "POST", "PATCH"]
    assert owner_of(deployment, browser.segment.api_key()) == "1234"


def test_the_client_secret_can_live_in_ssm_parameter_store(
    browser: Browser, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm").put_parameter(Name="/emma/segment/client-secret", Value=CLIENT_SECRET, Type="SecureString")
    monkeypatch.setenv("SEGMENT_OAUTH_CLIENT_SECRET", "ssm:/emma/segment/client-secret")
    assert browser.enable_with_key(key).status_code == 200
    assert browser.segment.api_key() is not None


# The callback: refusals and failures.


def test_a_declined_consent_changes_nothing(browser: Browser, key: str, deployment: Deployment) -> None:
    browser.segment.decline_consent()
    page = browser.enable_with_key(key)
    assert page.status_code == 200
    assert "<h1>Emma was not enabled</h1>" in page_text(page)
    assert browser.segment.config_api_calls == []
    assert len(keys_of(deployment, "1234")) == 1


def test_other_authorization_errors_from_segment_are_a_502(browser: Browser) -> None:
    page = browser.open("/v1/segment/enable/callback?error=invalid_scope&state=x")
    assert page.status_code == 502
    assert "<h1>Segment did not authorize Emma</h1>" in page_text(page)


def test_a_tampered_state_is_refused_before_the_code_is_used(
    browser: Browser, key: str, deployment: Deployment
) -> None:
    callback = browser.start_with_key(key)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    body, signature = state.split(".")
    other_account = signing._encode(signing._decode(body).replace(b'"1234"', b'"9999"'))
    for forged in (f"{other_account}.{signature}", f"{body}.{signature[:-2]}", body, ""):
        page = browser.open(callback.replace(state, forged))
        assert page.status_code == 400
        assert "<h1>This link is not valid</h1>" in page_text(page)
    assert browser.segment.config_api_calls == []
    assert len(keys_of(deployment, "1234")) == 1


def test_an_expired_state_is_refused(browser: Browser, key: str) -> None:
    callback = browser.start_with_key(key)
    sixteen_minutes_ago = time.time() - 16 * 60
    old = signing.new_state(signing.state_key(CLIENT_SECRET), "1234", sixteen_minutes_ago)
    browser.cookies[COOKIE] = old.browser_secret
    state = parse_qs(urlsplit(callback).query)["state"][0]
    page = browser.open(callback.replace(state, old.value))
    assert page.status_code == 400
    assert "<h1>This link has expired</h1>" in page_text(page)
    assert browser.segment.config_api_calls == []


def test_the_flows_cookie_is_found_among_the_sites_other_cookies(browser: Browser, key: str) -> None:
    callback = browser.start_with_key(key)
    flow_cookie = browser.cookies.pop(COOKIE)
    browser.cookies = {"prefs": '{"theme": "dark", "ids": [1, 2]}', "tracking": "a b", COOKIE: flow_cookie}
    assert browser.open(callback).status_code == 200


def test_a_state_is_refused_in_a_browser_other_than_the_one_that_started(browser: Browser, key: str) -> None:
    callback = browser.start_with_key(key)
    other_browser = browser.other()
    assert other_browser.open(callback).status_code == 400
    other_browser.start_with_key(key)  # a cookie, but of its own flow
    assert other_browser.open(callback).status_code == 400
    assert browser.segment.config_api_calls == []


@dataclass(frozen=True)
class TokenFailure:
    case: str
    status: int
    body: str
    answered: int = 502
    title: str = "Segment did not confirm the authorization"


TOKEN_FAILURES = [
    TokenFailure("code expired or used", 400, '{"error": "invalid_grant"}', 400,
                 "This authorization has expired or was already used"),
    TokenFailure("client refused", 401, '{"error": "invalid_client"}'),
    TokenFailure("server error page", 500, "<html>oops</html>"),
    TokenFailure("a JSON list", 200, "[]"),
    TokenFailure("a malformed expiry", 200, '{"access_token": "t", "token_type": "bearer", "expires_in": "soon"}'),
    TokenFailure("no source granted", 200, '{"access_token": "t", "token_type": "bearer", "source_names": []}'),
    TokenFailure("a source name and a newline", 200,
                 '{"access_token": "t", "token_type": "bearer", "source_names": ["workspaces/a/sources/b\\n"]}'),
    TokenFailure("a source name that is not one", 200,
                 '{"access_token": "t", "token_type": "bearer", "source_names": ["workspaces/a/sources/../../x"]}'),
]  # fmt: skip


@pytest.mark.parametrize("failure", TOKEN_FAILURES, ids=[failure.case for failure in TOKEN_FAILURES])
def test_a_failed_token_exchange_changes_nothing(
    browser: Browser, key: str, deployment: Deployment, failure: TokenFailure
) -> None:
    browser.segment.answer_token_request(failure.status, failure.body)
    page = browser.enable_with_key(key)
    assert page.status_code == failure.answered
    assert f"<h1>{failure.title}</h1>" in page_text(page)
    assert browser.segment.config_api_calls == []
    assert len(keys_of(deployment, "1234")) == 1


def test_a_wrong_client_secret_is_a_502(browser: Browser, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_OAUTH_CLIENT_SECRET", "not-the-secret")
    page = browser.enable_with_key(key)
    assert page.status_code == 502
    assert browser.segment.destination() is None


# (method, status, what becomes of the key minted for the destination, if one was)
CONFIG_API_FAILURES = [
    ("GET", 500, None), ("GET", 403, None),
    ("POST", 403, "disabled"), ("POST", 400, "disabled"), ("POST", 503, "active"), ("POST", 429, "active"),
]  # fmt: skip


@pytest.mark.parametrize(
    "failure", CONFIG_API_FAILURES, ids=[f"{method} {status}" for method, status, _ in CONFIG_API_FAILURES]
)
def test_a_failing_config_api_is_a_502_and_a_key_segment_refused_is_disabled(
    browser: Browser, key: str, deployment: Deployment, failure: tuple[str, int, str | None]
) -> None:
    method, status, minted_key = failure
    browser.segment.fail_config_api(method, status)
    page = browser.enable_with_key(key)
    assert page.status_code == 502
    refused = 400 <= status < 429
    title = "Segment did not accept the Emma destination" if refused else "Segment did not confirm the change"
    assert f"<h1>{title}</h1>" in page_text(page)
    assert browser.segment.destination() is None
    minted = [record.status for record in keys_of(deployment, "1234") if record.created_for]
    assert minted == ([minted_key] if minted_key else [])


def test_a_refused_update_disables_the_key_it_carried(browser: Browser, key: str, deployment: Deployment) -> None:
    browser.segment.add_destination("a-key-typed-by-hand", enabled=True)
    browser.segment.fail_config_api("PATCH", 403)
    assert browser.enable_with_key(key).status_code == 502
    assert [record.status for record in keys_of(deployment, "1234") if record.created_for] == ["disabled"]
    assert browser.segment.api_key() == "a-key-typed-by-hand"


SETTINGS = ["SEGMENT_OAUTH_CLIENT_ID", "SEGMENT_OAUTH_CLIENT_SECRET", "SEGMENT_DESTINATION_SLUG",
            "SEGMENT_OAUTH_REDIRECT_URI"]  # fmt: skip


@pytest.mark.parametrize("missing", SETTINGS)
def test_a_deployment_missing_a_setting_says_so_with_a_500_page(
    browser: Browser, key: str, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    response = browser.open("/v1/segment/enable", headers={"authorization": basic_auth(key)})
    assert response.status_code == 500
    assert "<h1>Enable with Segment is not available</h1>" in page_text(response)


def test_without_a_destination_slug_the_flow_does_not_start(
    browser: Browser, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No default slug: `emma` in Segment's catalog is another company's destination."""
    # GIVEN everything but the slug, and a link secret that could not even be read
    monkeypatch.delenv("SEGMENT_DESTINATION_SLUG")
    monkeypatch.setenv("SEGMENT_ENABLE_LINK_SECRET", "ssm:/emma-segment/test/no-such-parameter")
    # WHEN a customer starts with a key, or with a link
    with_key = browser.open("/v1/segment/enable", headers={"authorization": basic_auth(key)})
    with_link = browser.open(link_path("777"))
    # THEN neither goes to Segment, and the page says what to do instead
    for response in (with_key, with_link):
        assert response.status_code == 500
        assert "Location" not in response.headers
        text = page_text(response)
        assert "<h1>Enable with Segment is not available</h1>" in text
        assert "add Emma&#x27;s destination to your Segment source" in text
    assert browser.segment.config_api_calls == []
    assert browser.segment.issued_secrets == []
    errors = [record["error"] for record in enable_log(capsys.readouterr().out)]
    assert errors == ["this deployment is misconfigured: SEGMENT_DESTINATION_SLUG is not set"] * 2


def test_links_need_the_link_secret(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMENT_ENABLE_LINK_SECRET")
    assert browser.open(link_path("777")).status_code == 500


def test_pages_are_not_cached_framed_or_leaking_the_callback_url(browser: Browser, key: str) -> None:
    page = browser.enable_with_key(key)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


# Logs.


def enable_log(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if record.get("log") == "segment_enable"]


def test_each_step_writes_one_line_with_the_account_destination_and_outcome(
    browser: Browser, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    browser.enable_with_key(key)
    start, finish = enable_log(capsys.readouterr().out)
    assert (start["step"], start["account_id"], start["outcome"], start["status"]) == (
        "start",
        "1234",
        "redirected",
        302,
    )
    assert (finish["step"], finish["account_id"], finish["destination"]) == ("callback", "1234", DESTINATION)
    assert (finish["outcome"], finish["status"]) == ("created", 200)
    assert len(finish["minted_key"]) == 12


def test_no_secret_token_code_or_key_reaches_the_logs_pages_or_redirects(
    browser: Browser, key: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A canary: the secrets of runs of every kind, looked for in all the flow let out, logging at DEBUG."""
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    minted: set[str] = set()

    def flow(start_path: str, headers: dict[str, str] | None = None) -> None:
        visitor = browser.other()
        start = visitor.open(start_path, headers)
        page = visitor.open(visitor.consent(start.headers["Location"]))
        shown.extend(response.body.decode() + json.dumps(response.headers) for response in (start, page))
        minted.add(browser.segment.api_key() or "")

    with_key = {"authorization": basic_auth(key)}
    flow("/v1/segment/enable", with_key)  # created
    flow("/v1/segment/enable", with_key)  # already enabled
    browser.segment.add_destination("typed-by-hand", enabled=False)
    flow("/v1/segment/enable", with_key)  # updated
    browser.segment.add_destination("typed-by-hand", enabled=False)
    browser.segment.fail_config_api("PATCH", 403)
    flow("/v1/segment/enable", with_key)  # refused
    browser.segment.answer_token_request(400, '{"error": "invalid_grant"}')
    flow("/v1/segment/enable", with_key)  # expired code
    flow(link_path("777"))  # updated, for another account
    minted -= {"typed-by-hand"}

    output = capsys.readouterr()
    everything = output.out + output.err + caplog.text + "".join(shown)
    assert len(enable_log(output.out)) == 12, "the flow logged nothing: the scan would prove nothing"
    assert "Obtained token" not in caplog.text
    issued = browser.segment.issued_secrets
    assert len(minted) == 3 and len(issued) == 11
    for secret in (CLIENT_SECRET, LINK_SECRET, key, basic_auth(key), *issued, *minted):
        assert secret not in everything
