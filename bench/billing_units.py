"""What DynamoDB and SNS bill for one call, from what was sent and what came back (rules read 2026-12-04).

DynamoDB bills write and read units per item, by the item's size
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html and
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):

- an item's size is the sum of its attribute names' UTF-8 lengths and its values' sizes: a string its
  UTF-8 bytes; a number about one byte per two significant digits, plus one; a binary its raw bytes; a
  null or a Boolean one byte; a list or a map 3 bytes, plus its elements, plus one byte per element; a
  set its elements;
- a write bills one unit per 1 KB of the item, rounded up: PutItem the larger of the old and the new
  item, here the new one unless DynamoDB sent the old one back (the claims' and receipts' records all
  have the same size, so the two agree); DeleteItem the deleted item, at least one unit, here one unless
  DynamoDB sent it back; UpdateItem the larger of the item before and after, here what was sent unless
  DynamoDB sent it back; a transactional write twice that. A conditional write whose condition fails
  still bills ("If a ConditionExpression evaluates to false during a conditional write, DynamoDB still
  consumes write capacity from the table", WorkingWithItems.html#WorkingWithItems.ConditionalUpdate), and
  so, here, does a transaction cancelled by one: the documentation says what a transaction bills
  ("two underlying reads or writes of every item", transaction-apis.html), not what a cancelled one does;
- a read bills one unit per 4 KB of each item, rounded up; half that eventually consistent (DynamoDB's
  default: `ConsistentRead` false or absent); twice that transactional; a key without an item still bills
  the least a read can.

SNS bills a publish request per 64 KB chunk of its payload: "Each 64KB chunk of published data is billed
as 1 request. For example, a single API call with a 256KB payload will be billed as four requests."
(https://aws.amazon.com/sns/pricing/). The rule is per call, so a PublishBatch is billed by the chunks of
all its messages together, which is how batching "can reduce the costs ... by a factor of up to 10"
(https://docs.aws.amazon.com/sns/latest/dg/sns-batch-api-actions.html); billed by each message's own
chunks, ten messages would cost ten requests batched or not. A message's payload is its body and every
part of its attributes: "All parts of the message attribute, including name, type, and value, are
included in the message size restriction" (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html).

A PartiQL statement in a BatchExecuteStatement is counted as the item operation it stands for (an INSERT
as a PutItem of its item, an UPDATE as an UpdateItem, a DELETE as a DeleteItem), each on its own: PartiQL
is another way to call the same operations
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.html), and a batch of
statements, unlike a transaction, is not billed twice.

Calls that failed for another reason (throttled, refused, no answer) bill nothing here; the bill's table
counts them apart.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.call_counter import Call

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
SNS_CHUNK_BYTES = 64 * 1024
# The errors DynamoDB still bills a write for: its condition was evaluated.
CONDITION_FAILURES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# A PartiQL statement refused by its condition: an INSERT whose key has an item, an UPDATE or DELETE whose WHERE is
# false.
STATEMENT_CONDITION_FAILURES = frozenset({"DuplicateItem", "ConditionalCheckFailed"})
# The attribute names of an INSERT's item, its values given as parameters: `{'id': ?, 'at': ?}`.
_INSERTED_NAMES = re.compile(r"'([^']+)'\s*:\s*\?")
# Lambda's own lines for each invocation, after the function's, as Lambda's Python logging page shows them
# (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html): a warm invocation, without X-Ray's
# line, at the view's memory size. A cold start adds "Init Duration: ... ms" to the REPORT line.
LAMBDA_PLATFORM_LINES = (
    "START RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95 Version: $LATEST\n",
    "END RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\n",
    "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\tDuration: 15.74 ms\tBilled Duration: 16 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 56 MB\t\n",
)
LAMBDA_PLATFORM_LOG_BYTES = sum(len(line.encode()) for line in LAMBDA_PLATFORM_LINES)


@dataclass(frozen=True)
class Units:
    """What one call bills: DynamoDB write and read units, SNS requests (64 KB chunks)."""

    write_units: float = 0.0
    read_units: float = 0.0
    sns_requests: int = 0


def call_units(call: Call) -> Units:
    """What `call` bills, by its service's rules."""
    if call.service == "dynamodb":
        return dynamodb_units(call)
    if call.service == "sns":
        return Units(sns_requests=sns_requests(call))
    raise ValueError(f"the bill does not know how {call.service} bills its calls")


def dynamodb_units(call: Call) -> Units:
    """The write and read units of a DynamoDB call; none for a call refused before its condition was evaluated."""
    if call.error is not None and call.error not in CONDITION_FAILURES:
        return Units()
    rule = _DYNAMODB_RULES.get(call.operation)
    if rule is None:
        raise ValueError(f"the bill does not know how DynamoDB bills {call.operation}: add it to {__name__}")
    return rule(call.params, call.answer)


def sns_requests(call: Call) -> int:
    """The requests a Publish or PublishBatch call bills: its payload's 64 KB chunks, at least one."""
    if call.error is not None:
        return 0
    if call.operation == "Publish":
        return publish_requests([call.params])
    if call.operation == "PublishBatch":
        return publish_requests(call.params["PublishBatchRequestEntries"])
    raise ValueError(f"the bill does not know how SNS bills {call.operation}: add it to {__name__}")


def items_carried(call: Call) -> int:
    """The items, keys or messages one call carries."""
    params = call.params
    if call.operation == "PublishBatch":
        return len(params["PublishBatchRequestEntries"])
    if call.operation in ("TransactWriteItems", "TransactGetItems"):
        return len(params["TransactItems"])
    if call.operation == "BatchWriteItem":
        return sum(len(requests) for requests in params["RequestItems"].values())
    if call.operation == "BatchGetItem":
        return sum(len(request["Keys"]) for request in params["RequestItems"].values())
    if call.operation == "BatchExecuteStatement":
        return len(params["Statements"])
    return 1


def publish_requests(messages: Iterable[Mapping[str, Any]]) -> int:
    """The requests one call publishing `messages` bills: their payloads' 64 KB chunks together."""
    payload = sum(message_bytes(message) for message in messages)
    return max(1, math.ceil(payload / SNS_CHUNK_BYTES))


def message_bytes(message: Mapping[str, Any]) -> int:
    """An SNS message's payload: its body, subject, and each attribute's name, type and value."""
    size = _utf8(message["Message"]) + _utf8(message.get("Subject", ""))
    for name, attribute in message.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue", attribute.get("BinaryValue", b""))
        size += _utf8(name) + _utf8(attribute["DataType"]) + _utf8(value)
    return size


def item_bytes(item: Mapping[str, Any]) -> int:
    """A DynamoDB item's size: its attribute names' UTF-8 bytes and its values' sizes."""
    return sum(_utf8(name) + value_bytes(value) for name, value in item.items())


def value_bytes(value: Mapping[str, Any]) -> int:
    """The size of one attribute value, given as the low-level client takes it (`{"S": "..."}`)."""
    [(kind, content)] = value.items()
    if kind in ("S", "B"):
        size = _utf8(content)
    elif kind == "N":
        size = number_bytes(content)
    elif kind in ("BOOL", "NULL"):
        size = 1
    elif kind in ("SS", "BS"):
        size = sum(_utf8(element) for element in content)
    elif kind == "NS":
        size = sum(number_bytes(element) for element in content)
    elif kind == "L":
        size = 3 + sum(1 + value_bytes(element) for element in content)
    elif kind == "M":
        size = 3 + sum(1 + _utf8(name) + value_bytes(element) for name, element in content.items())
    else:
        raise ValueError(f"not a DynamoDB attribute value: {kind}")
    return size


def number_bytes(number: str) -> int:
    """About one byte per two significant digits, plus one: leading and trailing zeros are not stored."""
    digits = Decimal(number).normalize().as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return math.ceil(significant / 2) + 1


def write_units(size: int, transactional: bool = False) -> int:
    """The write units of one item of `size` bytes: one per KB, rounded up, at least one; twice in a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """The read units of one item of `size` bytes (0: no item): one per 4 KB, rounded up, at least one.

    Half that eventually consistent, twice that in a transaction.
    """
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def _put_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    old = answer.get("Attributes") or answer.get("Item") or {}
    return Units(write_units=write_units(max(item_bytes(params["Item"]), item_bytes(old))))


def _update_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    return Units(write_units=write_units(_updated_bytes(params, answer)))


def _delete_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    return Units(write_units=write_units(item_bytes(answer.get("Attributes") or {})))


def _batch_write_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    """Each put and delete as its own PutItem or DeleteItem; those DynamoDB left unprocessed bill nothing."""
    unprocessed = answer.get("UnprocessedItems") or {}
    units = 0
    for table, requests in params["RequestItems"].items():
        left = unprocessed.get(table, [])
        units += sum(_request_write_units(request) for request in requests)
        units -= sum(_request_write_units(request) for request in left)
    return Units(write_units=units)


def _request_write_units(request: Mapping[str, Any]) -> int:
    if "PutRequest" in request:
        return write_units(item_bytes(request["PutRequest"]["Item"]))
    return write_units(0)  # a DeleteRequest: the deleted item is not sent back, and bills at least one unit


def _transact_write_items(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    units = 0
    for action in params["TransactItems"]:
        [(kind, operation)] = action.items()
        if kind == "Put":
            size = item_bytes(operation["Item"])
        elif kind == "Update":
            size = _updated_bytes(operation, {})
        else:  # Delete and ConditionCheck name a key only
            size = 0
        units += write_units(size, transactional=True)
    return Units(write_units=units)


def _updated_bytes(params: Mapping[str, Any], answer: Mapping[str, Any]) -> int:
    """An updated item's size: what DynamoDB sent back of it, or the key and the values sent."""
    returned = answer.get("Attributes") or {}
    sent = item_bytes(params["Key"]) + sum(
        value_bytes(value) for value in params.get("ExpressionAttributeValues", {}).values()
    )
    return max(item_bytes(returned), sent)


def _get_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    item = answer.get("Item") or {}
    return Units(read_units=read_units(item_bytes(item), consistent=bool(params.get("ConsistentRead"))))


def _batch_get_item(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    """Each key as its own GetItem: found items by their size, keys without one at the least, unprocessed ones not."""
    found = answer.get("Responses") or {}
    unprocessed = answer.get("UnprocessedKeys") or {}
    units = 0.0
    for table, request in params["RequestItems"].items():
        consistent = bool(request.get("ConsistentRead"))
        items = found.get(table, [])
        missing = len(request["Keys"]) - len(unprocessed.get(table, {}).get("Keys", [])) - len(items)
        units += sum(read_units(item_bytes(item), consistent) for item in items)
        units += missing * read_units(0, consistent)
    return Units(read_units=units)


def _batch_execute_statement(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    """Each statement as its own write: an INSERT by the item it carries (its attribute names from the statement,
    its values the parameters), an UPDATE or a DELETE at least one unit (the service's claim records are far
    below 1 KB); a statement refused by its condition (an INSERT's key taken, a WHERE false) bills too, one
    throttled or failing does not. Reads are not sent this way."""
    responses = answer.get("Responses") or [{} for _ in params["Statements"]]
    units = 0
    for statement, response in zip(params["Statements"], responses, strict=True):
        code = response.get("Error", {}).get("Code")
        if code is not None and code not in STATEMENT_CONDITION_FAILURES:
            continue
        names = _INSERTED_NAMES.findall(statement["Statement"])
        item = dict(zip(names, statement.get("Parameters", []), strict=False))
        units += write_units(item_bytes(item))
    return Units(write_units=units)


def _transact_get_items(params: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    responses = answer.get("Responses") or [{} for _ in params["TransactItems"]]
    items = [response.get("Item") or {} for response in responses]
    return Units(read_units=sum(read_units(item_bytes(item), True, transactional=True) for item in items))


_DYNAMODB_RULES = {
    "PutItem": _put_item,
    "UpdateItem": _update_item,
    "DeleteItem": _delete_item,
    "BatchWriteItem": _batch_write_item,
    "TransactWriteItems": _transact_write_items,
    "GetItem": _get_item,
    "BatchGetItem": _batch_get_item,
    "TransactGetItems": _transact_get_items,
    "BatchExecuteStatement": _batch_execute_statement,
}


def _utf8(text: str | bytes) -> int:
    return len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
