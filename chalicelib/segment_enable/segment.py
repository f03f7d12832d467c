"""Segment's OAuth server and Config API, as Emma's partner app uses them.

requests-oauthlib builds the authorization URL and exchanges the code (client
credentials in a Basic header and `redirect_uri` repeated, as Segment
requires); its session then carries the install token as a Bearer header to
the Config API. The token lives in that session for the one request and is
never stored: the flow needs no lasting access to the customer's workspace.

Every call has connect and read timeouts: a browser waits on at most four of
them (the code exchange, a read and at most two writes), all within API
Gateway's 29 seconds.
"""

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import requests
from oauthlib.oauth2 import InvalidGrantError, OAuth2Error
from requests_oauthlib import OAuth2Session

from chalicelib.segment_enable.errors import (
    AuthorizationExpired,
    ConfigApiRefused,
    ConfigApiUnavailable,
    TokenExchangeFailed,
)

Timeout = tuple[float, float]
# (connect, read) seconds for each call to Segment.
TIMEOUT: Timeout = (2.0, 4.0)
API_KEY_SETTING = "apiKey"
# Segment's resource names; anything else is not put into a URL.
_SOURCE_NAME = re.compile(r"workspaces/[A-Za-z0-9_-]+/sources/[A-Za-z0-9_-]+")

# requests-oauthlib logs the token request (with the client's Basic credentials)
# and the token itself at DEBUG: they stay out of the logs at any root level.
for _library in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_library).setLevel(logging.WARNING)


@dataclass(frozen=True)
class PartnerApp:
    """Emma's app in Segment's Developer Center, and where Segment is."""

    client_id: str
    client_secret: str = field(repr=False)
    destination_slug: str
    redirect_uri: str
    oauth_url: str
    api_url: str

    @property
    def scope(self) -> str:
        """The one scope a destination partner may ask for: its own destination, on one source."""
        return f"destination/{self.destination_slug}"


def authorization_url(app: PartnerApp, state: str) -> str:
    """Segment's consent page for Emma's app, which will come back to the callback with `state`."""
    session = OAuth2Session(app.client_id, redirect_uri=app.redirect_uri, scope=[app.scope])
    url, _ = session.authorization_url(f"{app.oauth_url}/oauth2/auth", state=state)
    return str(url)


@dataclass(frozen=True)
class Install:
    """An install token (inside its session) and the source the customer picked."""

    session: OAuth2Session = field(repr=False)
    source_name: str


def exchange_code(app: PartnerApp, code: str, timeout: Timeout = TIMEOUT) -> Install:
    """The install token for `code`; `AuthorizationExpired` or `TokenExchangeFailed` otherwise."""
    # No scope on this session: oauthlib would refuse a token whose scope string
    # differs from the one asked for; the Config API decides what it may do.
    session = OAuth2Session(app.client_id, redirect_uri=app.redirect_uri)
    session.register_compliance_hook("access_token_response", _json_object_answer)
    try:
        token = session.fetch_token(
            f"{app.oauth_url}/oauth2/token", code=code, client_secret=app.client_secret, timeout=timeout
        )
    except InvalidGrantError as error:
        raise AuthorizationExpired("token exchange: invalid_grant") from error
    except OAuth2Error as error:
        raise TokenExchangeFailed(f"token exchange: {str(error.error)[:64]}") from error
    except (requests.RequestException, ValueError) as error:
        # ValueError: oauthlib's verdict on a malformed field, such as `expires_in`.
        raise TokenExchangeFailed(f"token exchange: {type(error).__name__}") from error
    return Install(session, _one_source(token.get("source_names")))


def _json_object_answer(response: requests.Response) -> requests.Response:
    """Only a JSON object reaches oauthlib, which reads its errors and tokens but trips on anything else."""
    try:
        body = response.json()
    except requests.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise TokenExchangeFailed(f"token exchange: HTTP {response.status_code}, not a JSON object")
    return response


def _one_source(source_names: Any) -> str:
    if not isinstance(source_names, list) or len(source_names) != 1:
        raise TokenExchangeFailed("token exchange: not exactly one source granted")
    [source_name] = source_names
    if not isinstance(source_name, str) or not _SOURCE_NAME.fullmatch(source_name):
        raise TokenExchangeFailed("token exchange: malformed source name")
    return source_name


@dataclass(frozen=True)
class Destination:
    """What the Config API says of an existing destination."""

    enabled: bool
    api_key: str | None = field(repr=False)


class Destinations:
    """Emma's destination on one source, through the Config API with an install token."""

    def __init__(
        self, session: requests.Session, api_url: str, source_name: str, slug: str, timeout: Timeout = TIMEOUT
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._api_url = api_url
        self.source_name = source_name
        self.name = f"{source_name}/destinations/{slug}"

    def get(self) -> Destination | None:
        """The destination, or None if the source has none."""
        response = self._call("GET", self.name)
        if response.status_code == 404:
            return None
        body = self._json(_checked("GET", response))
        return Destination(enabled=body.get("enabled") is True, api_key=_api_key_in(body.get("config")))

    def create(self, api_key: str) -> bool:
        """Create it, enabled, with `api_key`; False if the source has one already (409)."""
        destination = {
            "name": self.name,
            "connection_mode": "CLOUD",
            "enabled": True,
            "config": [self._api_key_setting(api_key)],
        }
        response = self._call("POST", f"{self.source_name}/destinations", json={"destination": destination})
        if response.status_code == 409:
            return False
        _checked("POST", response)
        return True

    def update(self, api_key: str | None) -> None:
        """Enable it and, given `api_key`, set its key; nothing else about it changes."""
        destination: dict[str, Any] = {"enabled": True}
        paths = ["destination.enabled"]
        if api_key is not None:
            destination["config"] = [self._api_key_setting(api_key)]
            paths.append("destination.config")
        body = {"destination": destination, "update_mask": {"paths": paths}}
        _checked("PATCH", self._call("PATCH", self.name, json=body))

    def _api_key_setting(self, api_key: str) -> dict[str, str]:
        return {"name": f"{self.name}/config/{API_KEY_SETTING}", "display_name": "API Key", "value": api_key}

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, f"{self._api_url}/v1beta/{path}", timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            raise ConfigApiUnavailable(f"Config API {method}: {type(error).__name__}") from error

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except requests.JSONDecodeError as error:
            raise ConfigApiUnavailable("Config API GET: not JSON") from error
        if not isinstance(body, dict):
            raise ConfigApiUnavailable("Config API GET: not a JSON object")
        return body


def _checked(method: str, response: requests.Response) -> requests.Response:
    """`response` if it is a success; a 4xx means refused, a 5xx (or 429) means unknown."""
    status = response.status_code
    if 200 <= status < 300:
        return response
    if status >= 500 or status == 429:
        raise ConfigApiUnavailable(f"Config API {method}: {status}")
    raise ConfigApiRefused(f"Config API {method}: {status}")


def _api_key_in(config: Any) -> str | None:
    """The destination's `apiKey` setting, if the Config API shows it."""
    for setting in config if isinstance(config, list) else []:
        if isinstance(setting, dict) and str(setting.get("name", "")).endswith(f"/config/{API_KEY_SETTING}"):
            value = setting.get("value")
            return value if isinstance(value, str) and value else None
    return None
