"""Send Segment events to the endpoint exactly as Segment's delivery does.

    python -m tools.send --key KEY [--port PORT | --url URL] [--settings JSON] FILE...

Each FILE is a JSON event, a JSON array of events, a `{"batch": [...]}` body,
or JSON lines (one event per line); `-` reads standard input. Every event is
POSTed on its own, with `Authorization: Basic base64("<key>:")`,
`User-Agent: Segment.io/1.0` and, if given, `X-Segment-Settings`. Like
Segment, it retries timeouts, connection failures, 429 and 5xx with jittered
exponential backoff, and never retries another 4xx. It prints each outcome and
a summary, and exits 1 if any event was not accepted, or at once if nothing
listens at the endpoint.
"""

import argparse
import base64
import json
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

# `make run`'s service, on the port it was given.
LOCAL_URL = "http://127.0.0.1:{port}/v1/segment"
# Above this many events, a progress bar replaces nothing but helps the eye.
PROGRESS_BAR_FROM = 20


@dataclass(frozen=True)
class Event:
    """One event to send: the exact bytes, and where it came from."""

    body: bytes
    origin: str


@dataclass(frozen=True)
class Outcome:
    """The final answer for one event (status 0: no answer at all) and how many attempts it took."""

    event: Event
    status: int
    answer: str
    attempts: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Summary:
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0

    def add(self, outcome: Outcome) -> None:
        self.statuses[outcome.status] += 1
        self.retries += outcome.attempts - 1

    @property
    def all_accepted(self) -> bool:
        return all(200 <= status < 300 for status in self.statuses)

    def __str__(self) -> str:
        sent = sum(self.statuses.values())
        by_status = ", ".join(f"{count} x {status or 'no answer'}" for status, count in sorted(self.statuses.items()))
        return f"{sent} events: {by_status}; {self.retries} retries"


@dataclass(frozen=True)
class Sender:
    """Delivers events to one endpoint with Segment's headers and retry policy."""

    url: str
    key: str
    settings: dict[str, Any] | None = None
    max_attempts: int = 6
    timeout: float = 5.0
    first_backoff: float = 0.2
    max_backoff: float = 5.0
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": "Basic " + base64.b64encode(f"{self.key}:".encode()).decode(),
            "Content-Type": "application/json",
            "User-Agent": "Segment.io/1.0",
        }
        if self.settings is not None:
            headers["X-Segment-Settings"] = base64.b64encode(json.dumps(self.settings).encode()).decode()
        return headers

    def send(self, event: Event) -> Outcome:
        """POST `event` until it gets an answer Segment would not retry, or attempts run out."""
        attempt = 1
        while True:
            status, answer = self._post(event.body)
            if not _retryable(status) or attempt >= self.max_attempts:
                return Outcome(event, status, answer, attempt)
            cap = min(self.max_backoff, self.first_backoff * 2 ** (attempt - 1))
            self.sleep(random.uniform(0, cap))  # noqa: S311 (jitter, not a secret)
            attempt += 1

    def _post(self, body: bytes) -> tuple[int, str]:
        try:
            response = self.session.post(self.url, data=body, headers=self.headers(), timeout=self.timeout)
        except requests.RequestException as error:
            return 0, type(error).__name__
        return response.status_code, response.text


def _retryable(status: int) -> bool:
    """Segment's rule: retry when there was no answer, on 429 and on 5xx."""
    return status in {0, 429} or status >= 500


def read_events(paths: Iterable[str]) -> Iterator[Event]:
    """The events in each file, as bytes to send."""
    for path in paths:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        if path.endswith((".jsonl", ".ndjson")):
            for number, line in enumerate(raw.splitlines(), 1):
                if line.strip():
                    yield Event(line, f"{path}:{number}")
            continue
        yield from _events_in_document(raw, path)


def _events_in_document(raw: bytes, path: str) -> Iterator[Event]:
    document = json.loads(raw)
    if isinstance(document, dict) and isinstance(document.get("batch"), list):
        document = document["batch"]
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield Event(json.dumps(item).encode(), f"{path}[{index}]")
        return
    # A single event is sent byte for byte: duplicate keys and number literals stay as written.
    yield Event(raw, path)


def describe(outcome: Outcome) -> str:
    mark = "ok  " if outcome.accepted else "FAIL"
    retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
    try:
        answer = json.loads(outcome.answer)
        detail = answer.get("messageId") or answer.get("message") or outcome.answer
    except (ValueError, AttributeError):
        detail = outcome.answer[:200]
    return f"{mark} {outcome.status or '---'} {outcome.event.origin}: {detail}{retried}"


def unreachable(url: str, timeout: float) -> str | None:
    """Why no connection to `url`'s host and port can be opened at all, or None if one can.

    Segment retries connection failures, and so does `Sender`: a service that
    restarts (chalice local reloading a changed file) is back within the backoff.
    But an endpoint that refuses the first connection of a run is not running, and
    half a minute of backoff over every event would only hide that.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as error:
        return error.strerror or str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = json.loads(args.settings) if args.settings else None
    url = args.url or LOCAL_URL.format(port=args.port)
    sender = Sender(url=url, key=args.key, settings=settings, max_attempts=args.max_attempts)
    events = list(read_events(args.files))
    if events and (reason := unreachable(url, sender.timeout)):
        hint = "" if args.url else f": is `make run` running, with PORT={args.port}?"
        print(f"nothing answers at {url} ({reason}){hint}", file=sys.stderr)
        return 1
    summary = Summary()
    with tqdm(total=len(events), disable=len(events) < PROGRESS_BAR_FROM, unit="event") as progress:
        for event in events:
            outcome = sender.send(event)
            summary.add(outcome)
            progress.write(describe(outcome))
            progress.update()
    print(summary)
    return 0 if summary.all_accepted else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.send", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON or JSON-lines files of events; - for stdin")
    # One or the other: a port given beside a URL would be silently ignored.
    endpoint = parser.add_mutually_exclusive_group()
    endpoint.add_argument("--port", type=int, default=8000, help="the port of `make run`'s service (default 8000)")
    endpoint.add_argument("--url", help=f"the endpoint, if not {LOCAL_URL.format(port='PORT')}")
    parser.add_argument("--key", required=True, help="the Emma API key")
    parser.add_argument("--settings", help="destination settings as JSON, sent as X-Segment-Settings")
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts per event (default 6)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
