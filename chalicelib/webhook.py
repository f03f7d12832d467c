"""Segment's Webhooks destination: each delivery signed with the account's shared secret.

Customers can try Emma through Segment's generic Webhooks destination before
the direct integration is enabled. That destination sends no API key; it signs
the raw body with a shared secret, `X-Signature: hex(HMAC-SHA1(body, secret))`.
HMAC needs the secret itself (a hash would not do), so each account's secret is
kept encrypted at rest in AWS Secrets Manager, named `WEBHOOK_SECRETS_PREFIX`
followed by the account id, and managed with `python -m chalicelib.keys`.

The route is open to anyone who can name an account, so its lookups are
bounded: each account's secret, or its absence, is read at most once per
`CACHE_SECONDS` (a known account's once more when a signature does not match,
at most every `REFRESH_AFTER_SECONDS`, so that a rotation takes effect), and
the cache keeps at most `MAX_CACHED_ACCOUNTS` accounts, the least recently
used leaving first.
"""

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import Request

from chalicelib import config
from chalicelib.aws_failures import failure_of, retry_unless_permanent
from chalicelib.deadline import Deadline, OutOfTime, retrying
from chalicelib.errors import BadRequest, NotFound, Unauthorized, Unavailable
from chalicelib.patience import patient_with
from chalicelib.process_cache import per_process
from chalicelib.secret_refs import secretsmanager_client

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SIGNATURE_HEADER = "X-Signature"
# A secret is read at most this often per process; a rotation reaches every
# process sooner, because a signature that does not match refreshes it.
CACHE_SECONDS = 300
REFRESH_AFTER_SECONDS = 5
MAX_CACHED_ACCOUNTS = 1000
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_HEX_SHA1 = re.compile(r"[0-9a-fA-F]{40}\Z")
_MISSING = ("ResourceNotFoundException", "InvalidRequestException")


def verify(request: Request, account_id: str, deadline: Deadline) -> None:
    """Return if `request` is one event signed with `account_id`'s secret; 401 if unsigned, 400 for a batch."""
    prefix = config.webhook_secrets_prefix()
    if prefix is None:
        raise NotFound("webhook mode is not enabled in this deployment")
    body = request.raw_body if isinstance(request.raw_body, bytes) else request.raw_body.encode()
    if body.lstrip()[:1] == b"[":
        # Its signature covers the first event only: anything could be appended to a signed one.
        raise BadRequest(
            "body: an array is a batch, of which Segment's Webhooks destination signs only the first event; "
            "turn the destination's batching off"
        )
    signature = request.headers.get(SIGNATURE_HEADER.lower()) or ""
    if not _ACCOUNT_ID.match(account_id) or not _HEX_SHA1.match(signature):
        raise Unauthorized(f"{SIGNATURE_HEADER}: missing or not a hex HMAC-SHA1")
    if not _secrets(prefix).matches(account_id, body, signature.lower(), deadline):
        # The same answer for an unknown account: it tells nothing about which accounts exist.
        raise Unauthorized(f"{SIGNATURE_HEADER}: does not match the body")


def sign(body: bytes, secret: str) -> str:
    """The X-Signature Segment sends for `body`."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class WebhookSecrets:
    """Per-account shared secrets in Secrets Manager, cached per process."""

    def __init__(
        self,
        client: "SecretsManagerClient",
        prefix: str,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = MAX_CACHED_ACCOUNTS,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._max_accounts = max_accounts
        # Account to (secret, or None for an account without one; when it was read).
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def matches(self, account_id: str, body: bytes, signature: str, deadline: Deadline) -> bool:
        """True if `signature` is `body` signed with the account's secret, compared in constant time."""
        secret, read_at = self._cached(account_id, deadline)
        if secret is None:
            return False
        if hmac.compare_digest(sign(body, secret), signature):
            return True
        if self._clock() - read_at < REFRESH_AFTER_SECONDS:
            return False
        secret, _ = self._read(account_id, deadline)
        return secret is not None and hmac.compare_digest(sign(body, secret), signature)

    def put(self, account_id: str) -> str:
        """A new secret for the account (created, or replacing the old one); shown only to the caller."""
        secret = secrets.token_urlsafe(32)
        name = self._prefix + account_id
        try:
            self._client.create_secret(Name=name, SecretString=secret)
        except self._client.exceptions.ResourceExistsException:
            self._client.put_secret_value(SecretId=name, SecretString=secret)
        return secret

    def delete(self, account_id: str) -> None:
        """Stop accepting the account's webhook deliveries."""
        self._client.delete_secret(SecretId=self._prefix + account_id, ForceDeleteWithoutRecovery=True)

    def _cached(self, account_id: str, deadline: Deadline) -> tuple[str | None, float]:
        entry = self._cache.get(account_id)
        if entry is None or self._clock() - entry[1] >= CACHE_SECONDS:
            return self._read(account_id, deadline)
        self._cache.move_to_end(account_id)
        return entry

    def _read(self, account_id: str, deadline: Deadline) -> tuple[str | None, float]:
        """The account's secret from Secrets Manager, within the deadline, and cached; None if it has none."""

        def get(client: "SecretsManagerClient") -> str | None:
            try:
                return client.get_secret_value(SecretId=self._prefix + account_id)["SecretString"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING:
                    return None
                _unless_retryable(error)
            except BotoCoreError as error:
                _unless_retryable(error)

        try:
            secret, _ = retrying(get, deadline, patient_with(self._client))
        except OutOfTime as out_of_time:
            raise Unavailable(f"the webhook secret could not be read ({out_of_time.reason}); retry later") from None
        entry = (secret, self._clock())
        self._cache[account_id] = entry
        self._cache.move_to_end(account_id)
        while len(self._cache) > self._max_accounts:
            self._cache.popitem(last=False)
        return entry


def _unless_retryable(error: BotoCoreError | ClientError) -> NoReturn:
    """`Unavailable` for a refusal no retry fixes; `Retryable` for anything else (a read can be repeated)."""
    retry_unless_permanent(error)
    raise Unavailable(f"the webhook secret could not be read ({failure_of(error)[1]}); retry later") from error


@per_process
def _secrets(prefix: str) -> WebhookSecrets:
    return WebhookSecrets(secretsmanager_client(), prefix)
