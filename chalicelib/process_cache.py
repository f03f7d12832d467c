"""What a Lambda container keeps from one invocation to the next, and the one way to forget it.

AWS clients, resolved secrets and webhook secrets are built on first use and
kept for the life of the process (`per_process`): building them again on every
request would cost a cold start's worth of time each. Tests and tools that
change the environment under a live process forget them all with
`forget_all`. Thread pools are kept too, but nothing in them depends on the
environment, so they are never forgotten.
"""

from collections.abc import Callable
from functools import cache
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
T = TypeVar("T")

_KEPT: list[Any] = []


def per_process(function: Callable[P, T]) -> Callable[P, T]:
    """`function`, its results kept per arguments until `forget_all`."""
    kept = cache(function)
    _KEPT.append(kept)
    return cast("Callable[P, T]", kept)


def forget_all() -> None:
    """Forget every result kept per process: the next use builds it again from the environment."""
    for kept in _KEPT:
        kept.cache_clear()
