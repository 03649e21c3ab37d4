"""Every run of a scenario, one after the other: what the CLI, the report and the benchmarks call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vpccni.cluster.progress import RunProgress, StopRequest
from vpccni.cluster.scenario import RunSpec, Scenario
from vpccni.cluster.simulation import ClusterSimulation, TrailTarget


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    *,
    runs: Sequence[RunSpec] | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    stop: StopRequest | None = None,
    trail: TrailTarget = "memory",
    trail_of: Callable[[RunSpec], TrailTarget] | None = None,
) -> list[tuple[ClusterSimulation, dict[str, Any]]]:
    """(simulation, summary) for each of `runs` (default: all of the scenario's), in order.

    `trail` is where the last run's CloudTrail log goes; the other runs keep theirs in memory only when
    `trail` is "memory" (a caller asking for a file or for no log has no use for them). `trail_of`, when
    given, names each run's own target instead (a file per run). After a `stop` request the run in
    progress returns its summary so far and no further run starts.
    """
    chosen = list(scenario.run_specs() if runs is None else runs)
    out: list[tuple[ClusterSimulation, dict[str, Any]]] = []
    for index, run in enumerate(chosen):
        if stop is not None and stop.requested:
            break
        last = index == len(chosen) - 1
        target: TrailTarget = trail if last else ("memory" if trail == "memory" else "none")
        if trail_of is not None:
            target = trail_of(run)
        sim = ClusterSimulation(scenario.for_run(run), seed=seed, progress=progress, trail=target, stop=stop)
        out.append((sim, sim.run()))
    return out
