"""Manage the API keys the endpoint accepts: `python -m chalicelib.keys --help`.

    create --account-id 42   print a new key for account 42, once; only its hash is stored
    disable KEY              stop accepting KEY (within the authorizer's cache TTL)
    enable KEY               accept KEY again
    list                     every stored key: its hash, account, status, creation time and,
                             for a key handed to a Segment destination, which one
    webhook-secret --account-id 42 [--delete]
                             print a new shared secret for account 42's Webhooks
                             destination (replacing any), or delete it

`disable` and `enable` also take `--hash HASH` (from `list`) for a key whose text
is lost, or to keep it out of shell history.
The table is `API_KEYS_TABLE` (or `--table`) and webhook secrets live under
`WEBHOOK_SECRETS_PREFIX` in Secrets Manager, both reached through the standard
AWS configuration (profile, region, `AWS_ENDPOINT_URL`). An operator's command
waits as long as the SDK's defaults allow, unlike the request path's clients.
"""

import argparse
import sys
from collections.abc import Sequence

import boto3

from chalicelib import config
from chalicelib.keys import ACTIVE, DISABLED, KeyStore, Status, hash_key
from chalicelib.webhook import WebhookSecrets


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "webhook-secret":
        return _webhook_secret(args)
    store = KeyStore(boto3.client("dynamodb"), args.table or config.api_keys_table())
    if args.command == "create":
        key = store.create(args.account_id)
        print(f"account {args.account_id}: new API key (shown only now, store it safely):", file=sys.stderr)
        print(key)
        return 0
    if args.command == "list":
        for record in store.all():
            created_for = f"  for={record.created_for}" if record.created_for else ""
            print(f"{record.key_hash}  account={record.account_id}  {record.status}  {record.created_at}{created_for}")
        return 0
    return _set_status(store, args, ACTIVE if args.command == "enable" else DISABLED)


def _set_status(store: KeyStore, args: argparse.Namespace, status: Status) -> int:
    key_hash = args.hash or hash_key(args.key)
    if not store.set_status(key_hash, status):
        print(f"no such key (hash {key_hash[:12]}...)", file=sys.stderr)
        return 1
    print(f"key {key_hash[:12]}... is now {status}", file=sys.stderr)
    return 0


def _webhook_secret(args: argparse.Namespace) -> int:
    prefix = config.webhook_secrets_prefix()
    if prefix is None:
        print("WEBHOOK_SECRETS_PREFIX is not set", file=sys.stderr)
        return 1
    secrets = WebhookSecrets(boto3.client("secretsmanager"), prefix)
    if args.delete:
        secrets.delete(args.account_id)
        print(f"account {args.account_id}: webhook secret deleted", file=sys.stderr)
        return 0
    print(f"account {args.account_id}: new webhook shared secret (shown only now):", file=sys.stderr)
    print(secrets.put(args.account_id))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.keys", description="Manage Emma API keys.")
    parser.add_argument("--table", help="the key table (default: $API_KEYS_TABLE)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key for an account and print it once")
    create.add_argument("--account-id", required=True)
    commands.add_parser("list", help="list stored keys (hashes only)")
    for name in ("disable", "enable"):
        command = commands.add_parser(name, help=f"{name} a key")
        which = command.add_mutually_exclusive_group(required=True)
        which.add_argument("key", nargs="?", help="the API key")
        which.add_argument("--hash", help="the key's SHA-256 hex, as `list` prints it")
    webhook = commands.add_parser("webhook-secret", help="create, rotate or delete an account's webhook secret")
    webhook.add_argument("--account-id", required=True)
    webhook.add_argument("--delete", action="store_true", help="delete it instead")
    return parser


if __name__ == "__main__":
    sys.exit(main())
