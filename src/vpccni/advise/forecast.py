"""Subnet forecast: how full each subnet gets, and at what multiple of today's pods it runs dry.

"Runs dry" means a run shows an exhaustion error (InsufficientFreeAddressesInSubnet or
InsufficientCidrBlocks) attributed to that subnet on at least one seed. The multiple is found by
simulating the scenario with every workload's pods scaled: a coarse ladder in two steps (up to 2×, then
up to 8×), then two rounds that split the bracket in four — a fixed number of points per round, so the
runs of a round go to the workers together and the answer does not depend on how many workers there are.
The upper rungs are skipped once pods no longer fit on the node groups (at their max size, more pods
only wait unscheduled and take no address) — they are also the slowest runs by far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vpccni.advise.variants import Document, scaled

LADDER = ((1.25, 1.5, 2.0), (3.0, 5.0, 8.0))
COARSE = tuple(f for rung in LADDER for f in rung)
REFINE_ROUNDS = 2
SPLITS = 4
AWS_SMALLEST_SUBNET = 28  # /28: 16 addresses, 11 usable
RESERVED = 5  # AWS keeps the first four and the last address of every subnet

Batch = Callable[[Sequence[tuple[Document, int]]], list[dict[str, Any]]]


def prefix_length_for(addresses: int) -> int:
    """The longest prefix (the smallest subnet) whose usable addresses hold `addresses`."""
    for length in range(AWS_SMALLEST_SUBNET, -1, -1):
        if 2 ** (32 - length) - RESERVED >= addresses:
            return length
    return 0


def prefix_length_for_growth(peak_used: int, growth: float) -> int:
    return prefix_length_for(math.ceil(peak_used * growth))


@dataclass
class DryPoint:
    """The bracket of one subnet under one setting: not dry at `low`, dry at `high` (None: not seen)."""

    low: float = 1.0
    high: float | None = None
    nodes_full_at: float | None = None  # smallest tested multiple where pods no longer fit on the nodes
    tested_max: float = 1.0

    def next_factors(self, round_index: int) -> list[float]:
        if round_index < len(LADDER):
            if round_index > 0 and self.nodes_full_at is not None:
                return []
            return [f for f in LADDER[round_index] if f > self.low and (self.high is None or f < self.high)]
        if self.high is None or self.high - self.low < 0.02:
            return []
        step = (self.high - self.low) / SPLITS
        return [round(self.low + step * k, 4) for k in range(1, SPLITS)]

    def observe(self, factor: float, dry: bool, unschedulable: bool) -> None:
        self.tested_max = max(self.tested_max, factor)
        if dry and (self.high is None or factor < self.high):
            self.high = factor
        if not dry and factor > self.low and (self.high is None or factor < self.high):
            self.low = factor
        if unschedulable and (self.nodes_full_at is None or factor < self.nodes_full_at):
            self.nodes_full_at = factor

    @property
    def multiple(self) -> float | None:
        return None if self.high is None else round(self.high, 2)


def _dry(records: Sequence[dict[str, Any]], subnet: str) -> bool:
    return any(r["exhausted_subnets"].get(subnet, 0) > 0 for r in records)


def _unschedulable(records: Sequence[dict[str, Any]]) -> bool:
    return any(r["summary"]["pods_pending_unschedulable"] > 0 for r in records)


def search_dry_points(
    documents: Mapping[str, Document],
    today: Mapping[str, Sequence[dict[str, Any]]],
    subnets: Sequence[str],
    seeds: Sequence[int],
    batch: Batch,
) -> dict[str, dict[str, DryPoint]]:
    """{setting name: {subnet: DryPoint}} for each named setting (a scenario document) given the runs at
    1× (`today`, one record per seed)."""
    points = {name: {s: DryPoint() for s in subnets} for name in documents}
    for name, records in today.items():
        for subnet, point in points[name].items():
            if _dry(records, subnet):
                point.high = 1.0
            if _unschedulable(records):
                point.nodes_full_at = 1.0
    for round_index in range(len(LADDER) + REFINE_ROUNDS):
        wanted = sorted(
            {
                (name, f)
                for name, by_subnet in points.items()
                for p in by_subnet.values()
                for f in p.next_factors(round_index)
            }
        )
        if not wanted:  # e.g. the upper rung when the bracket is already below it
            continue
        requests = [(scaled(documents[name], f), seed) for name, f in wanted for seed in seeds]
        records = batch(requests)
        per_seed = len(seeds)
        for i, (name, factor) in enumerate(wanted):
            runs = records[i * per_seed : (i + 1) * per_seed]
            for subnet, point in points[name].items():
                point.observe(factor, _dry(runs, subnet), _unschedulable(runs))
    return points
