"""The cluster simulator's time series carry the helper's figures, computed by the same aggregator from the
nodes' engine metrics; checked at every sample against the nodes' datastores and counters directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.metrics_helper.names import PUBLISHED_NAMES

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
COUNTERS = {
    "addReqCount": "awscni_add_ip_req_count",
    "ipamdErr": "awscni_ipamd_error_count",
    "ec2ApiReqCount": "awscni_ec2api_req_count",
    "awsAPIErr": "awscni_aws_api_error_count",
}


class CheckedSimulation(ClusterSimulation):
    """After each sample, what the nodes themselves say, for comparison with what the helper published."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.truth: list[dict[str, float]] = []
        self.last_seen: dict[str, dict[str, float]] = {}  # node → counter totals at its last sample
        super().__init__(*args, **kwargs)

    def _sample_tick(self) -> None:
        super()._sample_tick()
        running = [n for n in self.all_nodes() if n.ipam is not None]
        truth = {
            "eniAllocated": float(sum(len(n.ipam.ds.enis) for n in running if n.ipam)),
            "totalIPAddresses": float(sum(n.ipam.ds.total for n in running if n.ipam)),
            "assignIPAddresses": float(sum(n.ipam.ds.assigned for n in running if n.ipam)),
            "eniMaxAvailable": sum(n.metrics.gauges["awscni_eni_max"][()] for n in running),
        }
        for node in running:
            self.last_seen[node.name] = {name: node.metrics.total(source) for name, source in COUNTERS.items()}
        for name in COUNTERS:  # cumulative: every increase the nodes made, as of each one's last sample
            truth[name] = sum(seen[name] for seen in self.last_seen.values())
        self.truth.append(truth)


@pytest.mark.parametrize(
    ("scenario", "run", "errors"),
    [("scale-out.yaml", "scale-out", 0), ("shared-subnet-exhaustion.yaml", "default-warm-eni", 58)],
)
def test_every_sample_has_the_helpers_figures_and_they_match_the_nodes(scenario: str, run: str, errors: int) -> None:
    loaded = load_scenario(SCENARIOS / scenario)
    (spec,) = [r for r in loaded.run_specs() if r.name == run]
    sim = CheckedSimulation(loaded.for_run(spec))
    sim.run()
    assert len(sim.samples) == len(sim.truth) > 10
    cumulative = dict.fromkeys(COUNTERS, 0.0)
    for sample, truth in zip(sim.samples, sim.truth, strict=True):
        figures = sample["cluster_metrics"]
        assert list(figures) == list(PUBLISHED_NAMES)
        for name in ("eniAllocated", "totalIPAddresses", "assignIPAddresses", "eniMaxAvailable"):
            assert figures[name] == truth[name], (sample["t"], name)
        for name in COUNTERS:
            assert figures[name] >= 0
            cumulative[name] += figures[name]
            assert cumulative[name] == truth[name], (sample["t"], name)
    assert cumulative["ipamdErr"] == errors
    assert max(s["cluster_metrics"]["awsAPILatency"] for s in sim.samples) > 0
