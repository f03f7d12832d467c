"""What each event costs on the AWS bill, line by line, from the calls the service really makes.

    python -m bench.bill [--smoke] [--json FILE]

Four paths go through the view's Lambda handler (`app.app`, with the events
API Gateway hands it), each once with `DEDUP_TABLE` set and once without it
(at-least-once: no dedup table is touched):

- one event per request (`/v1/segment`);
- a `/v1/batch` of 100 events, and one of 500;
- one event, and a batch of 100, sent again: the same body delivered a second
  time, after a first delivery that was answered 200; only the second is
  counted.

AWS is moto's server in its own process (`bench.moto_server`), reset before
each path and provisioned as `make run` provisions the `local` stage: a topic
per event type with its queue, the key table, the dedup table. The events are
the bench's mix, each with a fresh messageId per delivery, so that a first
delivery is a first. Every call the service's own clients make is counted
(`bench.call_counter`) and turned into billed units (`bench.billing_units`),
then into dollars per million events (`bench.pricing`, `bench.prices`).
Lambda's duration is the handler's CPU time in this process (moto's is its
own), scaled to Lambda's CPU share at the view's memory size. The log bytes
are the lines the app prints, as Lambda would ship them, and Lambda's own
START, END and REPORT lines.
"""

import argparse
import copy
import io
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from bench import bill_tables
from bench.billing_units import CONDITION_FAILURES, LAMBDA_PLATFORM_LOG_BYTES, call_units, items_carried
from bench.call_counter import Call, CallCounter
from bench.environment import aws_environment, event_mix, gateway_event
from bench.moto_server import local_stage_without_tails, running_moto_server
from bench.prices import AUTO_SCALING_TARGET_UTILIZATION, PRICES, READ_ON
from bench.pricing import ONE_VCPU_MB, Usage, billed_ms, usd_per_million, usd_per_round_trip_ms
from tools.lambda_events import LambdaContext
from tools.provision import CHALICE_CONFIG, stage_environment

# The stage whose Lambda settings and metrics namespace the bill prices; its resources are the `local` stage's.
PRICED_STAGE = "prod"


@dataclass(frozen=True)
class EventPath:
    """One way Segment's events reach the view."""

    name: str
    label: str
    events: int  # per request
    again: bool = False  # each request is a second delivery of a body already answered 200

    @property
    def route(self) -> str:
        return "/v1/segment" if self.events == 1 else "/v1/batch"


PATHS = (
    EventPath("single", "one event per request", 1),
    EventPath("batch100", "batch of 100", 100),
    EventPath("batch500", "batch of 500", 500),
    EventPath("batch100_again", "batch of 100 sent again", 100, again=True),
    EventPath("single_again", "one event sent again", 1, again=True),
)
# Requests measured per path and mode: enough single events to go through the mix four times.
FULL = {"single": 48, "batch100": 4, "batch500": 2, "batch100_again": 3, "single_again": 24}
SMOKE = {"single": 12, "batch100": 1, "batch500": 1, "batch100_again": 1, "single_again": 12}


@dataclass
class Measured:
    """What one path's measured requests did: their AWS calls, CPU times and the bytes they logged."""

    calls: list[Call] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    log_bytes: int = 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as one JSON object")
    parser.add_argument("--smoke", action="store_true", help="one request per path: checks the machinery")
    args = parser.parse_args()
    figures = measure(SMOKE if args.smoke else FULL)
    print(bill_tables.tables(figures["bill"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def measure(requests: dict[str, int]) -> dict[str, Any]:
    """Every path, with and without the dedup table, against moto's server: the bill's figures.

    It takes this process over: its environment becomes the `local` stage's,
    pointed at moto, and the app is imported here, as Lambda imports it.
    """
    with running_moto_server() as endpoint:
        os.environ.clear()
        os.environ.update(aws_environment(endpoint))
        # The metrics namespace is part of every log line: the priced stage's, not the local one's.
        os.environ["METRICS_NAMESPACE"] = stage_environment(PRICED_STAGE)["METRICS_NAMESPACE"]
        import app
        from chalicelib.dynamodb import dynamodb_clients
        from chalicelib.publisher import sns_clients

        counter = CallCounter(*dynamodb_clients(), *sns_clients())
        _provisioned(endpoint, dedup=True)
        # Clients, connections and thread pools are built on first use, once per Lambda container.
        for path in (PATHS[0], PATHS[2]):
            _unmeasured(app, _deliveries(path, 1)[0], path)
        measured = {
            (path.name, dedup): _measured(
                app, counter, path, requests=requests[path.name], endpoint=endpoint, dedup=dedup
            )
            for path in PATHS
            for dedup in (True, False)
        }
    return figures(measured)


def _measured(
    app: Any, counter: CallCounter, path: EventPath, *, requests: int, endpoint: str, dedup: bool
) -> Measured:
    """`requests` deliveries of `path` through the handler, from an empty account.

    A path sent again delivers each body twice; the first delivery is not measured.
    """
    _provisioned(endpoint, dedup)
    measured = Measured()
    for event in _deliveries(path, requests):
        if path.again:
            _unmeasured(app, copy.deepcopy(event), path)
        with counter.counting() as calls, _log_bytes() as logged:
            started = time.process_time()
            answer = app.app(event, LambdaContext())
            cpu_seconds = time.process_time() - started
        _accepted(answer, path)
        measured.calls.extend(calls)
        measured.cpu_seconds.append(cpu_seconds)
        measured.log_bytes += logged.bytes
    return measured


def _unmeasured(app: Any, event: dict[str, Any], path: EventPath) -> None:
    """One request whose figures are not the path's, its log line not printed either."""
    with _log_bytes():
        _accepted(app.app(event, LambdaContext()), path)


def _provisioned(endpoint: str, dedup: bool) -> None:
    """An empty account with the `local` stage's resources (`bench.moto_server`); `DEDUP_TABLE` set or not."""
    stage = local_stage_without_tails(endpoint)
    if dedup:
        os.environ["DEDUP_TABLE"] = stage["DEDUP_TABLE"]
    else:
        os.environ.pop("DEDUP_TABLE", None)


def _deliveries(path: EventPath, requests: int) -> list[dict[str, Any]]:
    """`requests` Lambda events of `path`, the mix's events in turn, each with a messageId of its own."""
    events = cycle(event_mix())
    deliveries = []
    for _ in range(requests):
        batch = [_with_fresh_message_id(body) for body in islice(events, path.events)]
        payload: Any = batch[0] if path.events == 1 else {"batch": batch}
        deliveries.append(gateway_event(path.route, json.dumps(payload, separators=(",", ":")).encode()))
    return deliveries


def _with_fresh_message_id(body: bytes) -> dict[str, Any]:
    """The event, its messageId (whatever its spelling) a new one."""
    event: dict[str, Any] = json.loads(body)
    spelled = [name for name in event if name.replace("_", "").replace(" ", "").replace("-", "").lower() == "messageid"]
    event[spelled[0] if spelled else "messageId"] = str(uuid.uuid4())
    return event


def _accepted(answer: dict[str, Any], path: EventPath) -> None:
    """Stop the bill when a request was not accepted whole: a failed request's calls are not the path's."""
    accepted = answer.get("statusCode") == 200
    if accepted and path.events > 1:
        accepted = json.loads(answer["body"]) == {"accepted": path.events, "rejected": []}
    if not accepted:
        raise RuntimeError(f"{path.label}: the handler answered {answer.get('statusCode')}: {answer.get('body')}")


class _ByteCount(io.TextIOBase):
    """Where the app's log lines go while a request is measured: their UTF-8 bytes are counted, as Lambda ships them."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8", "surrogatepass"))
        return len(text)


@contextmanager
def _log_bytes() -> Iterator[_ByteCount]:
    """Count what the app prints to standard output and error meanwhile, instead of printing it."""
    count = _ByteCount()
    printed = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = count
    try:
        yield count
    finally:
        sys.stdout, sys.stderr = printed


def figures(measured: dict[tuple[str, bool], Measured]) -> dict[str, Any]:
    """The bill: each path and mode priced, and the figures a capacity model reads, at the top level."""
    memory_mb = _view_memory_mb()
    paths: dict[str, dict[str, Any]] = {
        path.name: {
            "label": path.label,
            "events_per_request": path.events,
            **{_mode(dedup): _priced(path, measured[path.name, dedup], memory_mb) for dedup in (True, False)},
        }
        for path in PATHS
    }
    bill = {
        "memory_mb": memory_mb,
        "one_vcpu_mb": ONE_VCPU_MB,
        "auto_scaling_target_utilization": AUTO_SCALING_TARGET_UTILIZATION,
        "lambda_platform_log_bytes": LAMBDA_PLATFORM_LOG_BYTES,
        "prices": [
            {"per": price.per, "usd": price.usd, "source": price.source, "read_on": READ_ON} for price in PRICES
        ],
        "paths": paths,
    }
    top: dict[str, Any] = {"bill": bill}
    for name, path in paths.items():
        top[f"usd_per_million_{name}"] = path["dedup"]["total"]
        top[f"usd_per_million_{name}_no_dedup"] = path["no_dedup"]["total"]
        top[f"usd_per_million_{name}_provisioned"] = path["dedup"]["total_provisioned"]
    top["units_per_event"] = {
        name: {mode: path[mode]["units_per_event"] for mode in ("dedup", "no_dedup")} for name, path in paths.items()
    }
    return top


def _priced(path: EventPath, measured: Measured, memory_mb: int) -> dict[str, Any]:
    requests = len(measured.cpu_seconds)
    units = [call_units(call) for call in measured.calls]
    usage = Usage(
        events=requests * path.events,
        requests=requests,
        billed_ms=sum(billed_ms(cpu, memory_mb) for cpu in measured.cpu_seconds),
        memory_mb=memory_mb,
        write_units=sum(unit.write_units for unit in units),
        read_units=sum(unit.read_units for unit in units),
        sns_requests=sum(unit.sns_requests for unit in units),
        log_bytes=measured.log_bytes + requests * LAMBDA_PLATFORM_LOG_BYTES,
    )
    on_demand = usd_per_million(usage)
    provisioned = usd_per_million(usage, provisioned=True)
    return {
        "requests": requests,
        "events": usage.events,
        "units_per_event": {
            "write_units": usage.write_units / usage.events,
            "read_units": usage.read_units / usage.events,
            "sns_requests": usage.sns_requests / usage.events,
            "log_bytes": usage.log_bytes / usage.events,
        },
        "lambda_cpu_ms_per_request": statistics.mean(measured.cpu_seconds) * 1000,
        "lambda_billed_ms_per_request": usage.billed_ms / requests,
        "usd_per_million": on_demand,
        "usd_per_million_provisioned": provisioned,
        "total": sum(on_demand.values()),
        "total_provisioned": sum(provisioned.values()),
        "usd_per_round_trip_ms": usd_per_round_trip_ms(usage),
        "calls_per_request": _calls_per_request(measured.calls, requests),
    }


def _calls_per_request(calls: list[Call], requests: int) -> dict[str, dict[str, float]]:
    """Each operation's calls, what they carried and billed, and how many failed, per request."""
    operations: dict[str, dict[str, float]] = {}
    for call in calls:
        units = call_units(call)
        counts = operations.setdefault(
            call.operation,
            dict.fromkeys(
                ("calls", "items", "write_units", "read_units", "sns_requests", "failed_conditions", "failed"), 0.0
            ),
        )
        counts["calls"] += 1
        counts["items"] += items_carried(call)
        counts["write_units"] += units.write_units
        counts["read_units"] += units.read_units
        counts["sns_requests"] += units.sns_requests
        counts["failed_conditions"] += call.error in CONDITION_FAILURES
        counts["failed"] += call.error is not None and call.error not in CONDITION_FAILURES
    return {
        operation: {name: count / requests for name, count in counts.items()}
        for operation, counts in operations.items()
    }


def _mode(dedup: bool) -> str:
    return "dedup" if dedup else "no_dedup"


def _view_memory_mb() -> int:
    """The view's Lambda memory size in the priced stage, as `make deploy` sets it."""
    memory_mb: int = json.loads(CHALICE_CONFIG.read_text())["stages"][PRICED_STAGE]["lambda_memory_size"]
    return memory_mb


if __name__ == "__main__":
    sys.exit(main())
