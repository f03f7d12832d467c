"""The authorizer and the event endpoint do not load what only other routes need.

The authorizer is a Lambda function of its own, built from the same app.py:
every module it imports is paid for at each of its cold starts.
"""

import json
import subprocess
import sys
import tempfile

from bench.environment import child_environment
from bench.stub import running_stub
from tools.lambda_events import authorizer_event

# What the authorizer's Lambda function and the /v1/segment view import.
HOT_PATH = "import app, chalicelib.authorizer, chalicelib.ingest"
OAUTH_MODULES = ("requests_oauthlib", "oauthlib", "requests", "chalicelib.segment_enable")
# What only the views need: validation, the OpenAPI document, Enable with Segment, SNS.
VIEW_ONLY_MODULES = ("marshmallow", "apispec", "requests_oauthlib", "chalicelib.publisher", "chalicelib.ingest")


def test_the_authorizer_and_the_event_endpoint_do_not_import_the_oauth_client() -> None:
    probe = f"{HOT_PATH}; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {OAUTH_MODULES!r}"
    probe += " or m.startswith('chalicelib.segment_enable')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_the_authorizer_decides_without_importing_what_only_the_views_need() -> None:
    # GIVEN the authorizer's Lambda function in a fresh interpreter, with DynamoDB answering an active key
    probe = f"""
import json, sys
import app
policy = app.api_key_authorizer(json.loads({json.dumps(authorizer_event("any-key"))!r}), None)
loaded = sorted(m for m in sys.modules if m in {VIEW_ONLY_MODULES!r} or m.split(".")[0] in {VIEW_ONLY_MODULES!r})
print(json.dumps({{"effect": policy["policyDocument"]["Statement"][0]["Effect"], "loaded": loaded}}))
"""
    with running_stub() as endpoint, tempfile.TemporaryDirectory() as bytecode_cache:
        # WHEN it is imported and decides once
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env=child_environment(endpoint, bytecode_cache),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    # THEN it allowed the key, and none of the views' machinery was loaded
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"effect": "Allow", "loaded": []}
