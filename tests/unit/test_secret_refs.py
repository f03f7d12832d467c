"""Secrets named by value or by reference to SSM Parameter Store or Secrets Manager, on moto."""

from collections.abc import Iterator

import boto3
import pytest

from chalicelib import secret_refs
from chalicelib.errors import Misconfigured
from chalicelib.process_cache import forget_all


@pytest.fixture
def refs(aws: None) -> Iterator[None]:
    """Nothing cached from another test; clients built inside moto."""
    forget_all()
    yield
    forget_all()


def count_calls(client: object, operation: str) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(f"before-call.*.{operation}", lambda **kwargs: calls.append(operation))  # type: ignore[attr-defined]
    return calls


def test_a_plain_value_is_the_secret(refs: None) -> None:
    assert secret_refs.resolve("s3cr3t") == "s3cr3t"


def test_an_ssm_reference_is_read_decrypted_once_per_container(refs: None) -> None:
    boto3.client("ssm").put_parameter(Name="/emma/segment/secret", Value="from-ssm", Type="SecureString")
    calls = count_calls(secret_refs.ssm_client(), "GetParameter")
    assert secret_refs.resolve("ssm:/emma/segment/secret") == "from-ssm"
    assert secret_refs.resolve("ssm:/emma/segment/secret") == "from-ssm"
    assert calls == ["GetParameter"]


def test_an_ssm_parameter_arn_is_a_reference(refs: None) -> None:
    boto3.client("ssm").put_parameter(Name="/emma/segment/secret", Value="from-ssm", Type="SecureString")
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/emma/segment/secret"
    assert secret_refs.resolve(arn) == "from-ssm"


def test_a_secrets_manager_arn_is_read_once_per_container(refs: None) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="emma/segment", SecretString="from-sm")["ARN"]
    calls = count_calls(secret_refs.secretsmanager_client(), "GetSecretValue")
    assert secret_refs.resolve(arn) == "from-sm"
    assert secret_refs.resolve(arn) == "from-sm"
    assert calls == ["GetSecretValue"]


@pytest.mark.parametrize(
    "reference",
    ["ssm:/nowhere", "arn:aws:secretsmanager:us-east-1:123456789012:secret:nowhere-AbCdEf"],
    ids=["ssm", "secrets manager"],
)
def test_a_missing_secret_is_a_misconfiguration_that_names_no_value(refs: None, reference: str) -> None:
    with pytest.raises(Misconfigured) as error:
        secret_refs.resolve(reference)
    assert "could not be read" in error.value.message
