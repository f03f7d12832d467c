"""One deadline per request, and retries that never outlast it.

Segment waits about 5 seconds for an answer, then counts the delivery as
failed and sends it again, while the first may still be running. So each
request gets one deadline when its handler starts, and everything it does is
measured against it: claims in the dedup table, publishes, their retries,
settling the claims, and work still queued for a thread. No AWS call starts
that its socket timeouts could let end after the deadline; what is not done
by then is answered 503. The Lambda function's own timeout, a second later,
is never what ends a request.
"""

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, wait
from typing import Any, TypeVar

from chalicelib.patience import Patience

# From the handler's start: the rest of Segment's 5 seconds is for the answer's way back.
BUDGET_SECONDS = 4.0
# From the request's arrival at API Gateway, where the authorizer (when its cache
# misses) and a cold start have already spent part of Segment's 5 seconds: the
# answer leaves by this, plus the grace given to calls still running, plus the log line.
ARRIVAL_BUDGET_SECONDS = 4.25
# Left to Lambda, when its own timeout is nearer than the budget, to write the log line and answer.
LAMBDA_MARGIN_SECONDS = 0.25
MAX_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 0.05
# How long past a deadline a thread's call may still be finishing: its attempt started in time.
GRACE_SECONDS = 0.25

T = TypeVar("T")
Item = TypeVar("Item")
Late = TypeVar("Late")


class Deadline:
    """A moment on a monotonic clock by which a request's work must be done."""

    def __init__(self, at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> "Deadline":
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self._clock())

    def allows(self, seconds: float) -> bool:
        """True if something that takes `seconds` can still end in time."""
        return self._clock() + seconds <= self.at

    def earlier_by(self, seconds: float) -> "Deadline":
        """The deadline for work that must leave `seconds` after it (settling claims, say)."""
        return Deadline(self.at - seconds, self._clock)


def request_deadline(lambda_context: Any, arrived_at: float | None = None) -> Deadline:
    """The deadline of a request whose handler starts now: the soonest of the budget from now, the budget
    from its arrival (epoch seconds, when API Gateway says), and Lambda's remaining time."""
    seconds = BUDGET_SECONDS
    if arrived_at is not None:
        seconds = min(seconds, arrived_at + ARRIVAL_BUDGET_SECONDS - time.time())
    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        seconds = min(seconds, remaining_ms() / 1000 - LAMBDA_MARGIN_SECONDS)
    return Deadline.after(max(seconds, 0.0))


def run_concurrently(
    function: Callable[[Item], T],
    items: Sequence[Item],
    deadline: Deadline,
    pool: Executor,
    overdue: Callable[[Item, bool], Late],
) -> list[T | Late]:
    """`function` of each item, several at a time on `pool`, waiting for them no longer than the deadline.

    A single item runs in the calling thread, sparing it the hop. What has not
    finished in time stands as `overdue(item, started)`: an item still queued
    is never started; one still running is given up on, and may yet finish.
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    futures = [pool.submit(function, item) for item in items]
    done, _ = wait(futures, timeout=deadline.remaining() + GRACE_SECONDS)
    return [
        future.result() if future in done else overdue(item, not future.cancel())
        for item, future in zip(items, futures, strict=True)
    ]


class Retryable(Exception):
    """A failure that a later attempt may not meet; `reason` names it for answers and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutOfTime(Exception):
    """No further attempt fits before the deadline; `reason` is the last failure met."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


def retrying(
    attempt: Callable[[Any], T],
    deadline: Deadline,
    patience: Patience,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """`attempt(client)`'s result and the attempts it took, retrying `Retryable` failures with jittered backoff.

    Each attempt gets the client of the level `patience` waits at now (or, near
    the deadline, a shorter one: `_fitting`), and starts only if its socket
    timeouts fit before the deadline: no attempt starts that could end after
    it. A timeout raises the level for the next attempt. Any exception other
    than `Retryable` is `attempt`'s own and passes through.
    """
    backoff = FIRST_BACKOFF_SECONDS
    reason = "no time was left to try"
    attempts = 0
    while (level := _fitting(patience, deadline)) is not None:
        attempts += 1
        started = time.monotonic()
        try:
            result = attempt(patience.client(level))
        except Retryable as failure:
            patience.note(failure, level)
            reason = failure.reason
        except BaseException as error:
            patience.note(error, level)
            raise
        else:
            patience.answered(time.monotonic() - started)
            return result, attempts
        pause = random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)
        if attempts == MAX_ATTEMPTS or _fitting(patience, deadline, pause) is None:
            break
        sleep(pause)
        backoff *= 2
    raise OutOfTime(reason, attempts)


def _fitting(patience: Patience, deadline: Deadline, after: float = 0.0) -> int | None:
    """The level to attempt at, `after` seconds from now: the patience level, if it fits before the deadline.

    While the service answers as usual, an attempt near the deadline waits only
    as long as still fits, on a shorter level; while it is slower than usual, a
    shorter wait would only time out, and leave a publish's outcome unknown,
    unless every recent answer came within it (DynamoDB only: a level raised by
    one late answer would otherwise leave no room for calls the table answers).
    """
    level = patience.level()
    lowest = 0 if level == patience.usual else patience.shortest_enough()
    for fitting in range(level, lowest - 1, -1):
        if deadline.allows(after + patience.attempt_seconds[fitting]):
            return fitting
    return None
