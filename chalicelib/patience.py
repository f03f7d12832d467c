"""How long to wait for an AWS service's answer: short while it answers quickly, longer once it does not.

Slow is the common failure, not down. A call that is slower than its read
timeout, every time, would otherwise be repeated unchanged until the deadline
and never get an answer: a batch whose claims, read-back, publishes or
settling each take just past their timeout would never get further, however
often Segment sent it again. So each service has a ladder of clients, each
level waiting twice as long as the one below. A read or connect timeout moves
the process up one level (the next attempt waits longer), and a level is kept
for a while after its last timeout and then given up one step at a time, down
to the service's usual one, so that a service that is fast again is waited for
briefly again. A Lambda container keeps its level across invocations, as it
keeps its clients.

An attempt starts only if its timeouts fit before the deadline
(`chalicelib.deadline.retrying`): a longer wait costs the deadline's room, and
near the deadline an attempt waits only as long as still fits, on the levels
below the usual one, rather than not being made at all.
"""

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

# How long a level is kept after its last timeout, before stepping down one level.
HOLD_SECONDS = 60.0
# Answered calls remembered for what the next one can be expected to take.
_ANSWERS_KEPT = 32


class Patience:
    """A service's clients by level, the level this process waits at now, and each level's attempt time.

    `client(level)` builds (or returns the kept) client of a level, so that a
    process never builds a level it never needs; `attempt_seconds[level]` is
    the longest one call at that level can take, shortest first; `usual` is
    the level waited at until a call times out.
    """

    def __init__(
        self,
        client: Callable[[int], Any],
        attempt_seconds: Sequence[float],
        usual: int = 0,
        *,
        hold_seconds: float = HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        answer_waits: Sequence[float] | None = None,
    ) -> None:
        self.client = client
        self.attempt_seconds = tuple(attempt_seconds)
        # Each level's wait for an answer, for a service whose call may be tried with a shorter wait than its level
        # when every recent answer came within it (None: never; a timed-out SNS publish is an unknown outcome).
        self._answer_waits = None if answer_waits is None else tuple(answer_waits)
        self.usual = usual
        self._hold = hold_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._level = usual
        self._since = clock()
        # How long the latest calls that were answered took: what a call can be expected to take now.
        self._answered: collections.deque[float] = collections.deque(maxlen=_ANSWERS_KEPT)

    def level(self) -> int:
        """The level to wait at now: the last one a timeout set, less one per hold period since, down to the usual."""
        with self._lock:
            steps = int((self._clock() - self._since) / self._hold) if self._level > self.usual else 0
            if steps:
                self._level = max(self.usual, self._level - steps)
                self._since = self._clock()
            return self._level

    def expected_seconds(self) -> float:
        """What a call can be expected to take now: the longest of the latest answered, else its timeouts."""
        with self._lock:
            longest = max(self._answered, default=None)
        return self.attempt_seconds[self.level()] if longest is None else longest

    def shortest_enough(self) -> int:
        """The shortest level whose wait is longer than every recent answer took: what a call near the deadline may
        still be tried at while the service is slower than usual. The level itself where that is not allowed."""
        level = self.level()
        with self._lock:
            longest = max(self._answered, default=None)
        if self._answer_waits is None or longest is None:
            return level
        enough = [shorter for shorter in range(level) if self._answer_waits[shorter] > longest]
        return enough[0] if enough else level

    def answered(self, seconds: float) -> None:
        """A call was answered after `seconds`."""
        with self._lock:
            self._answered.append(seconds)

    def note(self, error: BaseException, level: int) -> None:
        """After a failed call at `level`: a timeout, anywhere in its chain, makes later calls wait longer."""
        if not _timed_out(error):
            return
        with self._lock:
            self._level = min(max(self._level, level + 1), len(self.attempt_seconds) - 1)
            self._since = self._clock()


def patient_with(client: Any) -> Patience:
    """One level only: a `client` whose timeouts never grow (tests with a stubbed client, Secrets Manager)."""
    timeouts = client.meta.config
    return Patience(lambda level: client, [float(timeouts.connect_timeout) + float(timeouts.read_timeout)])


def _timed_out(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
            return True
        error = error.__cause__
    return False
