"""A loopback stand-in for SNS and DynamoDB: the fastest AWS the SDK can talk to.

    python -m bench.stub        # prints its port, serves until killed

It answers SNS's Publish and PublishBatch in the Query protocol's XML and
DynamoDB's GetItem in JSON (an active key of account 1234 for whatever hash is
asked), over HTTP/1.1 keep-alive as the real endpoints do. It does no
signature checks and no work beyond building the answer, so the time it adds
to a call is close to the least a network round trip can cost.

It runs in its own process: its CPU time is not the measured process's, it
does not compete for that process's GIL, and on two cores each gets one.
"""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

ACCOUNT_ID = "1234"
_SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


def sns_answer(form: dict[str, str]) -> bytes:
    """What SNS answers to a Publish or PublishBatch form (every entry of a batch is acknowledged)."""
    action = form.get("Action")
    request_id = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
    if action == "Publish":
        result = f"<PublishResult><MessageId>{uuid.uuid4()}</MessageId></PublishResult>"
    elif action == "PublishBatch":
        entry_ids = [value for name, value in form.items() if name.endswith(".Id")]
        members = "".join(
            f"<member><Id>{entry}</Id><MessageId>{uuid.uuid4()}</MessageId></member>" for entry in entry_ids
        )
        result = f"<PublishBatchResult><Successful>{members}</Successful><Failed/></PublishBatchResult>"
    else:
        raise ValueError(f"the stub does not answer SNS {action}")
    return f'<{action}Response xmlns="{_SNS_XMLNS}">{result}{request_id}</{action}Response>'.encode()


def dynamodb_answer(target: str, request: dict[str, object]) -> bytes:
    """What DynamoDB answers to a GetItem on the key table: an active key of `ACCOUNT_ID`."""
    if target != "DynamoDB_20120810.GetItem":
        raise ValueError(f"the stub does not answer {target}")
    key = request["Key"]
    assert isinstance(key, dict)
    item = {"key_hash": key["key_hash"], "account_id": {"S": ACCOUNT_ID}, "status": {"S": "active"}}
    return json.dumps({"Item": item}).encode()


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = dict(line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line)
            headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            target = headers.get("x-amz-target")
            if target is None:
                answer, content_type = sns_answer(dict(parse_qsl(body.decode()))), "text/xml"
            else:
                answer, content_type = dynamodb_answer(target, json.loads(body)), "application/x-amz-json-1.0"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (content_type.encode(), len(answer), answer)
            )
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def running_stub() -> Iterator[str]:
    """The stub in a child process, for the time of the block: its endpoint URL."""
    process = subprocess.Popen([sys.executable, "-m", "bench.stub"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(_main())
