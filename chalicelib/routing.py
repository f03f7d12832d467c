"""Which SNS topic an event goes to: one per type, or a default for all."""

from chalicelib import config
from chalicelib.errors import UnhandledEventType


def topic_for(event_type: str) -> str:
    """The topic for `event_type`; `UnhandledEventType` (501) when none is configured."""
    arn = config.topic_arn(event_type)
    if arn is None:
        raise UnhandledEventType("type: this deployment has no topic for events of this type")
    return arn
