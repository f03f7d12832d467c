"""A deployment of the service's AWS resources on moto, and what SNS really delivered.

Every topic is subscribed by an SQS queue, so a test reads exactly the
notifications SNS fanned out: body, attributes and, on FIFO topics, the group
and deduplication ids.
"""

import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3

from chalicelib.dedup import receipt_key, record_key
from chalicelib.keys import DISABLED, KeyStore, hash_key
from chalicelib.schemas import EVENT_TYPES

KEYS_TABLE = "test-api-keys"
DEDUP_TABLE = "test-dedup"


@dataclass(frozen=True)
class Delivered:
    """One notification as a subscriber's SQS queue received it."""

    message: dict[str, Any]
    attributes: dict[str, str]
    group_id: str | None
    deduplication_id: str | None

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = self.message["event"]
        return event


class Deployment:
    """Topics, queues and the key table, as the service's environment names them."""

    def __init__(self, fifo: bool = False, dedup: bool = False) -> None:
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        self.dynamodb = boto3.client("dynamodb")
        self.fifo = fifo
        self.dedup = dedup
        self.topics: dict[str, str] = {}
        self._queues: dict[str, str] = {}
        self._create_table(KEYS_TABLE, "key_hash")
        if dedup:
            self._create_table(DEDUP_TABLE, "id")
        self.keys = KeyStore(self.dynamodb, KEYS_TABLE)

    def environment(self) -> dict[str, str]:
        """The variables a stage sets for this deployment."""
        variables = {f"TOPIC_ARN_{name.upper()}": arn for name, arn in self.topics.items()}
        variables["API_KEYS_TABLE"] = KEYS_TABLE
        if self.dedup:
            variables["DEDUP_TABLE"] = DEDUP_TABLE
        return variables

    def add_topic(self, name: str) -> str:
        """A topic (`name` is an event type or "default") with a queue subscribed to it."""
        suffix = ".fifo" if self.fifo else ""
        topic_attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if self.fifo else {}
        arn = self.sns.create_topic(Name=f"segment-{name}{suffix}", Attributes=topic_attributes)["TopicArn"]
        queue_url = self.sqs.create_queue(
            QueueName=f"sub-{name}{suffix}", Attributes={"FifoQueue": "true"} if self.fifo else {}
        )["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        self.topics[name] = arn
        self._queues[name] = queue_url
        return arn

    def add_topics(self, names: Iterable[str] = EVENT_TYPES) -> None:
        for name in names:
            self.add_topic(name)

    def create_key(self, account_id: str = "1234") -> str:
        return self.keys.create(account_id)

    def disable(self, key: str) -> None:
        assert self.keys.set_status(hash_key(key), DISABLED)

    def delivered(self, topic: str) -> list[Delivered]:
        """Everything delivered so far to `topic`'s queue (and removed from it)."""
        received: list[Delivered] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self._queues[topic],
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return received
            for sqs_message in batch:
                received.append(_delivered(sqs_message))
                self.sqs.delete_message(QueueUrl=self._queues[topic], ReceiptHandle=sqs_message["ReceiptHandle"])

    def delivered_anywhere(self) -> list[Delivered]:
        return [item for topic in self.topics for item in self.delivered(topic)]

    def dedup_records(self) -> dict[str, dict[str, Any]]:
        """The dedup table's items, claims and receipts alike: id to each attribute's value (a set as a set)."""
        items = self.dynamodb.scan(TableName=DEDUP_TABLE)["Items"]
        return {item["id"]["S"]: {name: _value(value) for name, value in item.items()} for item in items}

    def claim_and_receipt(self, account_id: str, message_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An event's claim record, and the receipt of the round that holds it, if written."""
        records = self.dedup_records()
        claim = records[record_key(account_id, message_id)]
        return claim, records.get(receipt_key(claim["claimed_by"]))

    def expire_claims_in_progress(self) -> None:
        """What the claim window's end does to every claim: a claim whose round says nothing of it is over."""
        for key, record in self.dedup_records().items():
            if "until" in record:
                self.dynamodb.update_item(
                    TableName=DEDUP_TABLE,
                    Key={"id": {"S": key}},
                    UpdateExpression="SET #until = :past",
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
                )

    def _create_table(self, name: str, key: str) -> None:
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _delivered(sqs_message: Any) -> Delivered:
    notification = json.loads(sqs_message["Body"])
    attributes = {name: item["Value"] for name, item in notification.get("MessageAttributes", {}).items()}
    sqs_attributes = sqs_message.get("Attributes", {})
    return Delivered(
        message=json.loads(notification["Message"]),
        attributes=attributes,
        group_id=sqs_attributes.get("MessageGroupId"),
        deduplication_id=sqs_attributes.get("MessageDeduplicationId"),
    )


def _value(value: Any) -> Any:
    [(kind, content)] = value.items()
    if kind == "NS":
        return {int(number) for number in content}
    return int(content) if kind == "N" else content


def basic_auth(key: str, password: str = "") -> str:
    """Segment's Authorization header for an API key."""
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()
