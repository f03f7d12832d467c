"""Chalice's command line, with the REST API taking its usage plan keys from the authorizer.

    python -m tools.chalice_cli --project-dir . deploy --stage prod    # what `make deploy` runs

The event routes require an API key (app.py), which API Gateway reads from
the key source of the API: its `x-api-key` header unless the definition says
AUTHORIZER, when it takes the authorizer's `usageIdentifierKey`. Chalice has
no setting for it, and every `chalice deploy` puts the whole definition
again: without it there, each deploy would leave the stage answering every
event 403 (which Segment does not retry) until it was set back. So the
definition Chalice generates, for `deploy` and for `package` alike, says it.
"""

import sys
from typing import Any

from chalice.cli import main
from chalice.deploy.swagger import SwaggerGenerator

KEY_SOURCE = {"x-amazon-apigateway-api-key-source": "AUTHORIZER"}
_generate_swagger = SwaggerGenerator.generate_swagger


def generate_swagger(self: SwaggerGenerator, app: Any, rest_api: Any = None) -> dict[str, Any]:
    """Chalice's definition of the API, its key source the authorizer."""
    definition: dict[str, Any] = _generate_swagger(self, app, rest_api)
    return definition | KEY_SOURCE


SwaggerGenerator.generate_swagger = generate_swagger  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
