"""What the callback changes on the Emma destination, and which Emma API key it gets.

The key table holds only hashes (docs/contract.md §5), so no existing key of the
account can be read back to hand to Segment. A destination that needs a key
gets one minted for it here: its text exists only in this function and in the
request to Segment, and the table records, besides its hash, which destination
it was made for.

"Already enabled" means Segment already delivers to this account: the
destination exists, is enabled, and its key (as the Config API shows it) is an
active key of the same account. Then nothing changes and no key is minted. A
destination with such a key that is disabled is only re-enabled. Any other
destination (no key, an unknown or disabled key, another account's key) is
enabled with a new key. The key it had is therefore never a working key of
this account, so nothing of the account's is revoked; another account's key
is left alone, as are keys the customer uses elsewhere.
"""

from dataclasses import dataclass
from enum import Enum

from chalicelib.keys import DISABLED, KeyStore, hash_key
from chalicelib.segment_enable.errors import ConfigApiRefused
from chalicelib.segment_enable.segment import Destinations


class Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    REENABLED = "reenabled"
    ALREADY_ENABLED = "already_enabled"


@dataclass(frozen=True)
class Enabled:
    outcome: Outcome
    minted_key_hash: str | None = None


def enable(destinations: Destinations, keys: KeyStore, account_id: str) -> Enabled:
    """Make the destination enabled with a working key of `account_id`, changing no more than needed."""
    existing = destinations.get()
    if existing is not None and _works_for(existing.api_key, account_id, keys):
        if existing.enabled:
            return Enabled(Outcome.ALREADY_ENABLED)
        destinations.update(api_key=None)
        return Enabled(Outcome.REENABLED)
    key = keys.create(account_id, created_for=destinations.name)
    try:
        # A 409 means another flow created it meanwhile: this one's key replaces it.
        created = existing is None and destinations.create(key)
        if not created:
            destinations.update(api_key=key)
    except ConfigApiRefused:
        # Segment kept nothing, so the key was handed to no one: it must not stay valid.
        # After a timeout or a 5xx it may have been kept, so it stays active then.
        keys.set_status(hash_key(key), DISABLED)
        raise
    return Enabled(Outcome.CREATED if created else Outcome.UPDATED, hash_key(key))


def _works_for(api_key: str | None, account_id: str, keys: KeyStore) -> bool:
    """Whether `api_key` is an active key of `account_id`."""
    if api_key is None:
        return False
    record = keys.find(api_key)
    return record is not None and record.active and record.account_id == account_id
