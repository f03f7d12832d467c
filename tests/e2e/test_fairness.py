"""One account's replay on `make run`'s stack does not slow the others' events, and loses none of its own.

Two Emma accounts send batches as Segment does: a quiet one at a steady
rate, and a loud one at twenty times that rate, as a replay of history would.
The gateway (`tools.local_gateway`, as API Gateway with the stage's usage plan)
answers the loud account's batches beyond its limit with 429 and
`Retry-After`; the sender waits that long and sends them again, as Segment
does. The quiet account's answer times are measured alone, then beside the
replay.
"""

import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from chalicelib.keys import usage_key
from tests.e2e.conftest import LocalRun, start_local_run
from tools.deploy import load_config, stage_settings
from tools.gateway_limits import throttle
from tools.provision import stage_environment

QUIET_ACCOUNT, LOUD_ACCOUNT = "1001", "2002"
EVENTS_PER_BATCH = 10
QUIET_BATCHES_PER_SECOND = 2.0
LOUD_TIMES_QUIET = 20
SECONDS = 8.0
# The quiet account's median answer time beside the replay, at most this many times its median alone.
MAX_SLOWDOWN = 1.5
# Segment's wait for a 429 without Retry-After; the gateway's THROTTLED answer gives one.
DEFAULT_RETRY_SECONDS = 1.0
JSON = {"Content-Type": "application/json"}


@dataclass
class Sender:
    """One account's batches, sent on a schedule as Segment would, each sent again after a 429 or 5xx."""

    url: str
    key: str
    answer_seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    message_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def batches(self, count: int) -> Iterator[dict[str, object]]:
        for _ in range(count):
            batch = [self._event() for _ in range(EVENTS_PER_BATCH)]
            yield {"batch": batch}

    def deliver(self, body: dict[str, object]) -> None:
        """Send `body` until it is accepted: a 429 or 5xx is sent again after its Retry-After."""
        session = requests.Session()
        while True:
            started = time.monotonic()
            answer = session.post(
                f"{self.url}/v1/batch", data=json.dumps(body), auth=(self.key, ""), headers=JSON, timeout=10
            )
            with self._lock:
                self.statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    self.answer_seconds.append(time.monotonic() - started)
            if answer.status_code == 200:
                return
            assert answer.status_code == 429 or answer.status_code >= 500, answer.text
            # Segment's retries are spread out: the wait asked for, and up to a second more.
            time.sleep(float(answer.headers.get("Retry-After", DEFAULT_RETRY_SECONDS)) + random.random())

    def _event(self) -> dict[str, object]:
        message_id = str(uuid.uuid4())
        with self._lock:
            self.message_ids.append(message_id)
        return {
            "type": "track",
            "userId": f"{self.key[:4]}-{len(self.message_ids) % 50}",
            "event": "Replayed",
            "messageId": message_id,
        }


def send_on_schedule(sender: Sender, per_second: float, seconds: float, pool: ThreadPoolExecutor) -> list[Future[None]]:
    """`per_second` batches for `seconds`, each started on time whatever the earlier ones' answers."""
    futures: list[Future[None]] = []
    started = time.monotonic()
    for number, body in enumerate(sender.batches(round(per_second * seconds))):
        time.sleep(max(0.0, started + number / per_second - time.monotonic()))
        futures.append(pool.submit(sender.deliver, body))
    return futures


@pytest.fixture(scope="module")
def two_accounts() -> Iterator[tuple[LocalRun, Sender, Sender]]:
    """A fresh `make run` with two accounts, whose usage plan keys differ."""
    table = stage_environment("local")["API_KEYS_TABLE"]
    assert usage_key(table, QUIET_ACCOUNT) != usage_key(table, LOUD_ACCOUNT)
    run = start_local_run()
    try:
        keys = run.keys()
        yield run, Sender(run.url, keys.create(QUIET_ACCOUNT)), Sender(run.url, keys.create(LOUD_ACCOUNT))
    finally:
        run.stop()


@pytest.mark.timeout(300)
def test_a_replay_from_one_account_leaves_the_others_answer_times_and_loses_nothing(
    two_accounts: tuple[LocalRun, Sender, Sender],
) -> None:
    run, quiet, loud = two_accounts
    limit = throttle(stage_settings(load_config(), "local"), "account_batch_throttling")
    loud_per_second = QUIET_BATCHES_PER_SECOND * LOUD_TIMES_QUIET
    assert loud_per_second > 2 * limit.rate_limit, "the replay must be well over its account's limit"
    # Each account's deliveries have threads of their own: a refused batch waits out its Retry-After in one.
    with ThreadPoolExecutor(max_workers=8) as quiet_pool, ThreadPoolExecutor(max_workers=400) as loud_pool:
        # GIVEN the quiet account's answer times alone
        for future in send_on_schedule(quiet, QUIET_BATCHES_PER_SECOND, SECONDS, quiet_pool):
            future.result()
        alone = statistics.median(quiet.answer_seconds)
        quiet.answer_seconds.clear()

        # WHEN the loud account replays at twenty times its rate, and the quiet one goes on
        with ThreadPoolExecutor(max_workers=1) as scheduler:
            replay = scheduler.submit(send_on_schedule, loud, loud_per_second, SECONDS, loud_pool)
            for future in send_on_schedule(quiet, QUIET_BATCHES_PER_SECOND, SECONDS, quiet_pool):
                future.result()
            beside = statistics.median(quiet.answer_seconds)
            # (every refused batch of the replay is sent again until it is taken)
            for future in replay.result():
                future.result()

    print(f"quiet account's median answer: {alone:.3f} s alone, {beside:.3f} s beside the replay; {loud.statuses}")
    # THEN the replay was refused at its limit, the quiet account never
    assert loud.statuses[429] > 0 and quiet.statuses[429] == 0, (loud.statuses, quiet.statuses)
    # AND the quiet account's answers are about as quick as alone
    assert beside <= MAX_SLOWDOWN * alone, f"median answer {beside:.3f} s beside the replay, {alone:.3f} s alone"
    # AND every event of both accounts was published, once
    published = Counter(run.published("track"))
    sent = quiet.message_ids + loud.message_ids
    assert set(published) == set(sent)
    assert max(published.values()) == 1
