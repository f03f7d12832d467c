"""`make run`: the whole service on this machine, with no AWS account and no Docker.

Starts moto's server in this process (`tools.moto_server`), creates what the
`local` stage names (a topic per event type with a queue subscribed to each,
the API-key table and a demo key), then `chalice local --stage local` pointed at it through
`AWS_ENDPOINT_URL`. Once the service answers it prints how to use it, then
restarts it whenever the code or the stage configuration changes (and nothing
else: see `tools.watched_files`). Ctrl-C stops everything it started.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import requests

from chalicelib.keys import KeyStore
from tools import process_groups
from tools.moto_server import serving
from tools.provision import provision, stage_environment
from tools.watched_files import WatchedFiles

STAGE = "local"
DEMO_KEY = "emma-local-demo-key"
DEMO_ACCOUNT = "1001"
REPO = Path(__file__).resolve().parent.parent
# How often the code's files are looked at: a restart follows a save within a second.
POLL_SECONDS = 1.0
# Nothing started here may reach real AWS, whatever the shell has configured.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_DYNAMODB")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Ctrl-C, a closed terminal or a kill all end in the same clean-up. SIGINT is
    # set explicitly because a shell starts background jobs with it ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\nstopped")
        return 0


def _run(args: argparse.Namespace) -> int:
    for port, setting in ((args.port, "PORT"), (args.aws_port, "AWS_PORT")):
        if not port_is_free(port):
            print(f"port {port} is in use: stop what listens on it, or choose another: make run {setting}=...")
            return 1
    os.environ.update(EMULATOR_CREDENTIALS)
    for variable in _UNSET:
        os.environ.pop(variable, None)
    with serving(args.aws_port) as aws_endpoint:
        environment = stage_environment(STAGE)
        provision(environment, endpoint_url=aws_endpoint)
        keys = KeyStore(boto3.client("dynamodb", endpoint_url=aws_endpoint), environment["API_KEYS_TABLE"])
        keys.create(DEMO_ACCOUNT, key=args.demo_key)
        return _serve(args, aws_endpoint)


def _serve(args: argparse.Namespace, aws_endpoint: str) -> int:
    """chalice local, and the banner once it answers; its exit code or, reloading, a restart per change until Ctrl-C."""
    watched = WatchedFiles(REPO)
    with chalice_local(args.port, aws_endpoint) as service:
        if not wait_until_answering(f"http://127.0.0.1:{args.port}", service):
            print("chalice local did not start; see its output above")
            return 1
        print(banner(args.port, args.aws_port, args.demo_key), flush=True)
        if args.no_reload:
            return service.wait()
        changed = _next_change(watched, service)
    # Until Ctrl-C or a kill.
    while True:
        print(f"reloading: {', '.join(changed)} changed", flush=True)
        with chalice_local(args.port, aws_endpoint) as service:
            changed = _next_change(watched, service)


def _next_change(watched: WatchedFiles, service: subprocess.Popen[bytes]) -> list[str]:
    """The watched files that changed, once some have.

    A service that exits meanwhile (an import error in the code being edited)
    is said to have; the next change starts it again.
    """
    said_exited = False
    while not (changed := watched.changes()):
        if service.poll() is not None and not said_exited:
            print(f"chalice local exited ({service.returncode}): it starts again when the code changes", flush=True)
            said_exited = True
        time.sleep(POLL_SECONDS)
    return changed


@contextmanager
def chalice_local(port: int, aws_endpoint: str) -> Iterator[subprocess.Popen[bytes]]:
    """Chalice's local server for the `local` stage, behind the gateway's throttles (`tools.local_gateway`).

    In its own process group, stopped with everything it forked. Never with
    chalice's own reloader, which polls every file of the project: `make run`
    restarts it itself, for the files that matter.
    """
    service = subprocess.Popen(
        [sys.executable, "-m", "tools.local_gateway", "--stage", STAGE, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "AWS_ENDPOINT_URL": aws_endpoint},
        start_new_session=True,
    )
    try:
        yield service
    finally:
        process_groups.stop(service, signal.SIGTERM, grace=10)


def wait_until_answering(url: str, service: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """True once the service answers HTTP (a 401 without credentials will do)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.poll() is None:
        try:
            requests.post(f"{url}/v1/segment", timeout=1)
            return True
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


def banner(port: int, aws_port: int, key: str) -> str:
    """How to use the run, every command spelled with its ports (and key) so that it works as printed.

    The ports are written out even when they are the defaults: PORT is a name
    shells often export for other programs, and make would take it from there.
    """
    url, aws_endpoint = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}"
    identify = '{"type":"identify","userId":"u1","traits":{"email":"peter@example.com"}}'
    key_setting = "" if key == DEMO_KEY else f" DEMO_KEY={key}"
    return f"""
Emma's Segment destination is running locally.

  endpoint    {url}/v1/segment
  AWS (moto)  {aws_endpoint}   stage "{STAGE}": a topic per event type, each with a "-tail" queue; the key table
  demo key    {key}   (account {DEMO_ACCOUNT})

Send an identify (expect HTTP 200 and its messageId):

  curl -i {url}/v1/segment -u '{key}:' -H 'Content-Type: application/json' -d '{identify}'

In another terminal, send sample events of every type, or print each message as it is published:

  make demo PORT={port}{key_setting}
  make tail AWS_PORT={aws_port}

Ctrl-C stops everything.
"""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def port_is_free(port: int) -> bool:
    """Whether a server can listen on `port` of loopback now, as `make run`'s servers would.

    Both chalice local and moto's werkzeug server are `http.server.HTTPServer`s,
    which set SO_REUSEADDR: connections a previous run left in TIME-WAIT (for a
    minute after it stopped under a connected client) do not keep them from
    listening, a live listener does. The probe binds the same way, so it neither
    refuses a port they would take nor lets through one they would fail on.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the service's port (default 8000)")
    parser.add_argument("--aws-port", type=int, default=5001, help="the AWS emulator's port (default 5001)")
    parser.add_argument("--demo-key", default=DEMO_KEY, help=f"the demo API key to create (default {DEMO_KEY})")
    parser.add_argument("--no-reload", action="store_true", help="do not restart chalice local when the code changes")
    return parser


if __name__ == "__main__":
    sys.exit(main())
