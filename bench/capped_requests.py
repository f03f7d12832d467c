"""Warm requests through the view's Lambda handler, in a process held to a memory size's share of a CPU.

    python -m bench.capped_requests --cgroup DIR [--warm-ups N] [--rounds N]

Run by `bench.capped` inside a cgroup that caps it (`bench.cpu_cap`), with
the `local` stage's settings pointed at moto's server and `DEDUP_TABLE` set,
as in production. The app is imported here, as Lambda imports it, then
`--warm-ups` rounds are sent unmeasured, so that clients, connections and
thread pools exist as in a warm container, then `--rounds` rounds are
measured. A round is one request of each path: a `/v1/batch` of 500 events,
one of 100, and one event alone on `/v1/segment`, in an order that rotates.
Every event is the mix's, with a messageId of its own: each request is a
first delivery. Prints one JSON line: per path, each measured request's wall
time from the handler's start to its answer, its status, what its log line
says was published and left late, the CPU time the process used meanwhile
(its threads included) and how long the cap held it back (`cpu.stat`).
"""

import argparse
import io
import json
import sys
import time
import uuid
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from bench.cpu_cap import throttled_seconds
from bench.environment import event_mix, gateway_event
from tools.lambda_events import LambdaContext

# Events per request of each path.
PATHS = {"batch500": 500, "batch100": 100, "single": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cgroup", type=Path, required=True, help="the cgroup this process runs in: its cpu.stat")
    parser.add_argument("--warm-ups", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds")
    args = parser.parse_args()
    results = sys.stdout
    import app

    events = cycle(event_mix())
    order = list(PATHS)
    for _ in range(args.warm_ups):
        for path in order:
            _requested(app, PATHS[path], events, args.cgroup)
    measured: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
    for _ in range(args.rounds):
        for path in order:
            measured[path].append(_requested(app, PATHS[path], events, args.cgroup))
        order = order[1:] + order[:1]
    print(json.dumps(measured), file=results)
    return 0


def _requested(app: Any, size: int, events: Iterator[bytes], cgroup: Path) -> dict[str, Any]:
    """One first delivery of `size` events through the handler: what it took and what it answered."""
    batch = [_with_fresh_message_id(body) for body in islice(events, size)]
    payload: Any = batch[0] if size == 1 else {"batch": batch}
    event = gateway_event(
        "/v1/segment" if size == 1 else "/v1/batch", json.dumps(payload, separators=(",", ":")).encode()
    )
    logged = io.StringIO()
    printing, sys.stdout = sys.stdout, logged
    throttled, cpu, started = throttled_seconds(cgroup), time.process_time(), time.perf_counter()
    try:
        answer = app.app(event, LambdaContext())
    finally:
        seconds = time.perf_counter() - started
        cpu_seconds, throttled = time.process_time() - cpu, throttled_seconds(cgroup) - throttled
        sys.stdout = printing
    line = _request_line(logged.getvalue())
    return {
        "seconds": seconds,
        "status": answer["statusCode"],
        "published": line.get("published", 0),
        "late": line.get("late", 0),
        "cpu_seconds": cpu_seconds,
        "throttled_seconds": throttled,
    }


def _with_fresh_message_id(body: bytes) -> dict[str, Any]:
    """The event, its messageId (whatever its spelling) a new one."""
    event: dict[str, Any] = json.loads(body)
    spelled = [name for name in event if name.replace("_", "").replace(" ", "").replace("-", "").lower() == "messageid"]
    event[spelled[0] if spelled else "messageId"] = str(uuid.uuid4())
    return event


def _request_line(printed: str) -> dict[str, Any]:
    """The request's log line among what the handler printed."""
    for text in reversed(printed.splitlines()):
        if text.startswith("{"):
            line: dict[str, Any] = json.loads(text)
            if line.get("log") == "request":
                return line
    raise RuntimeError("the handler wrote no request log line")


if __name__ == "__main__":
    sys.exit(main())
