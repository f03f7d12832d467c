"""CloudWatch metrics embedded in each request's log line (Embedded Metric Format).

The line stays the one JSON line per request; its `_aws` member declares which
of its fields are metrics and which are their dimensions. The infrastructure's
alarms read these metrics by name, so the names are pinned here.
"""

import json
import time
from typing import Any

import pytest

from chalicelib.deadline import MAX_ATTEMPTS
from tests.aws import Deployment
from tests.faults import THROTTLED, TOPIC_NOT_FOUND, Fault, sns_publish_faults
from tests.helpers import Api, log_lines

NAMESPACE = "EmmaSegment/test"
EVENT = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-1"}


@pytest.fixture(autouse=True)
def namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_NAMESPACE", NAMESPACE)


def request_line(output: str) -> dict[str, Any]:
    [line] = log_lines(output, "request")
    assert emf_problems(line) == []
    return line


def emf_problems(line: dict[str, Any]) -> list[str]:
    """What CloudWatch would refuse in an EMF line: each metric and dimension must be a member of the line."""
    problems = []
    metadata = line["_aws"]
    if not isinstance(metadata["Timestamp"], int) or abs(metadata["Timestamp"] / 1000 - time.time()) > 60:
        problems.append(f"Timestamp {metadata['Timestamp']!r} is not now in epoch milliseconds")
    for directive in metadata["CloudWatchMetrics"]:
        if directive["Namespace"] != NAMESPACE:
            problems.append(f"namespace {directive['Namespace']!r}")
        for dimensions in directive["Dimensions"]:
            problems += [f"dimension {name!r} is not a string member" for name in dimensions
                         if not isinstance(line.get(name), str)]  # fmt: skip
        for metric in directive["Metrics"]:
            if not isinstance(line.get(metric["Name"]), int | float) or isinstance(line.get(metric["Name"]), bool):
                problems.append(f"metric {metric['Name']!r} is not a number member")
            if metric["Unit"] not in {"Count", "Milliseconds"}:
                problems.append(f"unit {metric['Unit']!r}")
    return problems


def metrics(line: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The line's metrics by dimension set: {("type",): {"Published": 1, ...}}."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for dimensions in directive["Dimensions"]:
            found.setdefault(tuple(dimensions), {}).update({m["Name"]: line[m["Name"]] for m in directive["Metrics"]})
    return found


def test_a_published_event_counts_as_accepted_and_published_by_type_with_its_latency(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    line = request_line(capsys.readouterr().out)
    published = {"Published": 1, "PublishLatency": line["publish_ms"]}
    assert metrics(line) == {(): {"Accepted": 1, "Rejected": 0, **published}, ("type",): published}
    assert line["type"] == "track"
    assert 0 <= line["publish_ms"] <= line["duration_ms"]


def test_a_published_batch_counts_its_events_in_the_total_of_published(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = {"batch": [EVENT, {**EVENT, "messageId": "m-2"}, {"type": "identify", "userId": "u1"}, {"type": "x"}]}
    api.post(batch, path="/v1/batch")
    line = request_line(capsys.readouterr().out)
    # One line holds one value per dimension, so a batch of mixed types counts in the total only.
    assert metrics(line) == {(): {"Accepted": 1, "Rejected": 0, "Published": 3, "PublishLatency": line["publish_ms"]}}
    assert (line["events"], line["invalid_events"]) == (4, 1)


def test_a_refused_event_counts_as_rejected_by_its_reason(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post({"type": "track", "userId": "u1"})
    line = request_line(capsys.readouterr().out)
    assert metrics(line) == {(): {"Accepted": 0, "Rejected": 1}, ("reason",): {"Rejected": 1}}
    assert line["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("faults", "reason"),
    [([TOPIC_NOT_FOUND], "PublishFailed"), ([THROTTLED] * MAX_ATTEMPTS, "PublishUnavailable")],
    ids=["refused", "unavailable"],
)
def test_a_failed_publish_counts_by_the_reasons_the_publish_failures_alarm_watches(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str], faults: list[Fault], reason: str
) -> None:
    with sns_publish_faults(*faults):
        api.post(EVENT)
    line = request_line(capsys.readouterr().out)
    assert line["reason"] == reason
    assert metrics(line)[("reason",)] == {"Rejected": 1}
    assert ("type",) not in metrics(line)


def test_metrics_are_broken_down_by_type_and_reason_only_never_by_account_or_message(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    api.post({"type": "identify"})
    lines = log_lines(capsys.readouterr().out, "request")
    dimensions = {
        name for line in lines for d in line["_aws"]["CloudWatchMetrics"] for s in d["Dimensions"] for name in s
    }
    assert dimensions == {"type", "reason"}


def test_the_authorizer_line_carries_no_metrics(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    [line] = log_lines(capsys.readouterr().out, "authorizer")
    assert "_aws" not in line


def test_the_metrics_stay_in_the_one_line_per_request(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(EVENT)
    output = capsys.readouterr().out
    assert [json.loads(line)["log"] for line in output.splitlines()] == ["authorizer", "request"]
