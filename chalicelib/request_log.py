"""One JSON line per request, for CloudWatch Logs Insights and metric filters.

Only ids, types, sizes, timings and outcomes are written: never API keys,
settings, traits, properties or anything else a sender put in an event.
"""

import json
import time
import traceback
from typing import Any


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
        self.note(error=f"unexpected {type(error).__name__} at {frame.filename}:{frame.lineno}")

    def write(self, **fields: Any) -> None:
        self.note(**fields)
        self.fields["duration_ms"] = round((time.perf_counter() - self._started) * 1000, 3)
        print(json.dumps(self.fields, separators=(",", ":")), flush=True)
