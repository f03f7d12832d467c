"""The bill's arithmetic against cases worked by hand: item sizes, billed units, dollars per million events."""

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bench.billing_units import (
    LAMBDA_PLATFORM_LOG_BYTES,
    Units,
    call_units,
    item_bytes,
    number_bytes,
    publish_requests,
    read_units,
    write_units,
)
from bench.call_counter import Call, CallCounter
from bench.pricing import Usage, billed_ms, usd_per_million, usd_per_round_trip_ms

TOPIC = "arn:aws:sns:us-east-1:123456789012:emma-segment-local-track"
# A dedup record as the claims write it: 2 + 69, 6 + 9, 10 + (5 significant digits: 3 + 1) bytes.
RECORD = {"id": {"S": "1234/" + "a" * 64}, "status": {"S": "completed"}, "expiration": {"N": "1796500000"}}


def _padded(size: int) -> dict[str, Any]:
    """An item of exactly `size` bytes: one attribute "p" (1 byte) holding a string of size - 1."""
    return {"p": {"S": "x" * (size - 1)}}


def _dynamodb(
    operation: str, params: dict[str, Any], answer: dict[str, Any] | None = None, error: str | None = None
) -> Call:
    return Call("dynamodb", operation, params, answer or {}, error)


def test_an_items_size_is_its_names_and_values() -> None:
    # GIVEN a dedup record, and an item of every other kind of value
    nested = {
        "m": {"M": {"a": {"N": "-12.50"}}},  # 1 + 3 + (1 + 1 + (3 digits: 2 + 1))
        "l": {"L": [{"BOOL": True}, {"NULL": True}]},  # 1 + 3 + (1 + 1) + (1 + 1)
        "ss": {"SS": ["ab", "é"]},  # 2 + 2 + 2 (é is two bytes of UTF-8)
        "b": {"B": b"\x00\x01\x02"},  # 1 + 3 raw bytes
    }
    # WHEN their sizes are worked out
    # THEN each is the sum of its names and values, by DynamoDB's rules
    assert item_bytes(RECORD) == 71 + 15 + 14 == 100
    assert item_bytes(nested) == 9 + 8 + 6 + 4
    assert [number_bytes(n) for n in ("1796500000", "0.001", "123456", "0")] == [4, 2, 4, 2]


def test_a_write_bills_one_unit_per_kilobyte_rounded_up_and_twice_in_a_transaction() -> None:
    assert [write_units(size) for size in (0, 100, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]
    assert write_units(1025, transactional=True) == 4
    # A PutItem of 1 KB + 1 byte
    assert call_units(_dynamodb("PutItem", {"Item": _padded(1025)})) == Units(write_units=2)


def test_a_read_bills_one_unit_per_4_kb_half_eventually_consistent_and_the_least_without_an_item() -> None:
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(0, consistent=False) == 0.5
    assert read_units(100, consistent=True, transactional=True) == 2
    # GIVEN a GetItem without ConsistentRead: eventually consistent, DynamoDB's default
    found = _dynamodb("GetItem", {"Key": {}}, {"Item": _padded(4097)})
    missing = _dynamodb("GetItem", {"Key": {}, "ConsistentRead": False})
    # THEN it bills half a unit per 4 KB, and half a unit when there is no item
    assert call_units(found) == Units(read_units=1.0)
    assert call_units(missing) == Units(read_units=0.5)


def test_a_batch_get_bills_each_key_apart_the_missing_at_the_least_the_unprocessed_not_at_all() -> None:
    # GIVEN three strongly consistent keys: one item of 5 KB found, one missing, one left unprocessed
    keys = [{"id": {"S": key}} for key in "abc"]
    params = {"RequestItems": {"dedup": {"Keys": keys, "ConsistentRead": True}}}
    answer = {"Responses": {"dedup": [_padded(5 * 1024)]}, "UnprocessedKeys": {"dedup": {"Keys": keys[2:]}}}
    # THEN the found item bills 2 units, the missing key 1, the unprocessed one nothing
    assert call_units(_dynamodb("BatchGetItem", params, answer)) == Units(read_units=3.0)


def test_a_failed_conditional_write_still_bills_the_larger_item() -> None:
    # GIVEN a claim refused because another record is there, which DynamoDB sends back (2 KB)
    claim = _dynamodb("PutItem", {"Item": RECORD}, {"Item": _padded(2048)}, error="ConditionalCheckFailedException")
    refused = _dynamodb("PutItem", {"Item": RECORD}, error="ProvisionedThroughputExceededException")
    transaction = {"TransactItems": [{"Put": {"Item": RECORD}}, {"Put": {"Item": RECORD}}]}
    # THEN it bills like a write of the larger item; a throttled one bills nothing; a cancelled transaction bills
    assert call_units(claim) == Units(write_units=2)
    assert call_units(refused) == Units()
    assert call_units(_dynamodb("TransactWriteItems", transaction, error="TransactionCanceledException")) == Units(
        write_units=4
    )


def test_a_batch_write_bills_each_put_by_size_each_delete_at_least_one_and_the_unprocessed_not_at_all() -> None:
    small = {"PutRequest": {"Item": RECORD}}
    requests = [{"PutRequest": {"Item": _padded(1025)}}, small, {"DeleteRequest": {"Key": {"id": {"S": "a"}}}}]
    answer = {"UnprocessedItems": {"dedup": [small]}}
    assert call_units(_dynamodb("BatchWriteItem", {"RequestItems": {"dedup": requests}}, answer)) == Units(
        write_units=2 + 1
    )


def test_sns_bills_each_call_by_the_64_kb_chunks_of_all_its_messages() -> None:
    def message(size: int) -> dict[str, Any]:
        # 4 + 6 + 5 bytes of attribute: "type", "String", "track"
        return {
            "Message": "x" * (size - 15),
            "MessageAttributes": {"type": {"DataType": "String", "StringValue": "track"}},
        }

    # Ten small messages in one PublishBatch: one request, as batching promises
    assert publish_requests([message(500)] * 10) == 1
    # Three messages of 30,000 bytes: 90,000 bytes together, two chunks (each alone would be one)
    assert publish_requests([message(30_000)] * 3) == 2
    batch = {"TopicArn": TOPIC, "PublishBatchRequestEntries": [message(30_000)] * 3}
    assert call_units(Call("sns", "PublishBatch", batch, {})) == Units(sns_requests=2)
    # One Publish of exactly 64 KB is one request; a byte more is two
    assert publish_requests([message(65_536)]) == 1
    assert call_units(Call("sns", "Publish", {"TopicArn": TOPIC, **message(65_537)}, {})) == Units(sns_requests=2)


def test_an_operation_the_bill_cannot_price_stops_it() -> None:
    with pytest.raises(ValueError, match="Query"):
        call_units(_dynamodb("Query", {"TableName": "dedup"}))


def test_dollars_per_million_events_from_the_units_a_path_used() -> None:
    # GIVEN 100 single events: 100 requests of 3 billed ms at 512 MB, 2 write units, 1 publish, 1,000 log bytes each
    usage = Usage(
        events=100,
        requests=100,
        billed_ms=300,
        memory_mb=512,
        write_units=200,
        read_units=50,
        sns_requests=100,
        log_bytes=100_000,
    )
    # WHEN they are priced per million events
    on_demand = usd_per_million(usage)
    provisioned = usd_per_million(usage, provisioned=True)
    # THEN each line is its units times its list price, times 10,000 (a million events / 100)
    assert on_demand == pytest.approx(
        {
            "api_gateway": 3.50,
            "lambda_requests": 0.20,
            "lambda_duration": 3 / 1000 * 0.5 * 0.0000166667 * 1e6,  # $0.025
            "dynamodb_writes": 2 * 0.625,
            "dynamodb_reads": 0.5 * 0.125,
            "sns": 0.50,
            "cloudwatch_logs": 1000 / 2**30 * 0.50 * 1e6,  # $0.466
        }
    )
    # AND provisioned, a write unit is a WCU-hour's 3,600 writes at 70% utilization
    assert provisioned["dynamodb_writes"] == pytest.approx(2 * 0.00065 / 3600 / 0.7 * 1e6)  # $0.516
    assert provisioned["dynamodb_reads"] == pytest.approx(0.5 * 0.00013 / 3600 / 0.7 * 1e6)
    assert provisioned["api_gateway"] == on_demand["api_gateway"]
    # AND each ms of waiting on AWS adds half a GB-millisecond per request
    assert usd_per_round_trip_ms(usage) == pytest.approx(0.5 / 1000 * 0.0000166667 * 1e6)  # $0.0083


def test_lambda_bills_the_cpu_time_scaled_to_its_cpu_share_rounded_up_to_the_millisecond() -> None:
    # 512 MB buys 512/1,769 of a vCPU: 0.868 ms of CPU take 2.999 ms there, 1 ms takes 3.455
    assert billed_ms(0.000868, 512) == 3
    assert billed_ms(0.001, 512) == 4
    assert billed_ms(0.001, 1769) == 1
    assert billed_ms(0.0, 512) == 1


def test_lambdas_own_lines_are_about_a_quarter_kilobyte_per_request() -> None:
    assert LAMBDA_PLATFORM_LOG_BYTES == 71 + 52 + 141


def test_the_counter_sees_each_call_its_parameters_and_its_error() -> None:
    # GIVEN an SNS client whose answers are stubbed: one publish taken, one refused
    client = boto3.client("sns", region_name="us-east-1")
    counter = CallCounter(client)
    params: dict[str, Any] = {"TopicArn": TOPIC, "Message": "{}"}
    with Stubber(client) as stubber:
        stubber.add_response("publish", {"MessageId": "m-1"}, params)
        stubber.add_client_error("publish", service_error_code="Throttled", expected_params=params)
        # WHEN one call is made outside counting, and one while counting
        client.publish(**params)
        with counter.counting() as calls, pytest.raises(client.exceptions.ClientError):
            client.publish(**params)
    # THEN only the counted one is there, with what it sent and how it failed
    assert calls == [Call("sns", "Publish", params, calls[0].answer, "Throttled")]
    assert call_units(calls[0]) == Units()
