"""One deadline per request: how long it is, and that queued and retried work never outlasts it."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.deadline import (
    BUDGET_SECONDS,
    MAX_ATTEMPTS,
    Deadline,
    OutOfTime,
    Retryable,
    request_deadline,
    retrying,
    run_concurrently,
)


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(
    ("context", "seconds"),
    [(None, BUDGET_SECONDS), (Context(6_000), BUDGET_SECONDS), (Context(2_000), 1.75), (Context(100), 0.0)],
    ids=["outside Lambda", "Lambda's timeout further", "Lambda's timeout nearer", "no time left"],
)
def test_the_deadline_is_the_budget_or_lambdas_remaining_time_if_sooner(context: object, seconds: float) -> None:
    assert request_deadline(context).remaining() == pytest.approx(seconds, abs=0.05)


def test_retries_stop_when_no_attempt_fits_and_say_why() -> None:
    now = [0.0]
    deadline = Deadline(3.1, lambda: now[0])
    attempts: list[float] = []

    def attempt() -> None:
        attempts.append(now[0])
        now[0] += 1.0  # each attempt takes a second, and fails
        raise Retryable("Throttling")

    with pytest.raises(OutOfTime) as out_of_time:
        retrying(attempt, deadline, attempt_seconds=1.0, sleep=lambda pause: None)
    # Attempts at 0 s, 1 s and 2 s fit, with their pauses; one at 3 s would end past the deadline.
    assert attempts == [0.0, 1.0, 2.0]
    assert (out_of_time.value.reason, out_of_time.value.attempts) == ("Throttling", 3)


def test_retries_stop_at_the_attempt_limit() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise Retryable("InternalError")

    with pytest.raises(OutOfTime):
        retrying(attempt, Deadline.after(60), attempt_seconds=0.0, sleep=lambda pause: None)
    assert len(calls) == MAX_ATTEMPTS


def test_work_still_queued_at_the_deadline_is_never_started_and_running_work_is_given_up() -> None:
    # GIVEN one thread, and three items that each take 0.4 s, under a deadline 0.1 s away
    started: list[int] = []
    release = threading.Event()

    def work(item: int) -> str:
        started.append(item)
        release.wait(0.4)
        return f"done {item}"

    with ThreadPoolExecutor(max_workers=1) as pool:
        began = time.monotonic()
        results = run_concurrently(
            work, [1, 2, 3], Deadline.after(0.1), pool, lambda item, running: f"{'running' if running else 'queued'}"
        )
        waited = time.monotonic() - began
        release.set()
    # THEN the answer came at the deadline (and its grace), not when the work would have ended (1.2 s)
    assert waited < 1.0
    assert results == ["running", "queued", "queued"]
    assert started == [1]
