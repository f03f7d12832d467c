"""The bill as `make bench` prints it: dollars per million events per line, the units behind them, the calls."""

from typing import Any

from bench.pricing import LINE_ITEMS, MILLION, provisioned_read_unit_usd, provisioned_write_unit_usd

_MODES = {"dedup": "on", "no_dedup": "off"}
_SNS_OPERATIONS = ("Publish", "PublishBatch")


def tables(bill: dict[str, Any]) -> str:
    """The three tables and the notes that say how they were priced."""
    return "\n\n".join([cost_table(bill), units_table(bill), calls_table(bill), notes(bill)])


def cost_table(bill: dict[str, Any]) -> str:
    """$ per million events, each line of the bill, with the dedup table on demand and provisioned."""
    lines = list(LINE_ITEMS.values())
    head = [
        "| $ per million events | dedup | " + " | ".join(lines) + " | total "
        "| DynamoDB writes, provisioned | DynamoDB reads, provisioned | total, provisioned |",
        "|---|---|" + "--:|" * (len(lines) + 4),
    ]
    rows = []
    for path, mode, figures in _rows(bill):
        on_demand, provisioned = figures["usd_per_million"], figures["usd_per_million_provisioned"]
        cells = [
            *(_usd(on_demand[line]) for line in LINE_ITEMS),
            f"**{_usd(figures['total'])}**",
            _usd(provisioned["dynamodb_writes"]),
            _usd(provisioned["dynamodb_reads"]),
            f"**{_usd(figures['total_provisioned'])}**",
        ]
        rows.append(f"| {path['label']} | {_MODES[mode]} | " + " | ".join(cells) + " |")
    return "\n".join(head + rows)


def units_table(bill: dict[str, Any]) -> str:
    """The billed units per event behind the dollars, and what each ms of waiting on AWS would add."""
    memory_mb = bill["memory_mb"]
    head = [
        "| path | dedup | requests measured | write units per event | read units per event "
        "| SNS requests per event | log bytes per event | CPU ms per request (here) "
        f"| billed ms per request at {memory_mb} MB | $ per million events per ms of AWS round trip |",
        "|---|---|" + "--:|" * 8,
    ]
    rows = []
    for path, mode, figures in _rows(bill):
        units = figures["units_per_event"]
        cells = [
            str(figures["requests"]),
            f"{units['write_units']:.2f}",
            f"{units['read_units']:.2f}",
            f"{units['sns_requests']:.3f}",
            f"{units['log_bytes']:,.0f}",
            f"{figures['lambda_cpu_ms_per_request']:.2f}",
            f"{figures['lambda_billed_ms_per_request']:.1f}",
            f"{figures['usd_per_round_trip_ms']:.5f}",
        ]
        rows.append(f"| {path['label']} | {_MODES[mode]} | " + " | ".join(cells) + " |")
    return "\n".join(head + rows)


def calls_table(bill: dict[str, Any]) -> str:
    """The AWS calls each request made, counted at the service's own clients, with what they carried and billed."""
    rows = [
        f"| {path['label']} | {_MODES[mode]} | {calls_said(figures['calls_per_request'])} |"
        for path, mode, figures in _rows(bill)
    ]
    return "\n".join(["| path | dedup | AWS calls per request |", "|---|---|---|", *rows])


def calls_said(operations: dict[str, dict[str, float]]) -> str:
    """Each operation, the times it was called per request, and what those calls carried and billed."""
    said = []
    for operation, counts in operations.items():
        carried = "messages" if operation in _SNS_OPERATIONS else "items"
        details = [
            f"{_count(counts['items'])} {carried}" if counts["items"] != counts["calls"] else "",
            f"{_count(counts['write_units'])} WRU" if counts["write_units"] else "",
            f"{_count(counts['read_units'])} RRU" if counts["read_units"] else "",
            _plural(counts["sns_requests"], "request") if counts["sns_requests"] else "",
            f"{_count(counts['failed_conditions'])} failed conditions" if counts["failed_conditions"] else "",
            f"{_count(counts['failed'])} failed, not billed" if counts["failed"] else "",
        ]
        shown = ", ".join(detail for detail in details if detail)
        called = f"{operation} ×{_count(counts['calls'])}"  # noqa: RUF001 (a multiplication sign: called so many times)
        said.append(called + (f" ({shown})" if shown else ""))
    return ", ".join(said) or "none"


def notes(bill: dict[str, Any]) -> str:
    """How the tables were priced, and every price with where it was read."""
    memory_mb, one_vcpu_mb = bill["memory_mb"], bill["one_vcpu_mb"]
    target = bill["auto_scaling_target_utilization"]
    lines = [
        f"Lambda duration: the handler's CPU time here times {one_vcpu_mb:,}/{memory_mb} (Lambda's CPU share at "
        f"{memory_mb} MB), rounded up to 1 ms per request. The AWS round trips add wall time that CPU time does "
        "not see: each ms of it adds the last column of the units table.",
        f"Provisioned dedup table with auto scaling at {target:.0%} target utilization: "
        f"${provisioned_write_unit_usd() * MILLION:.3f} per million write units (WCU-hour / 3,600 / {target}), "
        f"${provisioned_read_unit_usd() * MILLION:.3f} per million read units.",
        f"CloudWatch Logs: the lines the app prints, plus Lambda's START, END and REPORT lines, "
        f"{bill['lambda_platform_log_bytes']} bytes per request (a warm invocation as Lambda's Python logging "
        "page shows it). The authorizer runs only when API Gateway's 300 s cache of a key's decision misses: "
        "left out.",
        "Prices, us-east-1, without free tiers:",
        *(
            f"- {price['per']}: ${price['usd']:.10f}".rstrip("0") + f" ({price['source']}, read {price['read_on']})"
            for price in bill["prices"]
        ),
    ]
    return "\n".join(lines)


def _rows(bill: dict[str, Any]) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    return [(path, mode, path[mode]) for path in bill["paths"].values() for mode in _MODES]


def _usd(amount: float) -> str:
    return f"{amount:.4f}"


def _count(amount: float) -> str:
    return f"{amount:.1f}".removesuffix(".0")


def _plural(amount: float, noun: str) -> str:
    return f"{_count(amount)} {noun}" + ("" if amount == 1 else "s")
