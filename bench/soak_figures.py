"""What a soak found: answer times as the events stored grow, retries, losses, copies and memory."""

import math
from collections import Counter
from dataclasses import dataclass

from bench.soak_traffic import Answer

# The last part of a run may answer no slower than this many times the first (p50).
MAX_SLOWDOWN = 1.5


@dataclass(frozen=True)
class Memory:
    """Resident memory of `make run`'s runner (moto's server is in it) and of its `chalice local`, in MiB."""

    runner_mib: float
    runner_peak_mib: float
    service_mib: float


@dataclass(frozen=True)
class SoakResult:
    events: int
    seconds: float
    concurrency: int
    answers: list[Answer]
    sent: list[str]
    arrived: Counter[str]
    refused: Counter[int]
    given_up: int
    reasons: Counter[str]
    perhaps_published: int
    memory_at_start: Memory
    memory_at_end: Memory

    @property
    def lost(self) -> int:
        """Events sent that never arrived at a tail queue."""
        return sum(1 for message_id in self.sent if message_id not in self.arrived)

    @property
    def copies(self) -> int:
        """Arrivals beyond each event's first."""
        return sum(count - 1 for count in self.arrived.values())

    @property
    def unexpected(self) -> int:
        """Messages that arrived for no event sent."""
        return len(self.arrived.keys() - set(self.sent))

    def parts(self, count: int) -> list[list[Answer]]:
        """The answers in `count` parts of the run, by how many events were stored when each request was sent."""
        parts: list[list[Answer]] = [[] for _ in range(count)]
        for answer in self.answers:
            parts[min(count - 1, answer.stored * count // self.events)].append(answer)
        return parts

    def slowdown(self, parts: int = 10) -> float:
        """The last part's median answer time over the first part's."""
        first, *_, last = self.parts(parts)
        return percentile(last, 0.5) / percentile(first, 0.5)

    def holds(self, parts: int = 10) -> bool:
        """Every event published once, and the last answers no slower than MAX_SLOWDOWN times the first."""
        return not (self.lost or self.copies or self.unexpected) and self.slowdown(parts) <= MAX_SLOWDOWN


def percentile(answers: list[Answer], fraction: float) -> float:
    """The nearest-rank percentile of the answers' times, in seconds; NaN for none."""
    times = sorted(answer.seconds for answer in answers)
    return times[max(0, math.ceil(fraction * len(times)) - 1)] if times else math.nan


def report(result: SoakResult) -> str:
    """The soak's figures, as `make soak` prints them."""
    statuses = Counter(answer.status for answer in result.answers)
    by_sender = Counter(answer.sender for answer in result.answers)
    retries = Counter(answer.sender.split("/")[0] for answer in result.answers if answer.retry)
    lines = [
        f"{result.events:,} events in {result.seconds:.0f} s: {result.events / result.seconds:,.0f} events/s "
        f"({result.concurrency} deliveries at a time)",
        "requests: " + ", ".join(f"{count:,} {sender}" for sender, count in sorted(by_sender.items())),
        "answers: " + ", ".join(f"{count:,} x {status or 'no answer'}" for status, count in sorted(statuses.items())),
        f"retries: {sum(retries.values()):,} (Actions destination {retries['actions']:,}, "
        f"library {retries['library']:,}); 503s: {statuses[503]:,}; 429s: {statuses[429]:,}",
        *(f"  {count:,} x {reason}" for reason, count in result.reasons.most_common()),
        "",
        "answer time (s) by tenth of the run, by events stored when the request was sent:",
        f"  {'tenth':>5}  {'events stored':>17}  {'requests':>8}  {'p50':>5}  {'p99':>5}  {'max':>5}",
    ]
    for number, part in enumerate(result.parts(10), 1):
        low, high = (number - 1) * result.events // 10, number * result.events // 10
        figures = "  ".join(f"{percentile(part, fraction):5.2f}" for fraction in (0.5, 0.99, 1.0)) if part else ""
        lines.append(f"  {number:>5}  {low:>8,}-{high:<8,}  {len(part):>8}  {figures}")
    first, *_, last = result.parts(10)
    lines += [
        f"first tenth vs last: p50 {percentile(first, 0.5):.2f} -> {percentile(last, 0.5):.2f} s "
        f"(x{result.slowdown():.2f}, at most x{MAX_SLOWDOWN}), "
        f"p99 {percentile(first, 0.99):.2f} -> {percentile(last, 0.99):.2f} s",
        "",
        f"published: {len(result.arrived):,} of {len(result.sent):,} events; lost {result.lost:,}; "
        f"copies {result.copies:,} (answers said {result.perhaps_published:,} were perhaps published); "
        f"unexpected {result.unexpected:,}; refused {sum(result.refused.values()):,}; "
        f"given up {result.given_up:,}",
        f"memory (RSS): runner with moto {result.memory_at_start.runner_mib:.0f} -> "
        f"{result.memory_at_end.runner_mib:.0f} MiB (peak {result.memory_at_end.runner_peak_mib:.0f}); "
        f"chalice local {result.memory_at_start.service_mib:.0f} -> {result.memory_at_end.service_mib:.0f} MiB",
        "holds" if result.holds() else "DOES NOT HOLD",
    ]
    return "\n".join(lines)
