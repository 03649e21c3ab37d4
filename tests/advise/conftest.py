"""Small scenarios written here (quick to simulate), and the advice for them computed once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpccni.advise import Advice, AdviseOptions, RunCache, SweepRunner, advise, load_space
from vpccni.cluster import load_scenario

# Two t3.large nodes in a /26 shared with 16 addresses of others; the web deployment grows 4 → 16 pods.
SMALL = """
name: small-shared
seed: 7
duration: 900
subnets:
  - {name: private-a, cidr: 10.0.0.0/26, used_by_others: 16}
node_groups:
  - {name: workers, instance_type: t3.large, min: 2, max: 2, subnets: [private-a]}
daemonsets:
  - {name: aws-node, requests: {cpu: 25m, memory: 32Mi}}
deployments:
  - {name: web, replicas: 4, at: 60, requests: {cpu: 50m, memory: 64Mi}}
actions:
  - {at: 240, scale: {deployment: web, replicas: 8}}
  - {at: 420, scale: {deployment: web, replicas: 12}}
  - {at: 600, scale: {deployment: web, replicas: 16}}
autoscaler: {enabled: false}
runs:
  - {name: ignored-by-advise, ipamd: {WARM_IP_TARGET: "50"}}
"""

SMALL_SPACE = """
candidates:
  - {WARM_ENI_TARGET: 0}
  - {WARM_IP_TARGET: 1}
  - {WARM_IP_TARGET: 2, MINIMUM_IP_TARGET: 8}
  - {WARM_IP_TARGET: 1, MINIMUM_IP_TARGET: 10}
  - {WARM_POOL_POLICY: adaptive}
"""


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("advise-small")
    scenario, space = folder / "small.yaml", folder / "space.yaml"
    scenario.write_text(SMALL)
    space.write_text(SMALL_SPACE)
    return scenario, space


def run_advice(
    scenario: Path,
    space: Path | None,
    workers: int = 1,
    seeds: int = 1,
    cache: Path | None = None,
    max_wait: float = 5.0,
) -> Advice:
    """The advisor on an in-process (threads) Dask cluster, always closed."""
    loaded = load_scenario(scenario)
    candidates = load_space(space, loaded.node_groups) if space is not None else None
    with SweepRunner(RunCache(cache), workers=workers, processes=False) as runner:
        return advise(loaded, AdviseOptions(seeds=seeds, max_wait=max_wait, space=candidates), runner)


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("advise-cache")


@pytest.fixture(scope="module")
def small_advice(small_files: tuple[Path, Path], small_cache: Path) -> Advice:
    return run_advice(*small_files, cache=small_cache)
