"""Which AWS quota a traffic profile meets first, at what rate, and what the month costs.

    python -m tools.capacity --events-per-second 10000 [--batch-share 0.9] [--batch-size 100]
        [--burst 3] [--retry-share 0.02] [--account-share 1] [--stage prod] [--bench FILE]

API Gateway, Lambda, DynamoDB and SNS each have quotas, and traffic reaches
one of them before any other. Every figure per event comes from the bill that
`make bench` measures (`--bench`: its JSON; by default the snapshot
docs/capacity-figures.json): write and read units, SNS calls, Lambda's billed
CPU milliseconds and dollars per million events. So the model follows the
code. What the bill cannot see is how long AWS takes to answer: each request
waits on its AWS calls in turn (a wave of claims, then of publishes, then
one receipt per round), and each wave is taken to last `--dynamodb-ms` or
`--sns-ms`. Demand grows in proportion to events per second, so a quota
binds at (events per second) * limit / demand. See docs/capacity.md.
"""

import argparse
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.pricing import LINE_ITEMS, MILLION
from chalicelib.dedup import FIRST_ROUND_SIZE, ROUND_SIZE
from chalicelib.dynamodb import CONCURRENT_CALLS as DYNAMODB_CONCURRENT_CALLS
from chalicelib.publisher import CONCURRENT_CALLS as SNS_CONCURRENT_CALLS
from tools import gateway_limits
from tools.deploy import load_config, stage_settings

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "capacity-figures.json"
SECONDS_PER_MONTH = 730 * 3600
_DYNAMODB_WRITES = ("BatchExecuteStatement", "ExecuteStatement", "PutItem", "UpdateItem", "DeleteItem")
_DYNAMODB_READS = ("BatchGetItem", "GetItem")
_SNS_CALLS = ("Publish", "PublishBatch")
# A redelivery reads what it found in two steps at most: the records, then their rounds' receipts.
_READ_STEPS = 2

# AWS's defaults (docs/capacity.md gives each one's source).
API_GATEWAY_ACCOUNT_RPS = 10_000
API_GATEWAY_ACCOUNT_BURST = 5_000
LAMBDA_ACCOUNT_CONCURRENCY = 1_000
DYNAMODB_NEW_TABLE_WRU = 4_000
DYNAMODB_NEW_TABLE_RRU = 12_000
DYNAMODB_TABLE_MAX_UNITS = 40_000
# Publish calls per second in us-east-1, from a third-party page only: no AWS page was found that says it.
SNS_PUBLISH_TPS = 30_000
# A stage that reserves no concurrency for its view shares the AWS account's.
UNRESERVED_CONCURRENCY = LAMBDA_ACCOUNT_CONCURRENCY


@dataclass(frozen=True)
class PathFigures:
    """One way events arrive, per event, as the bench measured it at one batch size."""

    name: str
    events_per_request: int
    write_units: float
    read_units: float
    sns_calls: float
    sns_messages: float
    billed_ms: float  # Lambda's CPU-derived duration
    round_trips: int  # AWS calls waited for in turn, per request
    dynamodb_round_trips: int
    usd_per_million: Mapping[str, float]
    usd_per_round_trip_ms: float  # per million events, for each ms a request waits on AWS


@dataclass(frozen=True)
class Profile:
    """The traffic: events delivered per second (redeliveries included), and how they come."""

    events_per_second: float
    batch_share: float = 0.0
    batch_size: int = 100
    burst: float = 1.0  # the peak over the average
    retry_share: float = 0.0  # of events, second deliveries of an event already answered 200
    account_share: float = 1.0  # of events, from the busiest Emma account


@dataclass(frozen=True)
class Latency:
    """How long one wave of calls waits on AWS: an assumption, not a measure."""

    dynamodb_ms: float = 10.0
    sns_ms: float = 20.0


@dataclass(frozen=True)
class Limits:
    """Each quota and stage setting a profile is held against."""

    api_rps: float  # the account's and the stage's lower rate
    api_burst: float
    account_rps: float
    account_burst: float
    account_batch_rps: float
    account_batch_burst: float
    view_concurrency: int
    warm_write_units: float
    warm_read_units: float
    table_max_units: float = DYNAMODB_TABLE_MAX_UNITS
    sns_tps: float = SNS_PUBLISH_TPS


@dataclass(frozen=True)
class Demand:
    """What a profile asks of AWS per second, at its average rate."""

    requests: float
    account_requests: float
    account_batch_requests: float
    concurrency: float
    write_units: float
    read_units: float
    sns_calls: float
    sns_messages: float

    def times(self, factor: float) -> "Demand":
        return Demand(**{name: value * factor for name, value in vars(self).items()})


@dataclass(frozen=True)
class Check:
    """One quota against the demand on it: the events per second at which it binds."""

    quota: str
    demand: float
    limit: float
    binds_at: float  # events per second, average


def paths(figures: Mapping[str, Any], dedup: bool, batch_size: int) -> dict[str, PathFigures]:
    """The four ways events arrive, at `batch_size`: single, batch, and each sent again.

    A batch size measured without its own redelivery is sent again as the
    bench's batch of 100 sent again is, per event.
    """
    measured = figures["bill"]["paths"]
    mode = "dedup" if dedup else "no_dedup"
    batch_again = f"batch{batch_size}_again"
    return {
        "single": _path("single", measured["single"][mode], 1, dedup),
        "single_again": _path("single_again", measured["single_again"][mode], 1, dedup),
        "batch": _path("batch", measured[f"batch{batch_size}"][mode], batch_size, dedup),
        "batch_again": _path(
            "batch_again", measured.get(batch_again, measured["batch100_again"])[mode], batch_size, dedup
        ),
    }


def _path(name: str, measured: Mapping[str, Any], events: int, dedup: bool) -> PathFigures:
    """A measured path's figures per event, its requests `events` events each."""
    measured_events = measured["events"] / measured["requests"]
    calls = {operation: count["calls"] / measured_events for operation, count in measured["calls_per_request"].items()}
    units = measured["units_per_event"]
    dynamodb_trips = dynamodb_round_trips(calls, events, dedup)
    return PathFigures(
        name=name,
        events_per_request=events,
        write_units=units["write_units"],
        read_units=units["read_units"],
        sns_calls=sum(calls.get(operation, 0.0) for operation in _SNS_CALLS),
        sns_messages=sum(measured["calls_per_request"].get(operation, {}).get("items", 0.0) for operation in _SNS_CALLS)
        / measured_events,
        billed_ms=measured["lambda_billed_ms_per_request"] / measured_events,
        round_trips=dynamodb_trips + sns_round_trips(calls, events, dedup),
        dynamodb_round_trips=dynamodb_trips,
        usd_per_million=measured["usd_per_million"],
        usd_per_round_trip_ms=measured["usd_per_round_trip_ms"] * measured_events / events,
    )


def rounds(events: int, dedup: bool) -> list[int]:
    """The events of each round a request goes in (`chalicelib.outcomes`): one round without a dedup table."""
    if not dedup or events <= FIRST_ROUND_SIZE:
        return [events]
    rest = events - FIRST_ROUND_SIZE
    return [FIRST_ROUND_SIZE] + [min(ROUND_SIZE, rest - start) for start in range(0, rest, ROUND_SIZE)]


def dynamodb_round_trips(calls_per_event: Mapping[str, float], events: int, dedup: bool) -> int:
    """The DynamoDB waves a request waits for in turn: each round's claims, reads back, the last receipt.

    A round that publishes writes one receipt (a `PutItem`); all but the last
    are written while the next round goes, so one is waited for.
    """
    sizes = rounds(events, dedup)
    sns = sum(calls_per_event.get(operation, 0.0) for operation in _SNS_CALLS)
    receipts = len(sizes) if dedup and sns else 0
    writes = sum(calls_per_event.get(operation, 0.0) for operation in _DYNAMODB_WRITES) * events
    claims_per_event = max(writes - receipts, 0.0) / events
    claim_waves = sum(_waves(claims_per_event * size, DYNAMODB_CONCURRENT_CALLS) for size in sizes)
    reads = sum(calls_per_event.get(operation, 0.0) for operation in _DYNAMODB_READS) * events
    return claim_waves + min(math.ceil(round(reads, 6)), _READ_STEPS) + min(receipts, 1)


def sns_round_trips(calls_per_event: Mapping[str, float], events: int, dedup: bool) -> int:
    """The SNS waves a request waits for in turn, its rounds' publishes one after the other."""
    per_event = sum(calls_per_event.get(operation, 0.0) for operation in _SNS_CALLS)
    return sum(_waves(per_event * size, SNS_CONCURRENT_CALLS) for size in rounds(events, dedup))


def _waves(calls: float, concurrent: int) -> int:
    """Waves of at most `concurrent` calls; a share of a call (a rounding of per-event figures) counts whole."""
    return math.ceil(round(calls, 6) / concurrent)


def weights(profile: Profile) -> dict[str, float]:
    """Each path's share of the events."""
    batch, retry = profile.batch_share, profile.retry_share
    return {
        "single": (1 - batch) * (1 - retry),
        "single_again": (1 - batch) * retry,
        "batch": batch * (1 - retry),
        "batch_again": batch * retry,
    }


def duration_ms(path: PathFigures, latency: Latency) -> float:
    """A request's time in Lambda: its CPU, then its waves of AWS calls."""
    dynamodb_ms = path.dynamodb_round_trips * latency.dynamodb_ms
    sns_ms = (path.round_trips - path.dynamodb_round_trips) * latency.sns_ms
    return path.billed_ms * path.events_per_request + dynamodb_ms + sns_ms


def demand(profile: Profile, ways: Mapping[str, PathFigures], latency: Latency) -> Demand:
    """What the profile asks of each service per second, at its average rate (Little's law for concurrency)."""
    per_second = {name: profile.events_per_second * share for name, share in weights(profile).items()}
    requests = {name: events / ways[name].events_per_request for name, events in per_second.items()}
    total_requests = sum(requests.values())
    # A usage plan's limit for /v1/batch replaces its own for that route: each counts its requests only.
    batches = [name for name in requests if ways[name].events_per_request > 1]
    return Demand(
        requests=total_requests,
        account_requests=profile.account_share * sum(requests[name] for name in requests if name not in batches),
        account_batch_requests=profile.account_share * sum(requests[name] for name in batches),
        concurrency=sum(requests[name] * duration_ms(ways[name], latency) / 1000 for name in requests),
        write_units=sum(events * ways[name].write_units for name, events in per_second.items()),
        read_units=sum(events * ways[name].read_units for name, events in per_second.items()),
        sns_calls=sum(events * ways[name].sns_calls for name, events in per_second.items()),
        sns_messages=sum(events * ways[name].sns_messages for name, events in per_second.items()),
    )


def checks(events_per_second: float, need: Demand, limits: Limits, *, peak: bool) -> list[Check]:
    """Each quota against `need`, the demand at `events_per_second`, least room first.

    At the peak a DynamoDB table has only its warm throughput: on demand, it
    doubles its previous peak within 30 minutes, up to the table's quota.
    """
    tables = (limits.warm_write_units, limits.warm_read_units) if peak else (limits.table_max_units,) * 2
    pairs = [
        ("API Gateway requests/s (account, stage)", need.requests, limits.api_rps),
        ("API Gateway requests/s (busiest Emma account)", need.account_requests, limits.account_rps),
        ("API Gateway batches/s (busiest Emma account)", need.account_batch_requests, limits.account_batch_rps),
        ("Lambda concurrency (view)", need.concurrency, limits.view_concurrency),
        ("DynamoDB write units/s (dedup table)", need.write_units, tables[0]),
        ("DynamoDB read units/s (dedup table)", need.read_units, tables[1]),
        ("SNS publish calls/s (account)", need.sns_calls, limits.sns_tps),
    ]
    found = [
        Check(quota, demand_, limit, events_per_second * limit / demand_ if demand_ else math.inf)
        for quota, demand_, limit in pairs
    ]
    return sorted(found, key=lambda check: check.binds_at)


def monthly_usd(profile: Profile, ways: Mapping[str, PathFigures], latency: Latency) -> dict[str, float]:
    """A month (730 h) at the average rate, on demand: the bill's lines, and Lambda's wait on AWS apart."""
    events = profile.events_per_second * SECONDS_PER_MONTH
    lines = dict.fromkeys([*LINE_ITEMS, "lambda_waiting"], 0.0)
    for name, share in weights(profile).items():
        path = ways[name]
        for line, usd in path.usd_per_million.items():
            lines[line] += events * share * usd / MILLION
        waited_ms = duration_ms(path, latency) - path.billed_ms * path.events_per_request
        lines["lambda_waiting"] += events * share * path.usd_per_round_trip_ms * waited_ms / MILLION
    return lines


def limits(stage: Mapping[str, Any]) -> tuple[Limits, list[str]]:
    """The stage's limits from its .chalice/config.json settings, and which of them are defaults instead.

    The throttles' defaults are the ones `make deploy` applies (`tools.gateway_limits`).
    """
    defaulted = [name for name in gateway_limits.DEFAULTS if name not in stage]
    stage_limit, account, batch = (gateway_limits.throttle(dict(stage), name) for name in gateway_limits.DEFAULTS)
    reserved = stage.get("lambda_functions", {}).get("api_handler", {}).get("reserved_concurrency")
    if reserved is None:
        defaulted.append("lambda_functions.api_handler.reserved_concurrency")
    capacity = stage.get("dedup_table_capacity", {})
    found = Limits(
        api_rps=min(API_GATEWAY_ACCOUNT_RPS, stage_limit.rate_limit),
        api_burst=min(API_GATEWAY_ACCOUNT_BURST, stage_limit.burst_limit),
        account_rps=account.rate_limit,
        account_burst=account.burst_limit,
        account_batch_rps=batch.rate_limit,
        account_batch_burst=batch.burst_limit,
        view_concurrency=min(LAMBDA_ACCOUNT_CONCURRENCY, reserved or UNRESERVED_CONCURRENCY),
        warm_write_units=capacity.get("warm_write_units", DYNAMODB_NEW_TABLE_WRU),
        warm_read_units=capacity.get("warm_read_units", DYNAMODB_NEW_TABLE_RRU),
    )
    return found, defaulted


def report(
    profile: Profile, ways: Mapping[str, PathFigures], latency: Latency, limits_: Limits, dedup: bool
) -> Iterator[str]:
    """The demand, the quotas least room first, on average and at the peak, and the month's bill."""
    average = demand(profile, ways, latency)
    peak = average.times(profile.burst)
    yield f"Demand per second ({'dedup table' if dedup else 'no dedup table'}):"
    yield "| | average | peak |"
    yield "|---|--:|--:|"
    for label, name in (
        ("events", None),
        ("API Gateway requests", "requests"),
        ("other requests from the busiest account", "account_requests"),
        ("batches from the busiest account", "account_batch_requests"),
        ("Lambda concurrency (view)", "concurrency"),
        ("DynamoDB write units", "write_units"),
        ("DynamoDB read units", "read_units"),
        ("SNS publish calls", "sns_calls"),
        ("SNS messages", "sns_messages"),
    ):
        values = (
            (profile.events_per_second, profile.events_per_second * profile.burst)
            if name is None
            else (getattr(average, name), getattr(peak, name))
        )
        yield f"| {label} | {values[0]:,.1f} | {values[1]:,.1f} |"
    for title, need, at_peak in (("average", average, False), (f"peak (x{profile.burst:g})", peak, True)):
        found = checks(profile.events_per_second, need, limits_, peak=at_peak)
        yield ""
        yield f"Quotas at the {title}, least room first:"
        yield from _checks_table(found)
        yield _binding(found[0], profile, at_peak)
    yield from _bucket(peak, limits_)
    yield ""
    yield from _bill(monthly_usd(profile, ways, latency))


def _checks_table(found: Sequence[Check]) -> Iterator[str]:
    yield "| quota | demand | limit | used | binds at (average events/s) |"
    yield "|---|--:|--:|--:|--:|"
    for check in found:
        used = f"{check.demand / check.limit:.0%}" if check.limit else "n/a"
        yield f"| {check.quota} | {check.demand:,.1f} | {check.limit:,.0f} | {used} | {check.binds_at:,.0f} |"


def _binding(first: Check, profile: Profile, at_peak: bool) -> str:
    state = "binds now" if first.binds_at < profile.events_per_second else "binds first"
    rate = f"{first.binds_at:,.0f} events/s on average"
    if at_peak:
        rate += f" ({first.binds_at * profile.burst:,.0f} at the peak)"
    return f"{first.quota} {state}, at {rate}."


def _bucket(peak: Demand, limits_: Limits) -> Iterator[str]:
    """API Gateway's token buckets: a peak above a rate is carried for as long as its bucket lasts."""
    for label, need, rate, bucket in (
        ("stage", peak.requests, limits_.api_rps, limits_.api_burst),
        ("busiest account", peak.account_requests, limits_.account_rps, limits_.account_burst),
        (
            "busiest account's batches",
            peak.account_batch_requests,
            limits_.account_batch_rps,
            limits_.account_batch_burst,
        ),
    ):
        if need > rate:
            yield (
                f"API Gateway ({label}): a bucket of {bucket:,.0f} requests carries the peak's "
                f"{need - rate:,.0f} requests/s above the rate for {bucket / (need - rate):.1f} s; then 429."
            )


def _bill(lines: Mapping[str, float]) -> Iterator[str]:
    yield "Monthly cost, on demand (730 h at the average rate), us-east-1 list prices:"
    yield "| line | $ per month |"
    yield "|---|--:|"
    labels = {**LINE_ITEMS, "lambda_waiting": "Lambda waiting on AWS (the latency assumption)"}
    for line, usd in lines.items():
        yield f"| {labels[line]} | {usd:,.0f} |"
    yield f"| **total** | **{sum(lines.values()):,.0f}** |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-second", type=float, required=True, help="average, redeliveries included")
    parser.add_argument("--batch-share", type=_share, default=0.0, help="share of events sent in /v1/batch")
    parser.add_argument("--batch-size", type=int, default=100, help="events per batch, a size the bench measured")
    parser.add_argument("--burst", type=float, default=1.0, help="the peak rate over the average (default 1)")
    parser.add_argument("--retry-share", type=_share, default=0.0, help="share of events that are redeliveries")
    parser.add_argument(
        "--account-share", type=_share, default=1.0, help="share of events from the busiest account (default 1)"
    )
    parser.add_argument(
        "--stage", default="prod", choices=sorted(load_config()["stages"]), help="the .chalice/config.json stage"
    )
    parser.add_argument("--bench", type=Path, default=FIGURES, help="`make bench`'s JSON (default: the snapshot)")
    parser.add_argument("--dynamodb-ms", type=float, default=Latency.dynamodb_ms, help="one DynamoDB wave (10)")
    parser.add_argument("--sns-ms", type=float, default=Latency.sns_ms, help="one SNS wave (default 20)")
    parser.add_argument("--no-dedup", action="store_true", help="price the stage without its dedup table")
    args = parser.parse_args(argv)
    profile = Profile(
        args.events_per_second, args.batch_share, args.batch_size, args.burst, args.retry_share, args.account_share
    )
    stage = stage_settings(load_config(), args.stage)
    dedup = not args.no_dedup and "DEDUP_TABLE" in stage.get("environment_variables", {})
    ways = paths(json.loads(args.bench.read_text()), dedup, profile.batch_size)
    limits_, defaulted = limits(stage)
    latency = Latency(args.dynamodb_ms, args.sns_ms)
    if defaulted:
        print(f"Not in stage {args.stage}'s config, defaults used: {', '.join(defaulted)}")
    print(f"Figures: {args.bench}; each DynamoDB wave {latency.dynamodb_ms:g} ms, SNS wave {latency.sns_ms:g} ms\n")
    print("\n".join(report(profile, ways, latency, limits_, dedup)))
    return 0


def _share(text: str) -> float:
    share = float(text)
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return share


if __name__ == "__main__":
    sys.exit(main())
