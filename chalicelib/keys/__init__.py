"""Emma API keys as the endpoint stores them: a SHA-256 hash, the account, a status.

Plain keys are never stored (docs/contract.md §5): the table is keyed by the
lowercase hex SHA-256 of the key, so a leaked table or log of hashes cannot be
replayed against the endpoint.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Status = Literal["active", "disabled"]
ACTIVE: Status = "active"
DISABLED: Status = "disabled"
# How many API Gateway API keys the accounts are spread over for their usage plan's throttling
# (docs/capacity.md, "One account among many"): an account shares its limit with the few others
# whose ids fall in the same bucket, one chance in this many for any two accounts.
USAGE_KEY_BUCKETS = 256


def hash_key(key: str) -> str:
    """The table's partition key for `key`."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe, and without ':' so Basic auth can carry it."""
    return secrets.token_urlsafe(32)


def usage_key(table: str, account_id: str) -> str:
    """The API Gateway API key whose usage plan throttles `account_id`'s requests.

    The authorizer hands it to the gateway (`usageIdentifierKey`); `make deploy`
    creates every bucket's key in the stage's usage plan beforehand, so no key
    is made per account and no request writes anything. It is named after the
    stage's key table, which keeps the stages of one AWS account apart.
    """
    digest = hashlib.sha256(account_id.encode("utf-8", "surrogatepass")).digest()
    return _bucket_key(table, int.from_bytes(digest[:8], "big") % USAGE_KEY_BUCKETS)


def usage_keys(table: str) -> list[str]:
    """Every bucket's usage plan key in the stage of `table`."""
    return [_bucket_key(table, bucket) for bucket in range(USAGE_KEY_BUCKETS)]


def usage_key_prefix(table: str) -> str:
    return f"{table}-usage-"


def _bucket_key(table: str, bucket: int) -> str:
    return f"{usage_key_prefix(table)}{bucket:04d}"


@dataclass(frozen=True)
class ApiKey:
    key_hash: str
    account_id: str
    status: str
    created_at: str = ""
    created_for: str = ""

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class KeyStore:
    """The `API_KEYS_TABLE` DynamoDB table."""

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self._client = client
        self._table = table_name

    def find(self, key: str) -> ApiKey | None:
        """The record for a presented key, or None if it is unknown."""
        key_hash = hash_key(key)
        item = self._client.get_item(
            TableName=self._table,
            Key={"key_hash": {"S": key_hash}},
            ProjectionExpression="key_hash, account_id, #s",
            ExpressionAttributeNames={"#s": "status"},
        ).get("Item")
        # The lookup is by hash already; comparing again in constant time keeps
        # the decision itself free of timing differences.
        if item is None or not hmac.compare_digest(item["key_hash"]["S"], key_hash):
            return None
        return ApiKey(key_hash, item["account_id"]["S"], item["status"]["S"])

    def create(self, account_id: str, key: str | None = None, created_for: str | None = None) -> str:
        """Store a new active key for `account_id` (`key`, or a fresh one) and return it once.

        `created_for` says where the key was handed (a Segment destination), so
        that `list` can tell which key to disable when that place goes away.
        """
        key = key or new_key()
        item: dict[str, AttributeValueTypeDef] = {
            "key_hash": {"S": hash_key(key)},
            "account_id": {"S": account_id},
            "status": {"S": ACTIVE},
            "created_at": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
        }
        if created_for:
            item["created_for"] = {"S": created_for}
        self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(key_hash)")
        return key

    def set_status(self, key_hash: str, status: Status) -> bool:
        """Enable or disable a stored key; False if there is no such key."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET #s = :s",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def all(self) -> Iterator[ApiKey]:
        """Every stored key, as hashes."""
        for page in self._client.get_paginator("scan").paginate(TableName=self._table):
            for item in page["Items"]:
                yield ApiKey(
                    item["key_hash"]["S"],
                    item["account_id"]["S"],
                    item["status"]["S"],
                    item.get("created_at", {}).get("S", ""),
                    item.get("created_for", {}).get("S", ""),
                )
