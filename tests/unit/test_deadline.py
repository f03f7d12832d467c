"""One deadline per request: how long it is, and that queued and retried work never outlasts it."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ReadTimeoutError

from chalicelib.deadline import (
    ARRIVAL_BUDGET_SECONDS,
    BUDGET_SECONDS,
    MAX_ATTEMPTS,
    Deadline,
    OutOfTime,
    Retryable,
    request_deadline,
    retrying,
    run_concurrently,
)
from chalicelib.patience import Patience


def levels(*attempt_seconds: float) -> Patience:
    """A ladder whose clients are the level numbers themselves."""
    return Patience(lambda level: level, attempt_seconds)


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


@pytest.mark.parametrize(
    ("arrived_ago", "seconds"),
    [(0.0, BUDGET_SECONDS), (1.6, ARRIVAL_BUDGET_SECONDS - 1.6), (5.0, 0.0)],
    ids=["the view starts as the request arrives", "the authorizer took 1.6 s", "Segment has given up"],
)
def test_the_deadline_counts_from_the_requests_arrival_at_the_gateway(arrived_ago: float, seconds: float) -> None:
    assert request_deadline(None, time.time() - arrived_ago).remaining() == pytest.approx(seconds, abs=0.05)


def test_retries_stop_when_no_attempt_fits_and_say_why() -> None:
    now = [0.0]
    deadline = Deadline(3.1, lambda: now[0])
    attempts: list[float] = []

    def attempt(client: object) -> None:
        attempts.append(now[0])
        now[0] += 1.0  # each attempt takes a second, and fails
        raise Retryable("Throttling")

    with pytest.raises(OutOfTime) as out_of_time:
        retrying(attempt, deadline, levels(1.0), sleep=lambda pause: None)
    # Attempts at 0 s, 1 s and 2 s fit, with their pauses; one at 3 s would end past the deadline.
    assert attempts == [0.0, 1.0, 2.0]
    assert (out_of_time.value.reason, out_of_time.value.attempts) == ("Throttling", 3)


def test_retries_stop_at_the_attempt_limit() -> None:
    calls = []

    def attempt(client: object) -> None:
        calls.append(1)
        raise Retryable("InternalError")

    with pytest.raises(OutOfTime):
        retrying(attempt, Deadline.after(60), levels(0.0), sleep=lambda pause: None)
    assert len(calls) == MAX_ATTEMPTS


def test_a_call_slower_than_its_timeout_is_tried_again_with_a_longer_one_and_the_process_keeps_it() -> None:
    # GIVEN a service that answers in 0.7 s, and clients that wait 0.5 s, 1 s and 2 s
    patience = levels(0.75, 1.25, 2.25)
    tried: list[int] = []

    def attempt(level: int) -> str:
        tried.append(level)
        if level == 0:
            raise Retryable("ReadTimeoutError") from ReadTimeoutError(endpoint_url="https://dynamodb")
        return "answered"

    # WHEN a call times out
    assert retrying(attempt, Deadline.after(4), patience, sleep=lambda pause: None) == ("answered", 2)
    # THEN its retry waited longer, and so does the next call, without timing out first
    assert retrying(attempt, Deadline.after(4), patience, sleep=lambda pause: None) == ("answered", 1)
    assert tried == [0, 1, 1]


def test_a_longer_wait_is_given_up_a_step_at_a_time_once_the_service_is_fast_again() -> None:
    now = [0.0]
    patience = Patience(lambda level: level, [0.75, 1.25, 2.25], hold_seconds=60, clock=lambda: now[0])
    timeout = Retryable("ReadTimeoutError")
    timeout.__cause__ = ReadTimeoutError(endpoint_url="https://sns")
    patience.note(timeout, 0)
    patience.note(timeout, 1)
    assert patience.level() == 2
    now[0] = 59.0
    assert patience.level() == 2
    now[0] = 61.0
    assert patience.level() == 1
    now[0] = 200.0
    assert patience.level() == 0


def test_failures_other_than_timeouts_do_not_make_the_wait_longer() -> None:
    patience = levels(0.75, 1.25)
    patience.note(Retryable("Throttling"), 0)
    assert patience.level() == 0


def test_near_the_deadline_a_service_answering_as_usual_is_waited_for_only_as_long_as_still_fits() -> None:
    # GIVEN a service usually waited for 1 s a call (level 1), 0.25 s at the shortest
    patience = Patience(lambda level: level, [0.5, 1.25, 2.25], usual=1)
    # WHEN 0.75 s are left THEN the attempt waits less; when 0.25 s are left, none is made
    assert retrying(lambda level: level, Deadline.after(0.75), patience) == (0, 1)
    with pytest.raises(OutOfTime) as out_of_time:
        retrying(lambda level: level, Deadline.after(0.25), patience)
    assert out_of_time.value.attempts == 0


def test_near_the_deadline_a_service_slower_than_usual_is_not_tried_with_a_wait_it_would_outlast() -> None:
    # GIVEN the process waits 2 s for each call now, the service being slower than usual
    patience = Patience(lambda level: level, [0.5, 1.25, 2.25], usual=1)
    timeout = Retryable("ReadTimeoutError")
    timeout.__cause__ = ReadTimeoutError(endpoint_url="https://sns")
    patience.note(timeout, 1)
    # WHEN 1.5 s are left THEN no attempt is made: a shorter wait would time out, its outcome unknown
    with pytest.raises(OutOfTime) as out_of_time:
        retrying(lambda level: level, Deadline.after(1.5), patience)
    assert out_of_time.value.attempts == 0
    assert retrying(lambda level: level, Deadline.after(2.5), patience) == (2, 1)


def test_a_table_slower_than_usual_is_still_tried_with_a_shorter_wait_that_every_recent_answer_came_within() -> None:
    # GIVEN a table waited for 1.1 s a call now (level 2) after one late answer, whose other answers took 0.6 s
    patience = Patience(lambda level: level, [0.75, 1.0, 1.35], usual=0, answer_waits=[0.5, 0.75, 1.1])
    timeout = Retryable("ReadTimeoutError")
    timeout.__cause__ = ReadTimeoutError(endpoint_url="https://dynamodb")
    patience.note(timeout, 1)
    patience.answered(0.6)
    # WHEN 1.2 s are left THEN the attempt waits 0.75 s (level 1), which every recent answer came within
    assert retrying(lambda level: level, Deadline.after(1.2), patience) == (1, 1)
    # AND once an answer took 0.8 s, only the level's own wait is tried: none fits
    patience.answered(0.8)
    with pytest.raises(OutOfTime):
        retrying(lambda level: level, Deadline.after(1.2), patience)


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
