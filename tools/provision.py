"""Create on an AWS emulator what a Chalice stage's environment names.

For every `TOPIC_ARN_*` a topic with an SQS queue subscribed to it (so the
published messages can be read back), the `API_KEYS_TABLE` key table and the
`DEDUP_TABLE` deduplication table. Idempotent: running it twice changes nothing.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

CHALICE_CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"


def stage_environment(stage: str) -> dict[str, str]:
    """The environment variables `.chalice/config.json` sets for `stage`."""
    config = json.loads(CHALICE_CONFIG.read_text())
    variables: dict[str, str] = dict(config.get("environment_variables", {}))
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return variables


@dataclass
class Provisioned:
    """Queue URLs by the topic name they are subscribed to."""

    queues: dict[str, str] = field(default_factory=dict)


def provision(environment: dict[str, str], endpoint_url: str | None = None) -> Provisioned:
    """Topics, subscribed queues and the key table for `environment`."""
    sns = boto3.client("sns", endpoint_url=endpoint_url)
    sqs = boto3.client("sqs", endpoint_url=endpoint_url)
    provisioned = Provisioned()
    for name, arn in environment.items():
        if name.startswith("TOPIC_ARN_"):
            topic_name = arn.rsplit(":", 1)[1]
            provisioned.queues[topic_name] = _topic_with_queue(sns, sqs, topic_name)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint_url)
    if "API_KEYS_TABLE" in environment:
        _table(dynamodb, environment["API_KEYS_TABLE"], key="key_hash")
    if "DEDUP_TABLE" in environment:
        _table(dynamodb, environment["DEDUP_TABLE"], key="id", ttl="expiration")
    return provisioned


def _topic_with_queue(sns: Any, sqs: Any, topic_name: str) -> str:
    fifo = topic_name.endswith(".fifo")
    topic_attributes = {"FifoTopic": "true"} if fifo else {}
    topic_arn = sns.create_topic(Name=topic_name, Attributes=topic_attributes)["TopicArn"]
    queue_url = sqs.create_queue(
        QueueName=tail_queue_name(topic_name), Attributes={"FifoQueue": "true"} if fifo else {}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscribed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(subscription["Endpoint"] == queue_arn for subscription in subscribed):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(queue_url)


def tail_queue_name(topic_name: str) -> str:
    """The queue subscribed to `topic_name`, which `make tail` reads."""
    if topic_name.endswith(".fifo"):
        return topic_name.removesuffix(".fifo") + "-tail.fifo"
    return topic_name + "-tail"


def _table(dynamodb: Any, table_name: str, key: str, ttl: str | None = None) -> None:
    if table_name in dynamodb.list_tables()["TableNames"]:
        return
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if ttl is not None:
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
        )
