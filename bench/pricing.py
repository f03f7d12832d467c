"""Dollars per million events, per line of the bill, from the billed units a path's requests used.

Lambda duration comes from CPU time: at a memory size below 1,769 MB Lambda
gives a function that share of one vCPU, so a millisecond of this machine's
CPU takes 1,769/memory ms there, billed per 1 ms. The AWS calls' round trips
add wall time on top, which CPU time cannot see: `usd_per_round_trip_ms`
prices each millisecond of it.

A provisioned dedup table with auto scaling is priced by the capacity its use
keeps provisioned: a WCU-hour serves 3,600 writes of 1 KB, at the target
utilization, so a write unit costs the WCU-hour price / 3,600 / that target;
the same for reads.
"""

import math
from dataclasses import dataclass

from bench.prices import (
    API_GATEWAY_REQUEST,
    AUTO_SCALING_TARGET_UTILIZATION,
    CLOUDWATCH_LOGS_GB,
    DYNAMODB_RCU_HOUR,
    DYNAMODB_READ_REQUEST_UNIT,
    DYNAMODB_WCU_HOUR,
    DYNAMODB_WRITE_REQUEST_UNIT,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    SNS_REQUEST,
)

# Lambda gives a function one vCPU at this memory size, and CPU in proportion below it.
ONE_VCPU_MB = 1769
GB_BYTES = 2**30
SECONDS_PER_HOUR = 3600
MILLION = 1_000_000
# The bill's lines, in the order it prints them.
LINE_ITEMS = {
    "api_gateway": "API Gateway",
    "lambda_requests": "Lambda requests",
    "lambda_duration": "Lambda duration",
    "dynamodb_writes": "DynamoDB writes",
    "dynamodb_reads": "DynamoDB reads",
    "sns": "SNS",
    "cloudwatch_logs": "CloudWatch Logs",
}


@dataclass(frozen=True)
class Usage:
    """What a path's measured requests used, in the units AWS bills."""

    events: int
    requests: int
    billed_ms: int  # Lambda duration, each request's rounded up to the millisecond
    memory_mb: int
    write_units: float
    read_units: float
    sns_requests: int
    log_bytes: int

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


def billed_ms(cpu_seconds: float, memory_mb: int) -> int:
    """The milliseconds Lambda bills for `cpu_seconds` of this machine's CPU at `memory_mb`, at least one."""
    return max(1, math.ceil(cpu_seconds * 1000 * ONE_VCPU_MB / memory_mb))


def provisioned_write_unit_usd(target_utilization: float = AUTO_SCALING_TARGET_UTILIZATION) -> float:
    """A write unit's share of provisioned write capacity kept at `target_utilization`."""
    return DYNAMODB_WCU_HOUR.usd / SECONDS_PER_HOUR / target_utilization


def provisioned_read_unit_usd(target_utilization: float = AUTO_SCALING_TARGET_UTILIZATION) -> float:
    """A read unit's share of provisioned read capacity kept at `target_utilization`."""
    return DYNAMODB_RCU_HOUR.usd / SECONDS_PER_HOUR / target_utilization


def usd_per_million(usage: Usage, provisioned: bool = False) -> dict[str, float]:
    """Each line of the bill per million events; `provisioned`: the dedup table in provisioned mode."""
    write_unit = provisioned_write_unit_usd() if provisioned else DYNAMODB_WRITE_REQUEST_UNIT.usd
    read_unit = provisioned_read_unit_usd() if provisioned else DYNAMODB_READ_REQUEST_UNIT.usd
    lines = {
        "api_gateway": usage.requests * API_GATEWAY_REQUEST.usd,
        "lambda_requests": usage.requests * LAMBDA_REQUEST.usd,
        "lambda_duration": usage.gb_seconds * LAMBDA_GB_SECOND.usd,
        "dynamodb_writes": usage.write_units * write_unit,
        "dynamodb_reads": usage.read_units * read_unit,
        "sns": usage.sns_requests * SNS_REQUEST.usd,
        "cloudwatch_logs": usage.log_bytes / GB_BYTES * CLOUDWATCH_LOGS_GB.usd,
    }
    return {line: usd * MILLION / usage.events for line, usd in lines.items()}


def usd_per_round_trip_ms(usage: Usage) -> float:
    """What each millisecond of a request's wall time spent waiting on AWS adds per million events."""
    gb_seconds = usage.requests * usage.memory_mb / 1024 / 1000
    return gb_seconds * LAMBDA_GB_SECOND.usd * MILLION / usage.events
