"""One JSON line per request, for CloudWatch Logs Insights and CloudWatch metrics.

Only ids, types, sizes, timings and outcomes are written: never API keys,
settings, traits, properties or anything else a sender put in an event.

A request's line also carries its metrics in CloudWatch's Embedded Metric
Format (an `_aws` member naming which of the line's fields are metrics, and by
which of its fields they are broken down), so Lambda's log delivery alone turns
them into CloudWatch metrics: no API call, no extra latency, no IAM grant.
Dimensions are only the event type and the rejection reason (an error class),
a handful of values each: never account or message ids.
"""

import json
import time
import traceback
from typing import Any

from chalicelib import config

ACCEPTED = "Accepted"
REJECTED = "Rejected"
PUBLISHED = "Published"
PUBLISH_LATENCY = "PublishLatency"
_UNITS = {PUBLISH_LATENCY: "Milliseconds"}


class RequestLog:
    """Collects a request's loggable facts and writes them as one line at the end."""

    def __init__(self, kind: str, **fields: Any) -> None:
        self._started = time.perf_counter()
        self.fields: dict[str, Any] = {"log": kind, **fields}

    def note(self, **fields: Any) -> None:
        self.fields.update(fields)

    def note_unexpected(self, error: BaseException) -> None:
        """Where an unexpected error happened, without its message, which may quote the event."""
        frame = traceback.extract_tb(error.__traceback__)[-1]
        self.note(error=f"unexpected {type(error).__name__} at {frame.filename}:{frame.lineno}", reason="Unexpected")

    def write(self, **fields: Any) -> None:
        self.note(**fields)
        self.fields["duration_ms"] = round((time.perf_counter() - self._started) * 1000, 3)
        line = {**self.fields, **request_metrics(self.fields)} if self.fields["log"] == "request" else self.fields
        print(json.dumps(line, separators=(",", ":")), flush=True)


def request_metrics(fields: dict[str, Any]) -> dict[str, Any]:
    """The metric values of a request's line and the `_aws` directives that declare them.

    Every request counts as accepted (answered 200) or rejected, in total and,
    when rejected, by `reason`. Published events count in total with the time
    their publish took, and by `type` where a request has one type (a batch's
    events count in the total only: one line holds one value per dimension).
    """
    accepted = fields.get("status") == 200
    values: dict[str, Any] = {ACCEPTED: int(accepted), REJECTED: int(not accepted)}
    directives = [_directive([[]], ACCEPTED, REJECTED)]
    if not accepted and "reason" in fields:
        directives.append(_directive([["reason"]], REJECTED))
    if "publish_ms" in fields:
        values.update({PUBLISHED: fields.get("published", 1), PUBLISH_LATENCY: fields["publish_ms"]})
        dimensions: list[list[str]] = [[], ["type"]] if "type" in fields else [[]]
        directives.append(_directive(dimensions, PUBLISHED, PUBLISH_LATENCY))
    namespace = config.metrics_namespace()
    for directive in directives:
        directive["Namespace"] = namespace
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}, **values}


def _directive(dimensions: list[list[str]], *metrics: str) -> dict[str, Any]:
    return {
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": _UNITS.get(name, "Count")} for name in metrics],
    }
