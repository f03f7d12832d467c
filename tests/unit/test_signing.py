"""The signed state and enable links: authentic, current, this browser's, and nothing else."""

import pytest

from chalicelib.segment_enable import signing
from chalicelib.segment_enable.errors import ExpiredLink, InvalidLink

KEY = signing.state_key("client-secret")
NOW = 1_800_000_000.0


def test_a_state_gives_back_its_account_in_the_browser_that_holds_its_secret() -> None:
    state = signing.new_state(KEY, "1234", NOW)
    assert signing.verify_state(KEY, state.value, state.browser_secret, NOW + 60) == "1234"


def test_a_state_reveals_neither_its_browser_secret_nor_the_client_secret() -> None:
    state = signing.new_state(KEY, "1234", NOW)
    assert state.browser_secret not in state.value
    assert "client-secret" not in state.value


def test_each_state_is_new() -> None:
    first, second = signing.new_state(KEY, "1234", NOW), signing.new_state(KEY, "1234", NOW)
    assert first.value != second.value and first.browser_secret != second.browser_secret


def test_a_state_expires_after_fifteen_minutes() -> None:
    state = signing.new_state(KEY, "1234", NOW)
    assert signing.verify_state(KEY, state.value, state.browser_secret, NOW + 15 * 60) == "1234"
    with pytest.raises(ExpiredLink):
        signing.verify_state(KEY, state.value, state.browser_secret, NOW + 15 * 60 + 1)


@pytest.mark.parametrize(
    "browser_secret", [None, "", "another-browsers-secret"], ids=["no cookie", "empty cookie", "other cookie"]
)
def test_a_state_is_refused_without_its_browser_secret(browser_secret: str | None) -> None:
    state = signing.new_state(KEY, "1234", NOW)
    with pytest.raises(InvalidLink) as refused:
        signing.verify_state(KEY, state.value, browser_secret, NOW)
    assert not isinstance(refused.value, ExpiredLink)


def test_a_state_signed_with_another_client_secret_is_refused() -> None:
    state = signing.new_state(signing.state_key("another-secret"), "1234", NOW)
    with pytest.raises(InvalidLink):
        signing.verify_state(KEY, state.value, state.browser_secret, NOW)


@pytest.mark.parametrize("garbage", ["", ".", "a.b", "\udcff.\udcff", "é.é", "x" * 5000, "eyJhIjoiMSJ9"], ids=repr)
def test_malformed_states_are_refused_not_crashed_on(garbage: str) -> None:
    with pytest.raises(InvalidLink):
        signing.verify_state(KEY, garbage, "secret", NOW)


def link(account_id: str = "42", expires: float = NOW + 300, secret: str = "link-secret") -> tuple[str, str, str]:
    return account_id, str(int(expires)), signing.link_signature(secret, account_id, int(expires))


def test_an_authentic_current_link_gives_its_account() -> None:
    assert signing.verify_link("link-secret", *link(), now=NOW) == "42"


def test_the_link_signature_is_the_documented_hmac() -> None:
    """The Emma app computes it on its side: the format is a contract, pinned here."""
    import hashlib
    import hmac

    expected = hmac.new(b"link-secret", b"emma-segment/enable-link/v1\n42\n1800000300", hashlib.sha256).hexdigest()
    assert signing.link_signature("link-secret", "42", 1_800_000_300) == expected


@pytest.mark.parametrize(
    ("case", "parts", "error"),
    [
        ("other secret", link(secret="other"), InvalidLink),
        ("other account", ("43", *link()[1:]), InvalidLink),
        ("later expiry", (link()[0], str(int(NOW) + 400), link()[2]), InvalidLink),
        ("expired", link(expires=NOW - 1), ExpiredLink),
        ("valid for too long", link(expires=NOW + 16 * 60), InvalidLink),
        ("empty account", ("", *link()[1:]), InvalidLink),
        ("account with a newline", link(account_id="4\n2"), InvalidLink),
        ("expiry not digits", (link()[0], "+1800000300", link()[2]), InvalidLink),
        ("non-ASCII digits", (link()[0], "١٨٠٠٠٠٠٣٠٠", link()[2]), InvalidLink),
        ("non-ASCII signature", (*link()[:2], "é" * 64), InvalidLink),
        ("no signature", (*link()[:2], ""), InvalidLink),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_forged_tampered_expired_or_long_lived_links_are_refused(
    case: str, parts: tuple[str, str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        signing.verify_link("link-secret", *parts, now=NOW)
