"""HMAC-SHA256-signed values that pass through a browser and come back.

The OAuth `state` sent to Segment carries the account, an expiry and the
SHA-256 of a random browser secret that only a cookie holds. Its signature
makes it unforgeable; its expiry makes it short-lived; the cookie binds it to
the browser that started the flow, so a state copied from a URL, a history or
a log cannot finish the flow anywhere else (RFC 6749 section 10.12).

An enable link is what the Emma app hands a logged-in user's browser instead
of an API key: the account and an expiry, signed with a secret the app shares
with this service. A link is valid for at most `LINK_MAX_LIFETIME_SECONDS`,
whatever expiry it names.

The two use different keys and message formats, so neither can pass for the
other. Signatures are compared with `hmac.compare_digest`.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from chalicelib.segment_enable.errors import ExpiredLink, InvalidLink

STATE_LIFETIME_SECONDS = 15 * 60
LINK_MAX_LIFETIME_SECONDS = 15 * 60
# Nothing this service signs is longer; longer input is refused before any work.
MAX_SIGNED_CHARS = 1024
MAX_ACCOUNT_ID_CHARS = 128
_STATE_KEY_LABEL = b"emma-segment/enable-with-segment/state/v1"
_LINK_LABEL = "emma-segment/enable-link/v1"


@dataclass(frozen=True)
class State:
    """The `state` for Segment and the secret for the browser's cookie."""

    value: str
    browser_secret: str


def state_key(client_secret: str) -> bytes:
    """The state's signing key, derived from the OAuth client secret.

    A secret only this service holds already, so there is none more to
    provision; the label keeps the derived key distinct from the secret
    itself. Rotating the client secret voids the states in flight, which live
    only minutes.
    """
    return hmac.new(client_secret.encode(), _STATE_KEY_LABEL, hashlib.sha256).digest()


def new_state(key: bytes, account_id: str, now: float) -> State:
    browser_secret = secrets.token_urlsafe(32)
    payload = {"a": account_id, "e": int(now) + STATE_LIFETIME_SECONDS, "b": _sha256(browser_secret)}
    body = _encode(json.dumps(payload, separators=(",", ":")).encode())
    return State(f"{body}.{_encode(_mac(key, body))}", browser_secret)


def verify_state(key: bytes, state: str, browser_secret: str | None, now: float) -> str:
    """The account `state` was issued for, if it is authentic, current and this browser's."""
    if len(state) > MAX_SIGNED_CHARS:
        raise InvalidLink("state too long")
    body, _, signature = state.partition(".")
    if not _same(_encode(_mac(key, body)), signature):
        raise InvalidLink("state signature mismatch")
    # Signed by this service, so its shape is known.
    payload = json.loads(_decode(body))
    if now > payload["e"]:
        raise ExpiredLink("state expired")
    if not browser_secret or not _same(_sha256(browser_secret), payload["b"]):
        raise InvalidLink("state not bound to this browser")
    account_id: str = payload["a"]
    return account_id


def link_signature(secret: str, account_id: str, expires: int) -> str:
    """The `signature` of an enable link: hex HMAC-SHA256 of "emma-segment/enable-link/v1\\n<account>\\n<expires>"."""
    message = f"{_LINK_LABEL}\n{account_id}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_link(secret: str, account_id: str, expires: str, signature: str, now: float) -> str:
    """The account of an authentic, current link (`expires` in Unix seconds)."""
    if not 0 < len(account_id) <= MAX_ACCOUNT_ID_CHARS or not account_id.isprintable():
        raise InvalidLink("link account malformed")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        raise InvalidLink("link expiry malformed")
    if len(signature) > MAX_SIGNED_CHARS or not _same(link_signature(secret, account_id, int(expires)), signature):
        raise InvalidLink("link signature mismatch")
    if now > int(expires):
        raise ExpiredLink("link expired")
    if int(expires) - now > LINK_MAX_LIFETIME_SECONDS:
        raise InvalidLink("link lifetime too long")
    return account_id


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidLink("state malformed") from error
