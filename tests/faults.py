"""SNS failures injected into the service's own client, in SNS's place.

A botocore `before-call` hook answers a Publish with the HTTP status and error
document SNS would send, parsed by botocore's own Query-protocol parser (or
raises the socket error botocore would), so the service's real retry and error
handling runs against them. The call then never reaches moto; calls past the
scripted ones do, as usual.
"""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.parsers import create_parser

from chalicelib.dynamodb import dynamodb_clients
from chalicelib.publisher import sns_clients

Answer = tuple[AWSResponse, dict[str, Any]]
Fault = Callable[[Any], Answer]
_ENDPOINT = "https://sns.us-east-1.amazonaws.com/"


def sns_error(status: int, code: str, message: str = "injected") -> Fault:
    """SNS answering `status` with error `code`, as its Query API does."""
    document = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    headers = {"Content-Type": "text/xml"}

    def answer(model: Any) -> Answer:
        parsed = create_parser("query").parse(
            {"status_code": status, "headers": headers, "body": document}, model.output_shape
        )
        return AWSResponse(_ENDPOINT, status, headers, None), parsed  # type: ignore[arg-type]

    answer.__name__ = code
    return answer


def not_connected(model: Any) -> Answer:
    """No connection to SNS: the request never left, so nothing was published."""
    raise EndpointConnectionError(endpoint_url=_ENDPOINT)


def connection_reset(model: Any) -> Answer:
    """The connection closed before SNS's answer: from the client's side, SNS may have taken the message."""
    raise ConnectionClosedError(endpoint_url=_ENDPOINT)


def read_timeout(model: Any) -> Answer:
    """No answer within the read timeout: from the client's side, SNS may have taken the message."""
    raise ReadTimeoutError(endpoint_url=_ENDPOINT)


THROTTLED = sns_error(400, "Throttling", "Rate exceeded")
INTERNAL_ERROR = sns_error(500, "InternalError")
UNAVAILABLE = sns_error(503, "ServiceUnavailable")
TOPIC_NOT_FOUND = sns_error(404, "NotFound", "Topic does not exist")
ACCESS_DENIED = sns_error(403, "AuthorizationError", "not authorized to perform: SNS:Publish")


@contextmanager
def sns_publish_faults(*faults: Fault, operation: str = "Publish") -> Iterator[list[Fault]]:
    """The next `operation` calls meet `faults`, in order; yields the ones not yet used."""
    pending = list(faults)

    def before_call(model: Any, **kwargs: Any) -> Answer | None:
        if not pending:
            return None
        return pending.pop(0)(model)

    with hooked(sns_clients(), f"before-call.sns.{operation}", before_call):
        yield pending


def carrying(message_id: str) -> Callable[[dict[str, Any]], bool]:
    """Whether an SNS Publish or PublishBatch call carries the event `message_id` (by its messageId attribute)."""

    def carries(params: dict[str, Any]) -> bool:
        entries = params.get("PublishBatchRequestEntries", [params])
        return any(entry["MessageAttributes"]["messageId"]["StringValue"] == message_id for entry in entries)

    return carries


@contextmanager
def sns_unreachable(
    only: Callable[[dict[str, Any]], bool], before: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """Every Publish and PublishBatch call whose parameters `only` picks failing to connect, once `before` has
    returned (a call that waits, then fails); the others reach moto as usual."""

    def fail(params: dict[str, Any], **kwargs: Any) -> None:
        if only(params):
            before()
            raise EndpointConnectionError(endpoint_url=_ENDPOINT)

    with (
        hooked(sns_clients(), "before-parameter-build.sns.Publish", fail),
        hooked(sns_clients(), "before-parameter-build.sns.PublishBatch", fail),
    ):
        yield


@contextmanager
def hooked(clients: list[Any], event: str, hook: Callable[..., Any]) -> Iterator[None]:
    """`hook` first on `event` of each of `clients`: every patience level of a service, as its calls may use any."""
    for client in clients:
        client.meta.events.register_first(event, hook)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister(event, hook)


def waits_for(client: Any) -> float:
    """How long a client of the service waits for an answer: a slow call past it times out."""
    return float(client.meta.config.read_timeout)


def receipts(params: dict[str, Any]) -> bool:
    """Whether a DynamoDB call writes a round's receipt (a PutItem of a `round/` item)."""
    return str(params.get("Item", {}).get("id", {}).get("S", "")).startswith("round/")


def claims(params: dict[str, Any]) -> bool:
    """Whether a DynamoDB call claims events: a batch's INSERTs, or a PutItem that is not a round's receipt."""
    return "Statements" in params or ("Item" in params and not receipts(params))


def releases(params: dict[str, Any]) -> bool:
    """Whether a DynamoDB call releases claims: a batch of DELETEs."""
    return any(statement["Statement"].startswith("DELETE") for statement in params.get("Statements", []))


@contextmanager
def dynamodb_unreachable(
    operation: str, times: int = 1_000_000, only: Callable[[dict[str, Any]], bool] = lambda params: True
) -> Iterator[None]:
    """The service's DynamoDB `operation` failing to connect, its first `times` calls in the block (of those
    whose parameters `only` picks)."""
    remaining = [times]

    def fail(params: dict[str, Any], **kwargs: Any) -> None:
        if remaining[0] > 0 and only(params):
            remaining[0] -= 1
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with hooked(dynamodb_clients(), f"before-parameter-build.dynamodb.{operation}", fail):
        yield


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """The URL of an AWS endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@contextmanager
def answers_lost(operation: str, service: str = "sns", times: int = 1_000_000) -> Iterator[None]:
    """`operation` carried out by AWS, but the answers to its first `times` calls never reaching the service."""
    remaining = [times]

    def lose(**kwargs: Any) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise ReadTimeoutError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")

    with hooked(sns_clients() if service == "sns" else dynamodb_clients(), f"after-call.{service}.{operation}", lose):
        yield
