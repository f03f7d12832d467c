"""The capacity model's arithmetic against cases worked by hand: waves of calls, demand, the binding quota, cost."""

from typing import Any

import pytest

from tools.capacity import (
    FIGURES,
    Latency,
    Limits,
    Profile,
    checks,
    demand,
    dynamodb_round_trips,
    limits,
    main,
    monthly_usd,
    paths,
    rounds,
    sns_round_trips,
)

NO_LATENCY = Latency(dynamodb_ms=0, sns_ms=0)
LIMITS = Limits(
    api_rps=5000,
    api_burst=2500,
    account_rps=500,
    account_burst=1000,
    account_batch_rps=20,
    account_batch_burst=40,
    view_concurrency=800,
    warm_write_units=4000,
    warm_read_units=12000,
)


def _measured(events: int, calls: dict[str, float], *, write_units: float, ms: float, usd: float) -> dict[str, Any]:
    """One bill path as the bench writes it: one request of `events` events."""
    return {
        "events": events,
        "requests": 1,
        "units_per_event": {"write_units": write_units, "read_units": 0.0, "sns_requests": 0.0, "log_bytes": 0.0},
        "lambda_billed_ms_per_request": ms,
        "usd_per_million": {"api_gateway": usd},
        "usd_per_round_trip_ms": 0.01,
        "calls_per_request": {operation: {"calls": count, "items": count} for operation, count in calls.items()},
    }


def _figures() -> dict[str, Any]:
    """A bill in round numbers: a single event is 2 writes, 20 ms and $6; a batch event 1 write, 1 ms and $1."""
    single = _measured(1, {"PutItem": 2, "Publish": 1}, write_units=2, ms=20, usd=6)
    batch = _measured(100, {"BatchExecuteStatement": 4, "PutItem": 1, "PublishBatch": 10}, write_units=1, ms=100, usd=1)
    return {
        "bill": {
            "paths": {
                name: {"dedup": path, "no_dedup": path}
                for name, path in {
                    "single": single,
                    "single_again": single,
                    "batch100": batch,
                    "batch100_again": batch,
                }.items()
            }
        }
    }


def test_a_batch_goes_in_a_round_of_a_hundred_then_rounds_of_four_hundred_and_in_one_without_dedup() -> None:
    assert rounds(1, dedup=True) == [1]
    assert rounds(100, dedup=True) == [100]
    assert rounds(500, dedup=True) == [100, 400]
    assert rounds(1000, dedup=True) == [100, 400, 400, 100]
    assert rounds(500, dedup=False) == [500]


@pytest.mark.parametrize(
    ("calls_per_request", "events", "dedup", "waits"),
    [
        # a claim, a publish, a receipt
        ({"PutItem": 2, "Publish": 1}, 1, True, (2, 1)),
        # 4 claim calls in one wave of 16, 12 publishes in one wave of 32, a receipt
        ({"BatchExecuteStatement": 4, "PutItem": 1, "PublishBatch": 12}, 100, True, (2, 1)),
        # rounds of 100 and 400: 4 then 16 claim calls, a wave each; 11 then 44 publishes, 1 then 2 waves;
        # the first round's receipt is written while the second goes
        ({"BatchExecuteStatement": 20, "PutItem": 2, "PublishBatch": 55}, 500, True, (3, 3)),
        # 55 publishes in one round: 2 waves of 32
        ({"PublishBatch": 55}, 500, False, (0, 2)),
        # sent again: refused claims, the records read, their receipts read; nothing published, no receipt
        ({"BatchExecuteStatement": 4, "BatchGetItem": 2}, 100, True, (3, 0)),
        ({"PutItem": 1, "BatchGetItem": 1}, 1, True, (2, 0)),
    ],
)
def test_a_request_waits_for_each_wave_of_its_calls_in_turn(
    calls_per_request: dict[str, float], events: int, dedup: bool, waits: tuple[int, int]
) -> None:
    per_event = {operation: calls / events for operation, calls in calls_per_request.items()}
    assert (dynamodb_round_trips(per_event, events, dedup), sns_round_trips(per_event, events, dedup)) == waits


def test_demand_adds_each_ways_share_of_the_events() -> None:
    # GIVEN 1,000 events/s, half of them in batches of 100, a tenth of them redeliveries, a DynamoDB wave of 10 ms
    # and an SNS wave of 20 ms
    ways = paths(_figures(), dedup=True, batch_size=100)
    profile = Profile(1000, batch_share=0.5, batch_size=100, retry_share=0.1, account_share=0.2)
    # WHEN its demand is worked out
    need = demand(profile, ways, Latency(dynamodb_ms=10, sns_ms=20))
    # THEN 500 single events make 500 requests, 500 batched events 5
    assert need.requests == pytest.approx(505)
    assert need.account_requests == pytest.approx(100)
    assert need.account_batch_requests == pytest.approx(1)
    # 500 * 2 + 500 * 1 write units
    assert need.write_units == pytest.approx(1500)
    # 500 publishes, 500 / 100 * 10 publish batches
    assert need.sns_calls == pytest.approx(550)
    # each single request 20 ms + a claim, a publish and a receipt (40 ms); each batch 100 + 40 ms
    assert need.concurrency == pytest.approx(500 * 0.060 + 5 * 0.140)


def test_a_quota_binds_where_its_demand_reaches_its_limit_and_the_peak_meets_the_warm_table() -> None:
    # GIVEN 1,000 single events/s from many accounts: 2,000 write units, 1,000 requests per second
    ways = paths(_figures(), dedup=True, batch_size=100)
    profile = Profile(1000, account_share=0.01, burst=3)
    need = demand(profile, ways, NO_LATENCY)
    # WHEN the quotas are checked, on average and at the peak
    average = checks(1000, need, LIMITS, peak=False)
    peak = checks(1000, need.times(profile.burst), LIMITS, peak=True)
    # THEN on average the stage's 5,000 requests/s bind first, at 5,000 events/s
    assert (average[0].quota, average[0].binds_at) == ("API Gateway requests/s (account, stage)", 5000)
    # and at three times the average, a new table's 4,000 write units/s bind at 4,000 / 2 / 3 events/s
    assert peak[0].quota == "DynamoDB write units/s (dedup table)"
    assert peak[0].binds_at == pytest.approx(4000 / 2 / 3)


def test_a_month_is_730_hours_of_each_ways_dollars_per_million_events() -> None:
    # GIVEN 1 event/s, half of them single ($6 per million), half in batches ($1 per million), no wait on AWS
    ways = paths(_figures(), dedup=True, batch_size=100)
    bill = monthly_usd(Profile(1, batch_share=0.5), ways, NO_LATENCY)
    # THEN the month is 2,628,000 events at $3.50 per million
    assert bill["api_gateway"] == pytest.approx(2_628_000 * 3.5 / 1e6)
    assert bill["lambda_waiting"] == 0


def test_the_wait_on_aws_is_priced_per_ms_per_request() -> None:
    # GIVEN single events only, at $0.01 per million events per ms of wait, and 3 waves of 10 ms each
    ways = paths(_figures(), dedup=True, batch_size=100)
    bill = monthly_usd(Profile(1), ways, Latency(dynamodb_ms=10, sns_ms=10))
    # THEN a month of them waits 30 ms each
    assert bill["lambda_waiting"] == pytest.approx(2_628_000 * 0.01 * 30 / 1e6)


def test_the_stages_settings_set_the_limits_and_those_missing_are_named() -> None:
    # GIVEN a stage with its view's reserved concurrency and a warm table, but no throttling settings
    stage = {
        "lambda_functions": {"api_handler": {"reserved_concurrency": 600}},
        "dedup_table_capacity": {"mode": "on-demand", "warm_write_units": 20000},
    }
    # WHEN its limits are read
    found, defaulted = limits(stage)
    # THEN those it sets are its own, the others defaults, and said to be
    assert (found.view_concurrency, found.warm_write_units, found.warm_read_units) == (600, 20000, 12000)
    assert (found.api_rps, found.account_rps, found.account_batch_rps) == (5000, 500, 20)
    assert defaulted == ["api_gateway_throttling", "account_throttling", "account_batch_throttling"]


def test_one_accounts_replay_in_batches_binds_at_its_batch_limit_long_before_the_stage() -> None:
    # GIVEN one account replaying 20,000 events/s in batches of 100: 200 batches a second
    ways = paths(_figures(), dedup=True, batch_size=100)
    need = demand(Profile(20_000, batch_share=1, batch_size=100, account_share=1), ways, NO_LATENCY)
    # WHEN the quotas are checked
    found = checks(20_000, need, LIMITS, peak=False)
    # THEN its 20 batches a second bind first, at 2,000 events/s, far below the stage's 5,000 requests/s
    assert (found[0].quota, found[0].binds_at) == ("API Gateway batches/s (busiest Emma account)", 2_000)


def test_the_command_reads_the_committed_figures(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the committed snapshot of the bench's figures
    assert FIGURES.exists()
    # WHEN the model runs on batches of 500
    assert main(["--events-per-second", "10000", "--batch-share", "1", "--batch-size", "500"]) == 0
    # THEN it names the quota that binds first, and the month's total
    printed = capsys.readouterr().out
    assert "binds first, at" in printed
    assert "| **total** |" in printed
