"""moto as this project runs it: the AWS of the tests, of `make run` and of the bench.

moto answers every call the service makes. Where, for those calls, it is slow
or does not do what DynamoDB documents, `patch_moto` changes it, once per
process, before the first call:

- PartiQL's INSERT, which the service claims a batch's events with:
  moto copies every item of every table into a new list for each statement,
  so a claim slows down as the table grows (an hour of `make run` traffic
  would make every batch time out), and it overwrites a key that has an item,
  where DynamoDB refuses the statement with `DuplicateItem`. Here an INSERT of
  one item, its values as parameters (the shape the service sends), is done as
  DynamoDB documents it, in constant time; any other statement is moto's own.
- Condition expressions: moto parses one twice per conditional write, which
  is most of what a claim costs it; here each expression, with its names and
  values, is parsed once and its syntax tree reused.
"""

import json
import re
from typing import Any

from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

# DynamoDB's refusal of an INSERT whose key has an item (BatchStatementError's code).
DUPLICATE_ITEM = "DuplicateItem"
_INSERT = re.compile(
    r"""\s*INSERT\s+INTO\s+"(?P<table>[^"]+)"\s+VALUE\s+\{(?P<names>(?:\s*'[^']+'\s*:\s*\?\s*,?)+)\}\s*""",
    re.IGNORECASE,
)
_NAME = re.compile(r"'([^']+)'\s*:\s*\?")
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
    _patched = True


def _with_inserts(batch_execute_statement: Any) -> Any:
    def execute(backend: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        responses: list[dict[str, Any]] = []
        for statement in statements:
            insert = _INSERT.fullmatch(statement["Statement"])
            if insert is None:
                responses.extend(batch_execute_statement(backend, [statement]))
            else:
                responses.append(_insert(backend, insert, statement.get("Parameters", [])))
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
