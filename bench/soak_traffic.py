"""Segment's traffic for `make soak`: batches from the Actions destination and from Segment's Python library.

Both senders are Segment's own code. The Actions destination is
`segment-actions/dist` run by actions-core (`bench/soak_actions.js`, one node
process, several deliveries at a time); its batches of 500 (the action's
default) and of 100 are retried here as Segment's delivery pipeline retries an
action's events: each event whose status in the batch's answer is 5xx or 429
is sent again after a backoff, or after the answer's `Retry-After` when it
gives one, up to a cap; nothing else is retried. segment-analytics-python
sends batches of 100 and retries them itself (it honors `Retry-After` too).

The deliveries follow one pattern per thousand events (a batch of 500 and
three of 100 from the Actions destination, two of 100 from the library), so
that every part of the run carries the same mix, and at most `concurrency` of
them are sent at a time.
"""

import heapq
import itertools
import json
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from segment.analytics import Client
from segment.analytics import request as segment_request

from tools import process_groups

REPO = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).with_name("soak_actions.js")
# The types the destination's presets subscribe to, in the order deliveries cycle through them.
SEGMENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# Each thousand events: (sender, batch size).
PATTERN = (("actions", 500), ("actions", 100), ("actions", 100), ("actions", 100), ("library", 100), ("library", 100))
PATTERN_EVENTS = sum(size for _, size in PATTERN)
# Segment's retries: exponential backoff with jitter, or the answer's Retry-After, each capped.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
RETRY_AFTER_CAP_SECONDS = 10.0
# How long the node process has to answer what it was given once told to end.
CLOSE_SECONDS = 60
# Attempts after which an event is given up on: counted lost (Segment would go on for 4 hours).
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Answer:
    """One HTTP answer the service gave: to whom, its status, how long it took, and how many events
    the service had acknowledged when the request was sent."""

    sender: str
    status: int
    seconds: float
    stored: int
    retry: bool


@dataclass
class Tally:
    """What the senders saw, shared between their threads."""

    answers: list[Answer] = field(default_factory=list)
    # Every messageId sent, each once.
    sent: list[str] = field(default_factory=list)
    acknowledged: int = 0
    # Events answered with a status that is not retried: the service refused them.
    refused: Counter[int] = field(default_factory=Counter)
    given_up: int = 0
    # Why the service answered what it did not publish, its figures left out: how many answers said so.
    reasons: Counter[str] = field(default_factory=Counter)
    # Events the answers said may have been published all the same (an unknown outcome, an unwritten
    # receipt): each may arrive twice, as docs/guarantees.md allows.
    perhaps_published: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, answer: Answer, acknowledged: int = 0) -> None:
        with self.lock:
            self.answers.append(answer)
            self.acknowledged += acknowledged

    def stored(self) -> int:
        with self.lock:
            return self.acknowledged


@dataclass(frozen=True)
class Delivery:
    """A batch to deliver, and how many times its events were delivered before."""

    sender: str
    size: int
    events: list[dict[str, Any]]
    attempt: int = 1

    @property
    def label(self) -> str:
        return f"{self.sender}/{self.size}"


def retryable(status: int) -> bool:
    """Segment's rule: no answer, 429 and 5xx are retried; every other status is final."""
    return status in {0, 429} or status >= 500


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """How long Segment waits before attempt `attempt + 1`: the Retry-After given, else a jittered backoff."""
    if retry_after is not None and retry_after.isdigit():
        return min(float(retry_after), RETRY_AFTER_CAP_SECONDS)
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311 (jitter)


def planned(events: int) -> Iterator[Delivery]:
    """The first deliveries of `events` events, in the pattern's order, with messageIds of their own."""
    numbers = itertools.count()
    pattern = itertools.cycle(PATTERN)
    left = events
    while left > 0:
        sender, size = next(pattern)
        size = min(size, left)
        left -= size
        yield Delivery(sender, size, [_event(next(numbers)) for _ in range(size)])


def _event(number: int) -> dict[str, Any]:
    """An event as Segment hands it to a destination; actions-core fills in the rest of a real one."""
    event_type = SEGMENT_TYPES[number % len(SEGMENT_TYPES)]
    event: dict[str, Any] = {"type": event_type, "userId": f"u-{number % 997}", "messageId": uuid.uuid4().hex}
    extra: dict[str, dict[str, Any]] = {
        "identify": {"traits": {"email": f"person{number % 997}@example.com"}},
        "track": {"event": "Order Completed", "properties": {"total": number % 100}},
        "page": {"name": "Pricing"},
        "screen": {"name": "Settings"},
        "group": {"groupId": f"g-{number % 31}", "traits": {"name": "Initech"}},
        "alias": {"previousId": f"a-{number}"},
    }
    return event | extra[event_type]


class ActionsDestination:
    """The node process that runs the Actions destination, one delivery per line in and out."""

    def __init__(self, settings: dict[str, str]) -> None:
        self._settings = settings
        self._process = subprocess.Popen(
            ["node", str(DRIVER)],  # noqa: S607 (node as `make test` runs it, from PATH)
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._ids = itertools.count()
        self._waiting: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="actions-answers", daemon=True)
        self._reader.start()

    def deliver(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Each event's status in the batch's answer, and each HTTP request's status, time and Retry-After."""
        outcome: Future[dict[str, Any]] = Future()
        with self._lock:
            number = next(self._ids)
            self._waiting[number] = outcome
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps({"id": number, "settings": self._settings, "events": events}) + "\n")
            self._process.stdin.flush()
        return outcome.result()

    def close(self) -> None:
        """End the node process once it has answered what it was given, or after a minute, with all it started."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        process_groups.stop(self._process, signal.SIGTERM, grace=CLOSE_SECONDS)
        self._reader.join()

    def _read(self) -> None:
        output = self._process.stdout
        assert output is not None
        for line in output:
            outcome = json.loads(line)
            with self._lock:
                self._waiting.pop(outcome["id"]).set_result(outcome)
        with self._lock:
            for waiting in self._waiting.values():
                waiting.set_exception(RuntimeError("the Actions destination's node process exited"))


def _reasons(messages: list[str | None]) -> Iterator[str]:
    """The reasons an answer gives for what it did not publish, without their counts."""
    for message in messages:
        for part in (message or "no message").split("; "):
            if not re.match(r"\d+ of \d+ events are published$|retry later$", part):
                yield re.sub(r"^\d+ ", "", part)


def _perhaps_published(messages: list[str | None]) -> int:
    """How many events the answers say may have been published although not acknowledged."""
    said = "; ".join(message or "" for message in messages)
    return sum(int(count) for count in re.findall(r"(\d+) (?:perhaps published|published but not recorded)", said))


class SegmentLibrary:
    """segment-analytics-python, sending batches of 100 to the service, each request timed."""

    def __init__(self, url: str, key: str, tally: Tally) -> None:
        self._tally = tally
        self.client = Client(write_key=key, host=url, upload_size=100, max_queue_size=100_000, on_error=self._on_error)
        segment_request._session.mount("http://", _TimedAdapter(tally))

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Hand the events to the library, as an app's calls, and wait until it has sent them."""
        for event in events:
            self._call(event)
        self.client.flush()

    def close(self) -> None:
        """Stop the library's sending thread (what it was given is sent) and its requests' timing."""
        self.client.join()
        segment_request._session.mount("http://", requests.adapters.HTTPAdapter())

    def _call(self, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        user, client, ids = event["userId"], self.client, {"message_id": event["messageId"]}
        calls: dict[str, Callable[[], tuple[bool, dict[str, Any]]]] = {
            "identify": lambda: client.identify(user, event["traits"], **ids),
            "track": lambda: client.track(user, event["event"], event["properties"], **ids),
            "page": lambda: client.page(user, name=event["name"], **ids),
            "screen": lambda: client.screen(user, name=event["name"], **ids),
            "group": lambda: client.group(user, event["groupId"], event["traits"], **ids),
            "alias": lambda: client.alias(event["previousId"], user, **ids),
        }
        return calls[event["type"]]()

    def _on_error(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        with self._tally.lock:
            self._tally.given_up += len(batch)


class _TimedAdapter(requests.adapters.HTTPAdapter):
    """The library's HTTP requests, each recorded as an `Answer`, its events counted once acknowledged."""

    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self._tally = tally

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        stored, started = self._tally.stored(), time.monotonic()
        response = super().send(request, *args, **kwargs)
        seconds = time.monotonic() - started
        body = request.body if isinstance(request.body, bytes | str) else b"{}"
        events = len(json.loads(body).get("batch", []))
        retry = "X-Retry-Count" in request.headers
        answer = Answer("library/100", response.status_code, seconds, stored, retry)
        self._tally.answered(answer, events if response.status_code == 200 else 0)
        if response.status_code >= 400:
            with self._tally.lock:
                self._tally.reasons.update(_reasons([response.json().get("message")]))
                self._tally.perhaps_published += _perhaps_published([response.json().get("message")])
        return response


class Traffic:
    """The run's deliveries, at most `concurrency` at a time, retried as Segment retries them."""

    def __init__(self, actions: ActionsDestination, library: SegmentLibrary, tally: Tally, concurrency: int):
        self._actions = actions
        self._library = library
        self._tally = tally
        self._concurrency = concurrency
        self._retries: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._ready = threading.Condition()

    def send(self, deliveries: Iterator[Delivery]) -> None:
        """Deliver every event, and every retry, until none is left; returns once all are answered."""
        workers = [
            threading.Thread(target=self._work, args=(deliveries,), name=f"sender-{n}", daemon=True)
            for n in range(self._concurrency)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _work(self, deliveries: Iterator[Delivery]) -> None:
        while (delivery := self._next(deliveries)) is not None:
            try:
                self._deliver(delivery)
            finally:
                with self._ready:
                    self._in_flight -= 1
                    self._ready.notify_all()

    def _next(self, deliveries: Iterator[Delivery]) -> Delivery | None:
        """A retry that is due, else the next first delivery, else a retry once due; None when all are done."""
        with self._ready:
            while True:
                now = time.monotonic()
                if self._retries and self._retries[0][0] <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._retries)[2]
                first = next(deliveries, None)
                if first is not None:
                    self._in_flight += 1
                    with self._tally.lock:
                        self._tally.sent.extend(event["messageId"] for event in first.events)
                    return first
                if not self._retries and not self._in_flight:
                    return None
                self._ready.wait(timeout=self._retries[0][0] - now if self._retries else None)

    def _deliver(self, delivery: Delivery) -> None:
        if delivery.sender == "library":
            self._library.deliver(delivery.events)
            return
        stored = self._tally.stored()
        outcome = self._actions.deliver(delivery.events)
        statuses = outcome.get("statuses") or [0] * len(delivery.events)
        acknowledged = sum(status == 200 for status in statuses)
        for number, request in enumerate(outcome["requests"]):
            answer = Answer(delivery.label, request["status"], request["seconds"], stored, delivery.attempt > 1)
            self._tally.answered(answer, acknowledged if number == len(outcome["requests"]) - 1 else 0)
        again = [event for event, status in zip(delivery.events, statuses, strict=True) if retryable(status)]
        with self._tally.lock:
            self._tally.refused.update(s for s in statuses if not retryable(s) and s != 200)
            self._tally.reasons.update(_reasons(outcome.get("refusals") or []))
            self._tally.perhaps_published += _perhaps_published(outcome.get("refusals") or [])
        if not again:
            return
        if delivery.attempt >= MAX_ATTEMPTS:
            with self._tally.lock:
                self._tally.given_up += len(again)
            return
        retry_after = next((r["retryAfter"] for r in reversed(outcome["requests"]) if r["retryAfter"]), None)
        due = time.monotonic() + retry_delay(delivery.attempt, retry_after)
        with self._ready:
            retry = Delivery(delivery.sender, delivery.size, again, delivery.attempt + 1)
            heapq.heappush(self._retries, (due, next(self._order), retry))
            self._ready.notify_all()
