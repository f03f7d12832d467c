"""The small HTML pages a browser is shown at the end of the flow.

They name the account and the Segment source, so that whoever consented sees
what was connected to what, and never a key, token, code or state. Every value
is HTML-escaped; the pages load nothing and may not be framed.
"""

import html

from chalice.app import Response

from chalicelib.errors import Misconfigured, Refusal
from chalicelib.segment_enable.enabling import Outcome
from chalicelib.segment_enable.errors import EnableError, NotConfigured

_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # The callback's URL holds Segment's code: nothing on the page may pass it on.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}"


def enabled_page(outcome: Outcome, account_id: str, source_name: str) -> Response:
    """What the callback did, and to which source and account."""
    source = _describe_source(source_name)
    account = f"Emma account {account_id}"
    if outcome is Outcome.ALREADY_ENABLED:
        already = f"Segment already sends the events of {source} to {account}."
        return page(200, "Emma was already enabled", already, "Nothing was changed.")
    done = {
        Outcome.CREATED: "The Emma destination was added to your Segment source and enabled.",
        Outcome.UPDATED: "The Emma destination on your Segment source was given a new Emma API key and enabled.",
        Outcome.REENABLED: "The Emma destination on your Segment source was enabled again.",
    }[outcome]
    return page(200, "Emma is enabled in Segment", done, f"Segment now sends the events of {source} to {account}.")


def declined_page() -> Response:
    refused = "You did not allow Emma to set up its destination in Segment."
    return page(200, "Emma was not enabled", refused, "Nothing was changed. You can start again from Emma at any time.")


def error_page(refusal: Refusal) -> Response:
    """The page for what stopped the flow: its own, or the flow's general one for a missing setting or a bug."""
    if isinstance(refusal, EnableError):
        shown = refusal
    elif isinstance(refusal, Misconfigured):
        shown = NotConfigured(refusal.detail)
    else:
        shown = EnableError(refusal.detail)
    return page(shown.status_code, shown.title, shown.advice)


def page(status_code: int, title: str, *paragraphs: str) -> Response:
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(body=document, status_code=status_code, headers=dict(_HEADERS))


def _describe_source(source_name: str) -> str:
    """`workspaces/acme/sources/web` as "source web in workspace acme"."""
    _, workspace, _, source = source_name.split("/")
    return f"source {source} in workspace {workspace}"
