"""`make tail`: print each message as it lands in the local stage's subscriber queues.

    python -m tools.tail [--stage local]

Reads the `-tail` queue that `make run` subscribed to every topic of the stage,
through the standard AWS configuration (`AWS_ENDPOINT_URL` points at the
emulator), and removes what it printed. Ctrl-C stops it; so does an emulator
that stops answering, with a sentence that says so.
"""

import argparse
import json
import sys
import time
from typing import Any, NoReturn

import boto3
import botocore.exceptions

from tools.provision import stage_environment, tail_queue_name

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sqs = boto3.client("sqs")
    try:
        _tail(sqs, args.stage, args.interval)
    except KeyboardInterrupt:
        return 0
    except botocore.exceptions.ConnectionError:
        # Before the first message or after the last: either way, a sentence, not a traceback.
        print(f"no AWS emulator answers at {sqs.meta.endpoint_url}: is `make run` running?", file=sys.stderr)
        return 1


def _tail(sqs: Any, stage: str, interval: float) -> NoReturn:
    """Print each message as it lands in `stage`'s tail queues, polling every `interval` when idle."""
    queues = {
        arn.rsplit(":", 1)[1]: sqs.get_queue_url(QueueName=tail_queue_name(arn.rsplit(":", 1)[1]))["QueueUrl"]
        for name, arn in stage_environment(stage).items()
        if name.startswith("TOPIC_ARN_")
    }
    styled = sys.stdout.isatty()
    print(f"watching {len(queues)} topics of stage {stage!r}; Ctrl-C stops", flush=True)
    while True:
        if not _drain(sqs, queues, styled):
            time.sleep(interval)


def _drain(sqs: Any, queues: dict[str, str], styled: bool) -> bool:
    """Print and delete what is waiting; True if anything was."""
    found = False
    for topic, queue_url in queues.items():
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for message in received.get("Messages", []):
            print(render(topic, json.loads(message["Body"]), styled), flush=True)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            found = True
    return found


def render(topic: str, notification: dict[str, Any], styled: bool = False) -> str:
    """One delivered SNS notification, readable at a glance."""
    envelope = json.loads(notification["Message"])
    event = envelope.get("event", {})
    attributes = {name: item.get("Value") for name, item in notification.get("MessageAttributes", {}).items()}
    bold, dim, reset = (BOLD, DIM, RESET) if styled else ("", "", "")
    header = (
        f"{bold}{event.get('type', '?'):<8}{reset} account {envelope.get('accountId')}  "
        f"messageId {event.get('messageId')}  {dim}{topic}{reset}"
    )
    details = "  ".join(f"{name}={value}" for name, value in sorted(attributes.items()))
    body = json.dumps(event, indent=2, ensure_ascii=False)
    times = f"timestamp {envelope.get('timestamp')}  receivedAt {envelope.get('receivedAt')}"
    settings = f"  settings {json.dumps(envelope['settings'])}" if envelope.get("settings") else ""
    indented = "\n".join("    " + line for line in body.splitlines())
    return f"{header}\n  {dim}attributes{reset} {details}\n  {dim}{times}{settings}{reset}\n{indented}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.tail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="local", help="the Chalice stage whose topics to watch (default local)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
    return parser


if __name__ == "__main__":
    sys.exit(main())
