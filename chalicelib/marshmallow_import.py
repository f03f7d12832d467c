"""marshmallow, imported without compiling the regular expressions it would never use here.

At import, `marshmallow.validate` compiles its email validator's patterns:
five Unicode character classes without case, 20-25 ms, the largest single
cost of the view's cold start, for a validator the service never runs. So
this module imports marshmallow with `re.compile` deferred for marshmallow's
own module-level patterns: each is compiled on its first use instead, and
only if it is ever used. Everything else compiles as usual. The service's
modules take marshmallow's names from here, so that this import comes first.
"""

import re
import sys
from typing import Any

_compile = re.compile


class DeferredPattern:
    """A pattern compiled on first use; until then, only its source and flags."""

    __slots__ = ("_compiled", "_source")

    def __init__(self, pattern: Any, flags: int) -> None:
        self._source = (pattern, flags)
        self._compiled: re.Pattern[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        # Special names are asked by machinery (abc, copy) while a class is defined: not a use.
        if name.startswith("__"):
            raise AttributeError(name)
        if self._compiled is None:
            self._compiled = _compile(*self._source)
        return getattr(self._compiled, name)


def _import_marshmallow() -> None:
    """Import marshmallow, deferring the patterns its own modules compile at import."""
    if "marshmallow" in sys.modules:
        return

    def deferred(pattern: Any, flags: int = 0) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "marshmallow" or caller.startswith("marshmallow."):
            return DeferredPattern(pattern, flags)
        return _compile(pattern, flags)

    re.compile = deferred
    try:
        import marshmallow  # noqa: F401, PLC0415 (the import this module is for)
    finally:
        re.compile = _compile


_import_marshmallow()

# Imported again, now that it is loaded, for the service's modules to take from here.
from marshmallow import (  # noqa: E402
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates_schema,
)

__all__ = ["INCLUDE", "Schema", "ValidationError", "fields", "missing", "post_load", "validate", "validates_schema"]
