"""marshmallow is imported without compiling the patterns of validators the service never runs."""

import subprocess
import sys

PROBE = """
import re
import chalicelib.schemas
import marshmallow.validate as validate
print(type(validate.Email.USER_REGEX).__name__, type(validate.Email.DOMAIN_REGEX).__name__)
print(validate.Email()("peter@example.com"))
try:
    validate.Email()("peter")
except Exception as error:
    print(type(error).__name__)
print(type(re.compile("[a-z]")).__name__)
"""


def test_the_email_patterns_wait_for_a_first_use_and_then_validate_as_before() -> None:
    # GIVEN a fresh interpreter, as at a cold start
    output = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    deferred, valid, invalid, other = output.splitlines()
    # THEN importing the schemas left marshmallow's email patterns uncompiled
    assert deferred == "DeferredPattern DeferredPattern"
    # AND they still validate, compiled on their first use
    assert (valid, invalid) == ("peter@example.com", "ValidationError")
    # AND every other pattern compiles as usual
    assert other == "Pattern"
