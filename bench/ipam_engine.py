"""Engine speed: assign/release operations per second and the p99 of one assign on a node with a warm
pool, and the cost of one pool cycle and one reconcile on a node with 15 ENIs × 49 addresses.

Prints figures against the targets (≥ 20,000 ops/s, p99 ≤ 0.5 ms); it never fails on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from vpccni.cloud.sim import SimConfig
from vpccni.ipam import IpamKey, PodMetadata
from vpccni.nodesim import NodeSimSpec, NodeSimulation


def node(instance_type: str, pods: int, env: dict[str, str]) -> NodeSimulation:
    config = SimConfig(latency=False, throttling=False, metadata_sigma=0.0)
    spec = NodeSimSpec(instance_type, env=env, sim_config=config, max_pods=800, subnet_cidr="10.0.0.0/20")
    sim = NodeSimulation(spec)
    sim.start()
    for _ in range(pods):
        sim.ipam.assign_pod(IpamKey("aws-cni", f"base-{_}", "eth0"), PodMetadata("default", f"base-{_}"))
    return sim


def assign_release(rounds: int) -> dict[str, float]:
    sim = node("m5.xlarge", 10, {})  # 2 ENIs, 28 addresses, 10 pods running: a warm pool of 18
    ipam = sim.ipam
    assign_times = []
    start = time.perf_counter()
    for i in range(rounds):
        key = IpamKey("aws-cni", f"pod-{i}", "eth0")
        t0 = time.perf_counter()
        ipam.assign_pod(key, PodMetadata("default", key.container_id))
        assign_times.append(time.perf_counter() - t0)
        ipam.release_pod(key)
        sim.clock.sleep(31)  # let the address cool so the pool stays warm
    elapsed = time.perf_counter() - start
    assign_times.sort()
    return {
        "ops_per_second": 2 * rounds / elapsed,
        "assign_p50_ms": statistics.median(assign_times) * 1000,
        "assign_p99_ms": assign_times[int(len(assign_times) * 0.99)] * 1000,
    }


def cycle_and_reconcile(rounds: int) -> dict[str, float]:
    sim = node("c5n.18xlarge", 0, {"WARM_ENI_TARGET": "15"})  # grows to 15 ENIs × 49 addresses
    for _ in range(40):
        sim.ipam.loop_once()
    ipam = sim.ipam
    assert len(ipam.ds.enis) == 15, len(ipam.ds.enis)
    cycle, reconcile = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ipam.cycle()
        cycle.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ipam.reconcile()
        reconcile.append(time.perf_counter() - t0)
    return {
        "enis": len(ipam.ds.enis),
        "addresses": ipam.ds.total,
        "cycle_ms": statistics.median(cycle) * 1000,
        "reconcile_ms": statistics.median(reconcile) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pods = assign_release(args.rounds)
    pool = cycle_and_reconcile(50)
    if args.json:
        print(json.dumps({**pods, **pool}))
        return
    print(f"assign+release on a warm m5.xlarge pool: {pods['ops_per_second']:,.0f} ops/s (target ≥ 20,000)")
    print(f"  one assign: p50 {pods['assign_p50_ms']:.3f} ms, p99 {pods['assign_p99_ms']:.3f} ms (target p99 ≤ 0.5 ms)")
    print(
        f"pool on c5n.18xlarge with {pool['enis']} ENIs / {pool['addresses']} addresses: "
        f"cycle {pool['cycle_ms']:.2f} ms, reconcile {pool['reconcile_ms']:.2f} ms (median)"
    )


if __name__ == "__main__":
    main()
