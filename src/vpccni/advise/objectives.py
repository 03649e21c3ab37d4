"""What "better" and "acceptable" mean for a candidate, read from the simulator's own summary keys.

Objectives (minimised, mean over seeds): idle addresses held (`idle_ips_mean`), the 99th percentile of
the wait for an address (`ip_wait_seconds.p99`) and EC2 mutating calls (`ec2_mutating_calls`).
Constraints must hold on EVERY seed: a setting that exhausts the subnet on one seed in three is not one
to recommend. The worst seed is kept beside the means so the spread is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpccni.advise.record import EXHAUSTION_ERRORS

# Constraint names, in the order a binding one is reported when several bind equally.
EXHAUSTION = "exhaustion_errors"
THROTTLING = "throttled_calls"
NO_ADDRESS = "pods_never_got_ip"
WAIT = "ip_wait_seconds.p99"
CONSTRAINTS = (EXHAUSTION, NO_ADDRESS, THROTTLING, WAIT)


def idle(summary: dict[str, Any]) -> float:
    return float(summary["idle_ips_mean"])


def wait_p99(summary: dict[str, Any]) -> float:
    return float(summary["ip_wait_seconds"]["p99"])


def mutating(summary: dict[str, Any]) -> float:
    return float(summary["ec2_mutating_calls"])


def exhaustion_errors(summary: dict[str, Any]) -> int:
    return sum(int(summary["errors"].get(code, 0)) for code in EXHAUSTION_ERRORS)


def violations(summary: dict[str, Any], max_wait: float) -> list[str]:
    """The constraints one run breaks."""
    out = []
    if exhaustion_errors(summary):
        out.append(EXHAUSTION)
    if summary["pods_never_got_ip"]:
        out.append(NO_ADDRESS)
    if summary["throttled_calls"]:
        out.append(THROTTLING)
    if wait_p99(summary) > max_wait:
        out.append(WAIT)
    return out


@dataclass(frozen=True)
class Evaluation:
    """A candidate over all seeds."""

    objectives: tuple[float, float, float]  # idle, p99 wait, mutating calls: means over seeds
    violations: tuple[str, ...]  # constraints broken on at least one seed, in CONSTRAINTS order
    metrics: dict[str, Any]  # for JSON, under the simulator's key names

    @property
    def feasible(self) -> bool:
        return not self.violations


def evaluate(records: Sequence[dict[str, Any]], max_wait: float) -> Evaluation:
    summaries = [r["summary"] for r in records]
    seeds = [int(r["seed"]) for r in records]
    broken = {v for s in summaries for v in violations(s, max_wait)}
    means = (
        _mean(idle(s) for s in summaries),
        _mean(wait_p99(s) for s in summaries),
        _mean(mutating(s) for s in summaries),
    )
    codes = sorted({c for s in summaries for c in s["errors"]})
    subnets = sorted({n for s in summaries for n in s["subnet_used_max"]})

    def badness(i: int) -> tuple[int, float, float, float, int]:
        s = summaries[i]
        return (len(violations(s, max_wait)), wait_p99(s), idle(s), mutating(s), -seeds[i])

    worst = max(range(len(summaries)), key=badness)
    metrics = {
        "idle_ips_mean": means[0],
        "ip_wait_seconds": {"p99": means[1]},
        "ec2_mutating_calls": means[2],
        "throttled_calls": _mean(float(s["throttled_calls"]) for s in summaries),
        "pods_never_got_ip": _mean(float(s["pods_never_got_ip"]) for s in summaries),
        "errors": {c: _mean(float(s["errors"].get(c, 0)) for s in summaries) for c in codes},
        "subnet_used_max": {n: max(int(s["subnet_used_max"].get(n, 0)) for s in summaries) for n in subnets},
        "seeds": len(summaries),
        "worst_seed": {
            "seed": seeds[worst],
            "idle_ips_mean": round(idle(summaries[worst]), 3),
            "ip_wait_seconds": {"p99": round(wait_p99(summaries[worst]), 3)},
            "ec2_mutating_calls": mutating(summaries[worst]),
            "violations": violations(summaries[worst], max_wait),
        },
    }
    return Evaluation(means, tuple(c for c in CONSTRAINTS if c in broken), metrics)


def _mean(values: Any) -> float:
    listed = list(values)
    return round(sum(listed) / len(listed), 3) if listed else 0.0
