"""JSON as RFC 8259 defines it, and nothing Python's parser allows beyond it.

Python's `json` accepts `NaN` and `Infinity`, turns `1e400` into infinity and
recurses until the interpreter gives up; each of those would reach SNS consumers
as something no other JSON parser reads, or crash the request. Here they are all
a `BadRequest` that says what is wrong.
"""

import json
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from chalicelib.errors import BadRequest

MAX_DEPTH = 100
_UTF8_BOM = "\ufeff"
# Integers with fewer digits than the largest float always fit one.
_FLOAT_MAX_DIGITS = len(str(int(sys.float_info.max)))


def parse_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse `raw` as one JSON object; `what` names it in error messages ("body")."""
    value = parse(raw, what)
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not {_kind(value)}")
    return value


def parse(raw: bytes, what: str) -> Any:
    """Parse `raw` as any JSON value, ignoring a leading UTF-8 byte order mark."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"{what} is not valid UTF-8 (byte {error.start})") from None
    if text.startswith(_UTF8_BOM):
        text = text[1:]
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_float_sized_int,
        )
    except json.JSONDecodeError as error:
        raise BadRequest(f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except _NotJson as error:
        raise BadRequest(f"{what} is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(_too_deep(what)) from None
    # Each level needs an opening bracket, so a text with few of them is shallow enough.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise BadRequest(_too_deep(what))
    return value


class _NotJson(ValueError):
    """A token Python's parser would accept but RFC 8259 does not."""


def _reject_constant(name: str) -> NoReturn:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise _too_big()
    return value


def _float_sized_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits >= _FLOAT_MAX_DIGITS:
        # Checked before int() so that 10,000 digits never reach the int parser's limit.
        if digits > _FLOAT_MAX_DIGITS:
            raise _too_big()
        try:
            float(int(literal))
        except OverflowError:
            raise _too_big() from None
    return int(literal)


def _too_big() -> _NotJson:
    return _NotJson("a number does not fit a 64-bit float")


def _depth(value: Any) -> int:
    """Nesting depth of containers, without recursion (the input may be hostile)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep(what: str) -> str:
    return f"{what} is nested deeper than {MAX_DEPTH} levels"


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
