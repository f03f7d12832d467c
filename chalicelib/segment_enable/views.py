"""The flow's routes: start with an API key, start with an Emma link, and Segment's callback.

Each answers a redirect or an HTML page, and writes one log line
(`"log": "segment_enable"`) with the step, account, destination, outcome and
error reason: never a key, token, code, state, cookie or secret.
"""

import time
from collections.abc import Callable, Mapping

from chalice.app import Request, Response

from chalicelib import config, request_parts, secret_refs
from chalicelib.dynamodb import dynamodb_client
from chalicelib.errors import Misconfigured
from chalicelib.keys import KeyStore
from chalicelib.request_log import RequestLog
from chalicelib.responses import answered
from chalicelib.segment_enable import pages, segment, signing
from chalicelib.segment_enable.enabling import enable
from chalicelib.segment_enable.errors import AuthorizationFailed, InvalidLink, NoDestination

# Holds the browser secret a state is bound to. `__Host-`: only over HTTPS, only
# to this host, on every path (API Gateway may prefix the routes with a stage).
# Lax, so that it comes back on Segment's top-level redirect to the callback.
COOKIE = "__Host-emma-segment-enable"
_COOKIE_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Lax"


def start_with_api_key(request: Request) -> Response:
    """The account comes from the API key authorizer."""
    log = _log(request, "start")
    return _answered(log, lambda: _redirect_to_segment(request_parts.account_id(request), log))


def start_with_link(request: Request) -> Response:
    """The account comes from a link the Emma app signed: `?account=&expires=&signature=`."""
    log = _log(request, "link")

    def run() -> Response:
        _destination_slug()  # before any secret is read
        params: Mapping[str, str] = request.query_params or {}
        secret = secret_refs.resolve(config.segment_enable_link_secret())
        account_id = signing.verify_link(
            secret, params.get("account", ""), params.get("expires", ""), params.get("signature", ""), time.time()
        )
        return _redirect_to_segment(account_id, log)

    return _answered(log, run)


def callback(request: Request) -> Response:
    """Where Segment sends the browser back; the state's cookie is cleared whatever happens."""
    log = _log(request, "callback")
    response = _answered(log, lambda: _finish(request, log))
    response.headers["Set-Cookie"] = f"{COOKIE}=; Max-Age=0; {_COOKIE_ATTRIBUTES}"
    return response


def _redirect_to_segment(account_id: str, log: RequestLog) -> Response:
    log.note(account_id=account_id)
    app = _partner_app()
    state = signing.new_state(signing.state_key(app.client_secret), account_id, time.time())
    cookie = f"{COOKIE}={state.browser_secret}; Max-Age={signing.STATE_LIFETIME_SECONDS}; {_COOKIE_ATTRIBUTES}"
    location = segment.authorization_url(app, state.value)
    log.note(outcome="redirected")
    headers: dict[str, str | list[str]] = {"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"}
    return Response(body="", status_code=302, headers=headers)


def _finish(request: Request, log: RequestLog) -> Response:
    params: Mapping[str, str] = request.query_params or {}
    error = params.get("error")
    if error == "access_denied":
        log.note(outcome="declined")
        return pages.declined_page()
    if error:
        raise AuthorizationFailed(f"authorization: {error[:64]}")
    app = _partner_app()
    account_id = signing.verify_state(
        signing.state_key(app.client_secret), params.get("state", ""), _browser_secret(request), time.time()
    )
    log.note(account_id=account_id)
    code = params.get("code")
    if not code:
        raise InvalidLink("no code")
    install = segment.exchange_code(app, code)
    destinations = segment.Destinations(install.session, app.api_url, install.source_name, app.destination_slug)
    log.note(destination=destinations.name)
    enabled = enable(destinations, KeyStore(dynamodb_client(), config.api_keys_table()), account_id)
    # A hash prefix names the key in `python -m chalicelib.keys list` without revealing it.
    minted = enabled.minted_key_hash
    log.note(outcome=enabled.outcome.value, minted_key=minted[:12] if minted else None)
    return pages.enabled_page(enabled.outcome, account_id, install.source_name)


def _partner_app() -> segment.PartnerApp:
    destination_slug = _destination_slug()
    return segment.PartnerApp(
        client_id=config.segment_oauth_client_id(),
        client_secret=secret_refs.resolve(config.segment_oauth_client_secret()),
        destination_slug=destination_slug,
        redirect_uri=config.segment_oauth_redirect_uri(),
        oauth_url=config.segment_oauth_url(),
        api_url=config.segment_api_url(),
    )


def _destination_slug() -> str:
    """The destination the flow creates. No default: a wrong slug is another company's destination."""
    try:
        return config.segment_destination_slug()
    except Misconfigured as error:
        raise NoDestination(error.message) from None


def _browser_secret(request: Request) -> str | None:
    """The flow's cookie, read by hand: `http.cookies` gives up on the whole header at the first
    cookie it dislikes, and the browser may send the site's other cookies, in any shape, with it."""
    header: str = request.headers.get("cookie") or ""
    for cookie in header.split(";"):
        name, _, value = cookie.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def _answered(log: RequestLog, run: Callable[[], Response]) -> Response:
    """`run`'s answer, or the page for what stopped it; one log line either way."""
    return answered(log, run, pages.error_page)


def _log(request: Request, step: str) -> RequestLog:
    return RequestLog("segment_enable", step=step, request_id=request_parts.request_id(request))
