"""The authorizer and the event endpoint do not load the OAuth machinery of "Enable with Segment"."""

import subprocess
import sys

# What the authorizer's Lambda function and the /v1/segment view import.
HOT_PATH = "import app, chalicelib.authorizer, chalicelib.ingest"
OAUTH_MODULES = ("requests_oauthlib", "oauthlib", "requests", "chalicelib.segment_enable")


def test_the_authorizer_and_the_event_endpoint_do_not_import_the_oauth_client() -> None:
    probe = f"{HOT_PATH}; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {OAUTH_MODULES!r}"
    probe += " or m.startswith('chalicelib.segment_enable')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
