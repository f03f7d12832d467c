"""Secrets named in the environment either by value or by reference to where AWS keeps them.

A setting such as `SEGMENT_OAUTH_CLIENT_SECRET` may hold the secret itself, or:

- `ssm:/emma/segment/client-secret`, or an SSM parameter ARN: a (SecureString)
  Parameter Store parameter, decrypted;
- a Secrets Manager secret ARN (`arn:aws:secretsmanager:...`): its SecretString.

So that the secret need not sit in the Lambda configuration. A reference is
read once per container and kept in memory: secrets change rarely, and reading
one on every request would add a call and a failure point to each.
"""

import re
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Misconfigured
from chalicelib.process_cache import per_process

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

_SSM_PREFIX = "ssm:"
_SSM_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:")
_SECRETS_MANAGER_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:")


class SecretUnreadable(Misconfigured):
    """A referenced secret that is missing, denied, empty or unreachable."""


@per_process
def resolve(setting: str) -> str:
    """The secret `setting` holds or refers to; `SecretUnreadable` if it cannot be read."""
    try:
        if setting.startswith(_SSM_PREFIX):
            value = _parameter(setting.removeprefix(_SSM_PREFIX))
        elif _SSM_ARN.match(setting):
            value = _parameter(setting)
        elif _SECRETS_MANAGER_ARN.match(setting):
            value = _secret_string(setting)
        else:
            return setting
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        raise SecretUnreadable(f"a secret could not be read ({code})") from error
    except BotoCoreError as error:
        raise SecretUnreadable(f"a secret could not be read ({type(error).__name__})") from error
    if not value:
        raise SecretUnreadable("a referenced secret is empty")
    return value


def _parameter(name: str) -> str:
    parameter = ssm_client().get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return parameter.get("Value", "")


def _secret_string(arn: str) -> str:
    return secretsmanager_client().get_secret_value(SecretId=arn).get("SecretString", "")


@per_process
def ssm_client() -> "SSMClient":
    """One client per process, reused across invocations."""
    return boto3.client("ssm")


@per_process
def secretsmanager_client() -> "SecretsManagerClient":
    """One client per process, reused across invocations; webhook deliveries read their secrets with it
    within their request's deadline, so one attempt is bounded and botocore retries nothing."""
    return boto3.client(
        "secretsmanager",
        config=Config(connect_timeout=0.25, read_timeout=1.0, retries={"total_max_attempts": 1}),
    )
