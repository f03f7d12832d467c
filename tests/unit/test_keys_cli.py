"""`python -m chalicelib.keys`: keys printed once, stored only as hashes."""

import pytest

from chalicelib.keys import hash_key
from chalicelib.keys.__main__ import main
from tests.aws import KEYS_TABLE, Deployment


@pytest.fixture
def table(aws: None, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    monkeypatch.setenv("API_KEYS_TABLE", KEYS_TABLE)
    return Deployment()


def test_create_prints_the_key_once_and_stores_only_its_hash(
    table: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create", "--account-id", "42"]) == 0
    key = capsys.readouterr().out.strip()
    [item] = table.dynamodb.scan(TableName=KEYS_TABLE)["Items"]
    assert item["key_hash"]["S"] == hash_key(key)
    assert (item["account_id"]["S"], item["status"]["S"]) == ("42", "active")
    assert key not in str(item)


def test_list_shows_hashes_accounts_and_statuses_never_keys(
    table: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    key = table.create_key("42")
    main(["list"])
    listing = capsys.readouterr().out
    assert hash_key(key) in listing and "account=42" in listing and "active" in listing
    assert key not in listing


def test_disable_and_enable_by_key_or_by_hash(table: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    key = table.create_key("42")
    assert main(["disable", key]) == 0
    assert table.keys.find(key) is not None and not table.keys.find(key).active  # type: ignore[union-attr]
    assert main(["enable", "--hash", hash_key(key)]) == 0
    assert table.keys.find(key).active  # type: ignore[union-attr]


def test_disabling_an_unknown_key_fails(table: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["disable", "nope"]) == 1
    assert "no such key" in capsys.readouterr().err


def test_list_shows_which_destination_a_key_was_made_for(table: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    made_for_segment = table.keys.create("42", created_for="workspaces/acme/sources/web/destinations/emma")
    by_hand = table.create_key("42")
    main(["list"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines[hash_key(made_for_segment)].endswith("for=workspaces/acme/sources/web/destinations/emma")
    assert "for=" not in lines[hash_key(by_hand)]
