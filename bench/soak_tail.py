"""What `make run` published during a soak, read from its tail queues as a subscriber reads them, as it lands.

moto keeps every message in memory until it is deleted, and a real subscriber
consumes what it is sent: so each tail queue is received from and deleted
from while the soak runs, in a process of its own, so that neither its CPU
nor its interpreter lock is the senders'. What it hands back is how many
times each messageId arrived.
"""

import json
import multiprocessing
import threading
import time
from collections import Counter
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

import boto3

from tools.provision import stage_environment, tail_queue_name

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

STAGE = "local"
# Receives from a queue that find nothing, once the soak has stopped sending, before its count is final.
QUIET_ROUNDS = 2
IDLE_SECONDS = 0.1


class Tail:
    """The process reading the tail queues of `event_types`, and how many messages it has read so far."""

    def __init__(self, aws_endpoint: str, event_types: tuple[str, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._read: Synchronized[int] = context.Value("q", 0)
        self._results: multiprocessing.Queue[dict[str, int]] = context.Queue()
        self._process = context.Process(
            target=_read_queues,
            args=(aws_endpoint, event_types, self._stop, self._read, self._results),
            name="soak-tail",
            daemon=True,
        )
        self._process.start()

    @property
    def read(self) -> int:
        """Messages read so far."""
        return int(self._read.value)

    def finish(self, timeout: float = 120.0) -> Counter[str]:
        """How many times each messageId arrived, once the queues are empty."""
        self._stop.set()
        arrived = Counter(self._results.get(timeout=timeout))
        self._process.join(timeout=10)
        return arrived

    def kill(self) -> None:
        """Stop reading at once (a soak that failed)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=10)


def _read_queues(
    aws_endpoint: str,
    event_types: tuple[str, ...],
    stop: Event,
    read: "Synchronized[int]",
    results: "multiprocessing.Queue[dict[str, int]]",
) -> None:
    """Every tail queue read by a thread of its own, as a subscriber's pollers read them; the arrivals of all."""
    topics = [stage_environment(STAGE)[f"TOPIC_ARN_{t.upper()}"].rsplit(":", 1)[1] for t in event_types]
    arrivals = [Counter[str]() for _ in topics]
    readers = [
        threading.Thread(target=_read_queue, args=(aws_endpoint, tail_queue_name(topic), stop, read, arrived))
        for topic, arrived in zip(topics, arrivals, strict=True)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    results.put(dict(sum(arrivals, Counter[str]())))


def _read_queue(aws_endpoint: str, queue: str, stop: Event, read: "Synchronized[int]", arrived: Counter[str]) -> None:
    """Read `queue` until the soak has stopped sending and QUIET_ROUNDS receives in a row find nothing."""
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    quiet = 0
    while quiet < QUIET_ROUNDS:
        found = _read_some(sqs, url, arrived)
        with read.get_lock():
            read.value += found
        if found:
            quiet = 0
        elif stop.is_set():
            quiet += 1
        else:
            time.sleep(IDLE_SECONDS)


def _read_some(sqs: "SQSClient", url: str, arrived: Counter[str]) -> int:
    """Receive up to 10 messages of the queue at `url` and delete them; how many there were."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if messages:
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        )
        arrived.update(json.loads(json.loads(m["Body"])["Message"])["event"]["messageId"] for m in messages)
    return len(messages)
