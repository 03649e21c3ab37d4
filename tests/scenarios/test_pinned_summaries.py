"""The reference policy's results on every shipped scenario, pinned to the last summary field.

`fixtures/pinned_summaries.json` was generated from the simulator as it stood before workload kinds,
efficiency metrics and the autoscaler back-off were added (commit 83f0ed6). Every key it holds must come
out exactly the same; keys added since then (the efficiency metrics) are not part of the pin. No shipped
scenario has a failing launch, so the back-off changes none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vpccni.cluster import ClusterSimulation, load_scenario

ROOT = Path(__file__).parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "pinned_summaries.json"
PINNED: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())
# How much work the simulator did, not what happened: a node woken on time for a pod event (it used to sleep
# until its next timer) takes more steps for the same outcome, and a faster simulator may take fewer.
WORK_COUNTERS = ("events", "node_steps")


def test_every_shipped_run_is_pinned() -> None:
    runs = {f"{p.stem}:{r.name}" for p in (ROOT / "scenarios").glob("*.yaml") for r in load_scenario(p).run_specs()}
    assert runs == set(PINNED)


@pytest.mark.parametrize("key", sorted(PINNED))
def test_summary_is_unchanged(key: str) -> None:
    stem, run_name = key.split(":", 1)
    scenario = load_scenario(ROOT / "scenarios" / f"{stem}.yaml")
    run = next(r for r in scenario.run_specs() if r.name == run_name)
    summary = json.loads(json.dumps(ClusterSimulation(scenario.for_run(run)).run()))  # tuples → lists, like the file
    pinned = {k: v for k, v in PINNED[key].items() if k not in WORK_COUNTERS}
    assert {k: summary.get(k) for k in pinned} == pinned
