"""Every AWS call a client makes, as botocore sends it and as AWS answers it: what the bill is made of.

Counted at botocore's own event hooks on the service's clients, so every
operation is seen whatever code makes it: its parameters as the caller gave
them (`provide-client-params`), and its answer, an error answer included
(`after-call`), or the exception that left it without one (`after-call-error`).
A call that botocore refused before sending it is not counted: AWS never saw it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# Where a call's parameters wait in botocore's per-call context for its answer.
_PARAMS = "bench_bill_params"


@dataclass(frozen=True)
class Call:
    """One call sent to AWS: its answer is empty when none came back."""

    service: str  # botocore's service id, hyphenized: "dynamodb", "sns"
    operation: str
    params: dict[str, Any]
    answer: dict[str, Any]
    error: str | None = None  # the error code AWS answered, or the exception's name when no answer came


class CallCounter:
    """Counts the calls `clients` send while `counting`, in the order their answers arrive.

    Its hooks are registered once, for the life of the process: registering
    a handler empties botocore's cache of which handlers each event has, which
    every call would then pay to rebuild, inside the CPU time being measured.
    The parameters are kept as given, not copied, for the same reason.
    """

    def __init__(self, *clients: Any) -> None:
        self._calls: list[Call] | None = None
        for client in clients:
            client.meta.events.register("provide-client-params", self._provide)
            client.meta.events.register("after-call", self._answered)
            client.meta.events.register("after-call-error", self._unanswered)

    @contextmanager
    def counting(self) -> Iterator[list[Call]]:
        """The calls sent while the block runs."""
        calls: list[Call] = []
        self._calls = calls
        try:
            yield calls
        finally:
            self._calls = None

    def _provide(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = params

    def _answered(self, parsed: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any) -> None:
        if self._calls is not None:
            self._calls.append(_call(event_name, context, parsed, parsed.get("Error", {}).get("Code")))

    def _unanswered(self, exception: Exception, context: dict[str, Any], event_name: str, **_: Any) -> None:
        if self._calls is not None:
            self._calls.append(_call(event_name, context, {}, type(exception).__name__))


def _call(event_name: str, context: dict[str, Any], answer: dict[str, Any], error: str | None) -> Call:
    """The call an `after-call.<service>.<Operation>` event (or its `-error` twin) reports."""
    _, service, operation = event_name.split(".")
    return Call(service, operation, context.get(_PARAMS, {}), answer, error)
