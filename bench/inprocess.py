"""The measurements that run inside one fresh process: warm path, warm authorizer, batch, memory.

    python -m bench.inprocess warm|authorizer|batch|memory|largest-batch [--rounds N] [--events N]

Run by `python -m bench` with the stub's endpoint in the environment; prints
its figures as one JSON line. The app's own log lines go to /dev/null, as
Lambda's would go to its log pipe: writing them is part of the handler's cost.
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from bench.environment import API_KEY, event_mix, gateway_event
from tools.lambda_events import LambdaContext, authorizer_event

BATCH_EVENTS = 100
# Decisions per round of the warm authorizer: as many as the view's round has events.
DECISIONS = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=sorted(MEASURES))
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds (warm, authorizer, batch)")
    parser.add_argument("--events", type=int, default=10_000, help="events to push through (memory)")
    args = parser.parse_args()
    results = sys.stdout
    with open(os.devnull, "w") as log_lines:
        sys.stdout = log_lines
        try:
            figures = MEASURES[args.measure](args)
        finally:
            sys.stdout = results
    print(json.dumps(figures))
    return 0


def warm(args: argparse.Namespace) -> dict[str, Any]:
    """µs per event through the view's Lambda handler vs. the same SNS publishes alone, on the same client."""
    # Each measure imports the app itself, inside the process it measures.
    import app
    from chalicelib.publisher import sns_client

    events = [gateway_event("/v1/segment", body) for body in event_mix()]
    client = sns_client()
    published = _captured_calls(
        client, "Publish", lambda: [_accepted(app.app(event, LambdaContext())) for event in events]
    )

    def ours() -> None:
        for event in events:
            app.app(event, LambdaContext())

    def floor() -> None:
        for params in published:
            client.publish(**params)

    rounds = _interleaved({"ours": ours, "floor": floor}, args.rounds)
    return {
        "events_per_round": len(events),
        "rounds": args.rounds,
        "ours_us": _median(rounds, "ours", "wall") / len(events) * 1e6,
        "floor_us": _median(rounds, "floor", "wall") / len(events) * 1e6,
        "ratio": _median_ratio(rounds, "ours", "floor", "wall"),
        "ours_cpu_us": _median(rounds, "ours", "cpu") / len(events) * 1e6,
        "floor_cpu_us": _median(rounds, "floor", "cpu") / len(events) * 1e6,
        "cpu_ratio": _median_ratio(rounds, "ours", "floor", "cpu"),
        "published": published[:1],
        "client_config": _customized_config(client),
    }


def authorizer(args: argparse.Namespace) -> dict[str, Any]:
    """µs per decision of the authorizer's Lambda handler vs. the same GetItem alone, on the same client.

    API Gateway caches a decision per key for five minutes, so the authorizer
    runs warm only when that cache misses; this is what such a run costs.
    """
    import app
    from chalicelib.dynamodb import dynamodb_client

    event = authorizer_event(API_KEY)
    client = dynamodb_client()
    [get_item] = _captured_calls(client, "GetItem", lambda: app.api_key_authorizer(event, LambdaContext()))

    def ours() -> None:
        for _ in range(DECISIONS):
            app.api_key_authorizer(event, LambdaContext())

    def floor() -> None:
        for _ in range(DECISIONS):
            client.get_item(**get_item)

    rounds = _interleaved({"ours": ours, "floor": floor}, args.rounds)
    return {
        "ours_us": _median(rounds, "ours", "wall") / DECISIONS * 1e6,
        "floor_us": _median(rounds, "floor", "wall") / DECISIONS * 1e6,
        "ratio": _median_ratio(rounds, "ours", "floor", "wall"),
        "ours_cpu_us": _median(rounds, "ours", "cpu") / DECISIONS * 1e6,
        "get_item": get_item,
        "client_config": _customized_config(client),
    }


def batch(args: argparse.Namespace) -> dict[str, Any]:
    """Events per second through `/v1/batch` (100-event batches) vs. the same events one request each.

    Also the SDK's own ceiling for the same comparison: a PublishBatch of ten
    messages vs. ten Publish calls of the same messages.
    """
    import app
    from chalicelib.publisher import BATCH_ENTRIES, sns_client

    mix = event_mix()
    bodies = list(islice(cycle(mix), BATCH_EVENTS))
    batch_body = json.dumps({"batch": [json.loads(body) for body in bodies]}).encode()
    batch_event = gateway_event("/v1/batch", batch_body)
    singles = [gateway_event("/v1/segment", body) for body in bodies]
    client = sns_client()
    answers: list[dict[str, Any]] = []
    batch_calls = _captured_calls(client, "PublishBatch", lambda: answers.append(app.app(batch_event, LambdaContext())))
    answer = json.loads(_accepted(answers[0])["body"])
    if answer != {"accepted": BATCH_EVENTS, "rejected": []}:
        raise RuntimeError(f"the batch was not accepted whole: {answer}")
    published = _captured_calls(
        client, "Publish", lambda: [_accepted(app.app(event, LambdaContext())) for event in singles]
    )
    # The SDK's own ceiling: one full PublishBatch call vs. as many Publish calls, same messages, one topic.
    topic = published[0]["TopicArn"]
    sdk_singles = [{**params, "TopicArn": topic} for params in published[:BATCH_ENTRIES]]
    sdk_entries: list[Any] = [
        {"Id": str(number), "Message": params["Message"], "MessageAttributes": params["MessageAttributes"]}
        for number, params in enumerate(sdk_singles)
    ]

    def batched() -> None:
        app.app(batch_event, LambdaContext())

    def one_by_one() -> None:
        for event in singles:
            app.app(event, LambdaContext())

    def sdk_batch() -> None:
        client.publish_batch(TopicArn=topic, PublishBatchRequestEntries=sdk_entries)

    def sdk_one_by_one() -> None:
        for params in sdk_singles:
            client.publish(**params)

    works = {"batch": batched, "single": one_by_one, "sdk batch": sdk_batch, "sdk single": sdk_one_by_one}
    rounds = _interleaved(works, args.rounds)
    return {
        "events_per_batch": BATCH_EVENTS,
        "rounds": args.rounds,
        "batch_events_per_s": BATCH_EVENTS / _median(rounds, "batch", "wall"),
        "single_events_per_s": BATCH_EVENTS / _median(rounds, "single", "wall"),
        # The same events either way: the ratio of events/s is that of the times, inverted.
        "speedup": _median_ratio(rounds, "single", "batch", "wall"),
        "sdk_speedup": _median_ratio(rounds, "sdk single", "sdk batch", "wall"),
        "publish_batch_calls_per_batch": len(batch_calls),
    }


def memory(args: argparse.Namespace) -> dict[str, Any]:
    """Resident memory while `args.events` events of the mix go through the view's handler."""
    import app

    events = [gateway_event("/v1/segment", body) for body in event_mix()]
    halfway = args.events // 2
    rss: dict[str, float] = {"after_import": _status_mib("VmRSS")}
    for number, event in enumerate(islice(cycle(events), args.events), start=1):
        _accepted(app.app(event, LambdaContext()))
        if number == 1:
            rss["after_first_event"] = _status_mib("VmRSS")
        if number == halfway:
            rss["halfway"] = _status_mib("VmRSS")
    rss["end"] = _status_mib("VmRSS")
    return {
        "events": args.events,
        "rss_mib": rss,
        "peak_rss_mib": _status_mib("VmHWM"),
        "rss_growth_mib": rss["end"] - rss["halfway"],
    }


def largest_batch(args: argparse.Namespace) -> dict[str, Any]:
    """What the largest batch `/v1/batch` accepts adds to resident memory, published whole.

    2,500 events filling the 500 KB body, with settings that bring their
    messages close to the 8 MiB cap: each copy of the settings is the cost a
    batch can multiply. The growth is the peak (VmHWM) over the resident memory
    once the process has served an event (imports and clients are not the batch's).
    """
    import app
    from chalicelib.batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_MESSAGE_BYTES

    _accepted(app.app(gateway_event("/v1/segment", event_mix()[0]), LambdaContext()))
    event_bytes = MAX_BATCH_BYTES // MAX_BATCH_EVENTS - 2
    events = [
        {"type": "track", "userId": f"u{n}", "event": "Order Completed", "properties": {"pad": ""}}
        for n in range(MAX_BATCH_EVENTS)
    ]
    for event in events:
        event["properties"] = {"pad": "x" * (event_bytes - len(json.dumps(event)))}
    body = json.dumps({"batch": events}).encode()
    # What each message adds to its event and settings: the envelope, a messageId, the attributes.
    settings = {"pad": "x" * (MAX_BATCH_MESSAGE_BYTES // MAX_BATCH_EVENTS - event_bytes - 400)}
    request = gateway_event("/v1/batch", body, settings)
    before = _status_mib("VmRSS")
    answer = json.loads(_accepted(app.app(request, LambdaContext()))["body"])
    if answer != {"accepted": MAX_BATCH_EVENTS, "rejected": []}:
        raise RuntimeError(f"the largest batch was not published whole: {answer}")
    return {"body_bytes": len(body), "events": MAX_BATCH_EVENTS, "rss_growth_mib": _status_mib("VmHWM") - before}


MEASURES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "warm": warm,
    "authorizer": authorizer,
    "batch": batch,
    "memory": memory,
    "largest-batch": largest_batch,
}


Rounds = list[dict[str, dict[str, float]]]


def _interleaved(works: dict[str, Callable[[], None]], rounds: int) -> Rounds:
    """Each work timed once per round, in an order that rotates, so that drift and noise fall on all alike."""
    timed: Rounds = []
    order = list(works.items())
    for _ in range(rounds):
        timed.append({name: _timed(work) for name, work in order})
        order = order[1:] + order[:1]
    return timed


def _timed(work: Callable[[], None]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def _median(rounds: Rounds, name: str, clock: str) -> float:
    return statistics.median(timed[name][clock] for timed in rounds)


def _median_ratio(rounds: Rounds, name: str, over: str, clock: str) -> float:
    """The median of each round's own ratio: robust to a round that the machine slowed down."""
    return statistics.median(timed[name][clock] / timed[over][clock] for timed in rounds)


def _captured_calls(client: Any, operation: str, work: Callable[[], object]) -> list[dict[str, Any]]:
    """The parameters of every `operation` call `work` makes on `client`: a floor repeats exactly those."""
    captured: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(dict(params))

    event = f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, capture)
    try:
        work()
    finally:
        client.meta.events.unregister(event, capture)
    return captured


def _customized_config(client: Any) -> dict[str, Any]:
    """The options in which the service's client differs from a default one: the cold floor sets the same."""
    import boto3

    default = boto3.client(client.meta.service_model.service_name).meta.config
    options: dict[str, Any] = client.meta.config._user_provided_options
    # botocore writes the user agent itself, from what the process has imported.
    return {
        name: value for name, value in options.items() if getattr(default, name, None) != value and name != "user_agent"
    }


def _accepted(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("statusCode") != 200:
        raise RuntimeError(f"the handler answered {result.get('statusCode')}: {result.get('body')}")
    return result


def _status_mib(field: str) -> float:
    """`field` of /proc/self/status in MiB: VmHWM is this program's own peak (ru_maxrss would count the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


if __name__ == "__main__":
    sys.exit(main())
