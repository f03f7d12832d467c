"""`chalice local`, with the part of API Gateway it leaves out: the stage's and each account's throttles.

    python -m tools.local_gateway --stage local --port 8000    # what `make run` starts

Chalice's local server runs the authorizer and the views as API Gateway
would, but ignores usage plans. This server is Chalice's, with a gateway that
also does what `make deploy` sets up (`tools.gateway_limits`): a token bucket
for the stage (`api_gateway_throttling`), and one per usage plan key the
authorizer names (`usageIdentifierKey`) for every route that requires a key
(`account_throttling`), with another for `/v1/batch` (`account_batch_throttling`).
A request over a bucket gets the stage's THROTTLED gateway response
(infra/gateway-responses.json: 429, `Retry-After`), and one without a key
where a key is required gets 403, as API Gateway answers them. So one
account's replay on `make run` is refused at the door, as it is in AWS, and
the tests can show that the other accounts' events still flow.
"""

import argparse
import logging
import os
import sys
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGateway, LocalGatewayAuthorizer

from chalicelib.authorizer import CACHE_TTL_SECONDS
from tools.deploy import gateway_responses, load_config, stage_settings
from tools.gateway_limits import BATCH_METHOD, Throttle, throttle

REPO = Path(__file__).resolve().parent.parent


class TokenBucket:
    """API Gateway's throttle: `burst_limit` tokens at most, `rate_limit` more a second, one per request."""

    def __init__(self, limit: Throttle) -> None:
        self._rate, self._capacity = limit.rate_limit, float(limit.burst_limit)
        self._tokens, self._at = self._capacity, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether a request may go on now (and its token is spent)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class Throttles:
    """The stage's bucket, and each usage plan key's, made on its first request."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._stage = TokenBucket(throttle(settings, "api_gateway_throttling"))
        self._account, self._batch = (
            throttle(settings, "account_throttling"),
            throttle(settings, "account_batch_throttling"),
        )
        self._keys: dict[tuple[str, bool], TokenBucket] = {}
        self._lock = threading.Lock()

    def admits(self, key: str | None, method: str) -> bool:
        """Whether the stage, and the key's usage plan if the route takes one, let a request through."""
        if not self._stage.take():
            return False
        # A usage plan's limit for a method replaces the plan's own for that method.
        return key is None or self._bucket(key, batch=method == BATCH_METHOD).take()

    def _bucket(self, key: str, *, batch: bool) -> TokenBucket:
        with self._lock:
            if (key, batch) not in self._keys:
                self._keys[key, batch] = TokenBucket(self._batch if batch else self._account)
            return self._keys[key, batch]


class Decisions:
    """The authorizer's allowing decisions per Authorization header, kept as API Gateway keeps them.

    API Gateway runs the authorizer once per header and TTL, so a refused
    replay costs it nothing but the throttle; so here too.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._kept: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, token: str | None) -> dict[str, Any] | None:
        with self._lock:
            at, decision = self._kept.get(token or "", (0.0, {}))
            return decision if token and time.monotonic() - at < self._ttl else None

    def keep(self, token: str | None, decision: dict[str, Any]) -> None:
        if token:
            with self._lock:
                self._kept[token] = (time.monotonic(), decision)


class ThrottledApp:
    """The Chalice app behind the gateway's throttles: what the local gateway invokes instead of the app."""

    def __init__(self, app: Chalice, throttles: Throttles) -> None:
        self._app, self._throttles = app, throttles
        self.decisions = Decisions(CACHE_TTL_SECONDS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event["requestContext"]
        route = self._app.routes[request["resourcePath"]][request["httpMethod"]]
        key = request["identity"].get("apiKey") if route.api_key_required else None
        if route.api_key_required and not key:
            return gateway_answer("DEFAULT_4XX", 403, "INVALID_API_KEY")
        if not self._throttles.admits(key, f"{request['resourcePath']}/{request['httpMethod']}"):
            return gateway_answer("THROTTLED", 429, "THROTTLED")
        answer: dict[str, Any] = self._app(event, context)
        return answer


def gateway_answer(kind: str, status: int, response_type: str) -> dict[str, Any]:
    """API Gateway's own answer, as infra/gateway-responses.json makes it, in the shape of a view's."""
    answer = _gateway_answer(kind, status, response_type)
    return {**answer, "headers": dict(answer["headers"])}


@cache
def _gateway_answer(kind: str, status: int, response_type: str) -> dict[str, Any]:
    """Made once per kind: a replay is refused many times a second, and the file does not change meanwhile."""
    response = gateway_responses()[kind]
    headers = {
        name.removeprefix("gatewayresponse.header."): value.strip("'")
        for name, value in response.get("responseParameters", {}).items()
    }
    body = response["responseTemplates"]["application/json"].replace("$context.error.responseType", response_type)
    return {"statusCode": status, "headers": headers, "multiValueHeaders": {}, "body": body}


class _Authorizer(LocalGatewayAuthorizer):
    """Chalice's local authorizer, its decisions kept for their TTL, the usage plan key where API Gateway puts it."""

    def __init__(self, app: "ThrottledApp") -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self._decisions = app.decisions

    def authorize(self, raw_path: str, lambda_event: Any, lambda_context: Any) -> Any:
        kept = self._decisions.get(lambda_event["headers"].get("authorization"))
        route = self._route_for_event(lambda_event)
        if kept is not None and route is not None and route.authorizer is not None:
            return self._update_lambda_event(lambda_event, kept), lambda_context
        return super().authorize(raw_path, lambda_event, lambda_context)

    def _update_lambda_event(self, lambda_event: dict[str, Any], auth_result: dict[str, Any]) -> dict[str, Any]:
        self._decisions.keep(lambda_event["headers"].get("authorization"), auth_result)
        # Chalice adds the principal to the decision's context: a copy, so that the kept one stays as it was.
        updated: dict[str, Any] = super()._update_lambda_event(
            lambda_event, {**auth_result, "context": dict(auth_result["context"])}
        )
        updated["requestContext"]["identity"]["apiKey"] = auth_result.get("usageIdentifierKey")
        return updated


class _Gateway(LocalGateway):
    def __init__(self, app_object: ThrottledApp, config: Config) -> None:
        super().__init__(app_object, config)  # type: ignore[arg-type]
        self._authorizer = _Authorizer(app_object)


class _RequestHandler(ChaliceRequestHandler):
    def __init__(
        self, request: Any, client_address: Any, server: HTTPServer, app_object: ThrottledApp, config: Config
    ) -> None:
        self.local_gateway = _Gateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)


def server(stage: str, host: str, port: int) -> LocalDevServer:
    """Chalice's local server for `stage`, as `chalice local --stage <stage>` makes it, behind the throttles."""
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"
    os.chdir(REPO)
    config = CLIFactory(str(REPO), environ=os.environ).create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)
    throttled = ThrottledApp(app, Throttles(stage_settings(load_config(), stage)))
    return LocalDevServer(throttled, config, host, port, handler_cls=_RequestHandler)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    # As `chalice local` does: the app's log lines on standard output, as Lambda prints them.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server(args.stage, args.host, args.port).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
