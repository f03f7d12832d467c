"""moto as this project runs it: the AWS of the tests, of `make run` and of the bench.

moto answers every call the service makes. Where, for those calls, it is slow
or does not do what DynamoDB documents, `patch_moto` changes it, once per
process, before the first call:

- PartiQL's INSERT, UPDATE and DELETE, which the service claims a batch's
  events with, and takes over or releases their claims: moto copies every item of
  every table into a new list for each statement, so a claim slows down as
  the table grows (an hour of `make run` traffic would make every batch time
  out); it overwrites a key that has an item, where DynamoDB refuses the
  INSERT with `DuplicateItem`; and it does not refuse a DELETE whose WHERE
  clause is false for the item, where DynamoDB answers
  `ConditionalCheckFailed`. Here the shapes the service sends (an INSERT of
  one item, its values as parameters; an UPDATE of attributes by key on one
  more condition, `=`; a DELETE by key on one more condition, `=` or `<`)
  are carried out as DynamoDB documents them, in constant time; any other
  statement is moto's own.
- Condition expressions: moto parses one twice per conditional write, which
  is most of what a claim costs it; here each expression, with its names and
  values, is parsed once and its syntax tree reused.
- SQS, the topics' subscribers: moto counts every message of a queue three
  times for each message sent to it (the queue's approximate counts, which
  a send never reads), so publishing slows down as a queue fills: at a few
  thousand messages waiting, a PublishBatch took half a second. Here a send
  skips them (GetQueueAttributes still counts), and the attribute names it
  converts for each message are converted once.
- SNS's envelope for SQS: moto made and kept a new signing certificate for
  every message delivered (a millisecond of CPU, and a kilobyte kept for the
  life of the process, each). Here a subscription's first message makes its
  certificate and the later ones are signed with the same, as SNS signs
  with one certificate at a time.
- SQS receives, how `make tail`, the tests and `make soak` read what was
  published: for each message received, moto read the queue's retention
  period through GetQueueAttributes' code, which counts every message of the
  queue three times, three times over; so reading a queue's n messages cost
  n² passes over them, and a subscriber that fell behind never caught up.
  Here the period is read from the queue. What is left is one pass over the
  waiting messages, asking each whether it is visible and whether it is
  delayed, and moto read the time for each answer through datetime
  arithmetic (a few µs each); here SQS's clock is `time.time`, the same
  seconds since the epoch. At 2,000 messages waiting, a ReceiveMessage of 10
  took 1.9 s, and takes 4 ms.
- SQS deletes: moto looked for a deleted message's receipt handle in every
  message of the queue, twice, building a list of each one's handles on the
  way. A subscriber deletes what it has just received, the oldest messages,
  at the front of the queue: here the search stops at the message found.
- Memory: moto keeps every model object it ever made, in a list per class
  for its dashboard (`/moto-api/data.json`), so every SQS message, the copy
  of it each receive makes, and every DynamoDB item written stayed in memory
  after it was deleted or replaced; and each topic kept every message
  published to it. Here SQS messages and DynamoDB items are left out of the
  dashboard's lists (queues and tables are still in them) and topics keep no
  copy, so that what moto holds is what the queues and tables hold: a
  message published, received and deleted kept 6.4 KB, and now keeps its
  receipt handle (to recognize a second delete of it).
"""

import base64
import functools
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from moto.core.utils import camelcase_to_underscores, iso_8601_datetime_with_milliseconds
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.sns.models import Subscription, Topic
from moto.sqs import models as sqs_models
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend

# DynamoDB's refusal of an INSERT whose key has an item (BatchStatementError's code).
DUPLICATE_ITEM = "DuplicateItem"
_INSERT = re.compile(
    r"""\s*INSERT\s+INTO\s+"(?P<table>[^"]+)"\s+VALUE\s+\{(?P<names>(?:\s*'[^']+'\s*:\s*\?\s*,?)+)\}\s*""",
    re.IGNORECASE,
)
_NAME = re.compile(r"'([^']+)'\s*:\s*\?")
_DELETE = re.compile(
    r"""\s*DELETE\s+FROM\s+"(?P<table>[^"]+)"\s+WHERE\s+"(?P<key>[^"]+)"\s*=\s*\?"""
    r"""\s+AND\s+"(?P<attribute>[^"]+)"\s*(?P<operator>=|<)\s*\?\s*""",
    re.IGNORECASE,
)
_UPDATE = re.compile(
    r"""\s*UPDATE\s+"(?P<table>[^"]+)"\s+(?P<sets>(?:SET\s+"[^"]+"\s*=\s*\?\s+)+)"""
    r"""WHERE\s+"(?P<key>[^"]+)"\s*=\s*\?\s+AND\s+"(?P<attribute>[^"]+)"\s*=\s*\?\s*""",
    re.IGNORECASE,
)
_SET = re.compile(r'SET\s+"([^"]+)"\s*=\s*\?', re.IGNORECASE)
# A queue's counts of its messages, each a pass over all of them.
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)
_sending = threading.local()
# Distinct condition expressions kept before the cache starts again: a round's claims share one.
_PARSED_KEPT = 10_000
_patched = False


def patch_moto() -> None:
    """Make moto's DynamoDB do what the service's calls need, as DynamoDB does it (idempotent)."""
    global _patched  # noqa: PLW0603 (a process is patched once)
    if _patched:
        return
    setattr(DynamoDBBackend, "batch_execute_statement", _with_inserts(DynamoDBBackend.batch_execute_statement))  # noqa: B010
    setattr(ConditionExpressionParser, "parse", _parsed_once(ConditionExpressionParser.parse))  # noqa: B010
    setattr(SQSBackend, "send_message", _sent_uncounted(SQSBackend.send_message))  # noqa: B010
    setattr(sqs_models, "camelcase_to_underscores", functools.cache(camelcase_to_underscores))  # noqa: B010
    for count in _COUNTS:
        setattr(Queue, count, _uncounted_while_sending(getattr(Queue, count)))
    setattr(Subscription, "get_post_data", _signed_with_one_certificate(Subscription.get_post_data))  # noqa: B010
    setattr(SQSBackend, "is_message_valid_based_on_retention_period", _within_retention)  # noqa: B010
    setattr(sqs_models, "unix_time", time.time)  # noqa: B010
    setattr(sqs_models, "unix_time_millis", _unix_time_millis)  # noqa: B010
    setattr(Queue, "delete_message", _delete_found)  # noqa: B010
    for model in (Message, Item):
        setattr(model, "__new__", staticmethod(_untracked))  # noqa: B010
    setattr(Topic, "publish", _kept_no_copy(Topic.publish))  # noqa: B010
    _patched = True


def _with_inserts(batch_execute_statement: Any) -> Any:
    def execute(backend: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        responses: list[dict[str, Any]] = []
        for statement in statements:
            parameters = statement.get("Parameters", [])
            if insert := _INSERT.fullmatch(statement["Statement"]):
                responses.append(_insert(backend, insert, parameters))
            elif delete := _DELETE.fullmatch(statement["Statement"]):
                responses.append(_delete(backend, delete, parameters))
            elif update := _UPDATE.fullmatch(statement["Statement"]):
                responses.append(_update(backend, update, parameters))
            else:
                responses.extend(batch_execute_statement(backend, [statement]))
        return responses

    return execute


def _insert(backend: Any, insert: re.Match[str], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """One INSERT of one item: put, unless an item has its key."""
    table = backend.tables.get(insert["table"])
    if table is None:
        return {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
    item = dict(zip(_NAME.findall(insert["names"]), parameters, strict=True))
    if table.get_item(DynamoType(item[table.hash_key_attr])) is not None:
        return {"Error": {"Code": DUPLICATE_ITEM, "Message": "Duplicate primary key exists in table"}}
    table.put_item(item)
    return {"TableName": table.name}


def _delete(backend: Any, delete: re.Match[str], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """One DELETE by key on one more condition: no item is a success; an item the condition is false for, refused."""
    table = backend.tables.get(delete["table"])
    if table is None:
        return {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
    key, value = DynamoType(parameters[0]), DynamoType(parameters[1])
    item = table.get_item(key)
    if item is not None:
        found = item.attrs.get(delete["attribute"])
        holds = found is not None and (found == value if delete["operator"] == "=" else found < value)
        if not holds:
            return {"Error": {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}}
        table.delete_item(key, None)
    return {"TableName": table.name}


def _update(backend: Any, update: re.Match[str], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """One UPDATE by key on one more condition (`=`): its attributes set; refused without an item, or if it is false."""
    table = backend.tables.get(update["table"])
    if table is None:
        return {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
    names = _SET.findall(update["sets"])
    key, expected = DynamoType(parameters[len(names)]), DynamoType(parameters[len(names) + 1])
    item = table.get_item(key)
    if item is None or item.attrs.get(update["attribute"]) != expected:
        return {"Error": {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}}
    for name, value in zip(names, parameters, strict=False):
        item.attrs[name] = DynamoType(value)
    return {"TableName": table.name}


def _parsed_once(parse: Any) -> Any:
    parsed: dict[str, tuple[Any, list[str], list[str]]] = {}

    def parse_once(parser: Any) -> Any:
        key = json.dumps(
            [parser.condition_expression, parser.expression_attribute_names, parser.expression_attribute_values],
            sort_keys=True,
        )
        if key not in parsed:
            tree = parse(parser)
            if len(parsed) >= _PARSED_KEPT:
                parsed.clear()
            parsed[key] = (tree, list(parser.expr_attr_names_found), list(parser.expr_attr_values_found))
            return tree
        tree, names, values = parsed[key]
        parser.expr_attr_names_found.extend(names)
        parser.expr_attr_values_found.extend(values)
        return tree

    return parse_once


def _sent_uncounted(send_message: Callable[..., Any]) -> Callable[..., Any]:
    def send_uncounted(backend: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return send_message(backend, *args, **kwargs)
        finally:
            _sending.active = False

    return send_uncounted


def _uncounted_while_sending(count: property) -> property:
    def counted(queue: Any) -> int:
        return 0 if getattr(_sending, "active", False) else int(count.fget(queue))  # type: ignore[misc]

    return property(counted)


def _signed_with_one_certificate(get_post_data: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    certificates: dict[str, str] = {}

    def post_data(
        subscription: Any,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        certificate = certificates.get(subscription.arn)
        if certificate is None:
            data = get_post_data(subscription, message, message_id, subject, message_attributes)
            certificates[subscription.arn] = data["SigningCertURL"]
            return data
        timestamp = iso_8601_datetime_with_milliseconds()
        signed = f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\nTopicArn\n"
        signed += f"{subscription.topic.arn}\nType\nNotification\n"
        signature = subscription.private_key().sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        data = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": subscription.topic.arn,
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "2",
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": certificate,
            "UnsubscribeURL": (
                "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                f"arn:aws:sns:us-east-1:{subscription.account_id}:{subscription.topic.name}:"
                "2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
            ),
        }
        if subject:
            data["Subject"] = subject
        if message_attributes:
            data["MessageAttributes"] = message_attributes
        return data

    return post_data


def _within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    """Whether `message` is still within its queue's retention period."""
    retention_seconds: int = backend.get_queue(queue_name).message_retention_period
    return bool(message.sent_timestamp / 1000 + retention_seconds > time.time())


def _delete_found(queue: Any, receipt_handle: str) -> None:
    """Delete the message that had `receipt_handle`, as moto does, searching only as far as it."""
    if receipt_handle in queue.deleted_messages:
        return
    for index, message in enumerate(queue._messages):
        if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
            del queue._messages[index]
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
            return
    raise ReceiptHandleIsInvalid


def _untracked(model: type, *args: Any, **kwargs: Any) -> Any:
    """A model object, made as moto's base class makes one, but not kept in its class's list of every one made."""
    return object.__new__(model)


def _kept_no_copy(publish: Callable[..., str]) -> Callable[..., str]:
    def publish_without_copy(topic: Any, *args: Any, **kwargs: Any) -> str:
        message_id = publish(topic, *args, **kwargs)
        topic.sent_notifications.clear()
        return message_id

    return publish_without_copy


def _unix_time_millis() -> float:
    return time.time() * 1000
