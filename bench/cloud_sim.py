"""Operations per second of the simulated EC2, and how one call's cost grows with subnet size.

Prints figures only; it never fails on time. Latency and throttling are off: this measures the
simulator's own bookkeeping (address pool, records, trail).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from vpccni.cloud import VirtualClock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2


def _world(cidr: str, seed: int = 1) -> tuple[SimCloud, SimEc2, str]:
    cloud = SimCloud(VirtualClock(), random.Random(seed), SimConfig(latency=False, throttling=False))
    api = SimEc2(cloud)
    vpc = api.create_vpc("10.0.0.0/8")
    subnet = api.create_subnet(vpc.vpc_id, cidr, "us-west-2a")
    return cloud, api, subnet.subnet_id


def assign_unassign_cost(cidr: str, rounds: int) -> float:
    """Median seconds of one Assign(1)+Unassign(1) pair on a subnet of the given size, half full."""
    cloud, api, subnet_id = _world(cidr)
    pool = cloud.subnet_pool(subnet_id)
    cloud.use_by_others(subnet_id, pool.free_count // 2)
    eni = api.create_network_interface(subnet_id)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        (address,) = api.assign_private_ip_addresses(eni.eni_id, secondary_ip_count=1).addresses
        api.unassign_private_ip_addresses(eni.eni_id, private_ip_addresses=[address])
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def mixed_ops_per_second(instances: int) -> tuple[float, int]:
    """ENI create/attach and assign/unassign across `instances` m5.large nodes on a /16."""
    cloud, api, subnet_id = _world("10.0.0.0/16")
    nodes = [i.instance_id for i in api.run_instances("m5.large", subnet_id, count=instances)]
    ops = 0
    start = time.perf_counter()
    for node in nodes:
        eni = api.create_network_interface(subnet_id, description=f"aws-K8S-{node}", secondary_ip_count=9)
        api.attach_network_interface(eni.eni_id, node, 1)
        ops += 2
    for node in nodes:
        primary = cloud.instances[node].primary_eni
        added = api.assign_private_ip_addresses(primary, secondary_ip_count=9).addresses
        api.unassign_private_ip_addresses(primary, private_ip_addresses=list(added[:4]))
        ops += 2
    elapsed = time.perf_counter() - start
    return ops / elapsed, ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ops_per_s, ops = mixed_ops_per_second(args.instances)
    cost = {cidr: assign_unassign_cost(cidr, args.rounds) for cidr in ("10.0.0.0/24", "10.0.0.0/20", "10.0.0.0/16")}
    ratio = cost["10.0.0.0/16"] / cost["10.0.0.0/24"]
    result = {
        "instances": args.instances,
        "mixed_ops": ops,
        "mixed_ops_per_second": round(ops_per_s),
        "assign_unassign_us": {k: round(v * 1e6, 1) for k, v in cost.items()},
        "cost_ratio_slash16_over_slash24": round(ratio, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"mixed create/attach/assign/unassign on a /16 with {args.instances} instances: {ops_per_s:,.0f} ops/s")
    for cidr, seconds in cost.items():
        print(f"  Assign(1)+Unassign(1) on {cidr}: median {seconds * 1e6:.1f} µs")
    print(f"  per-call cost /16 ÷ /24: {ratio:.2f}× (target ≤ 2×)")


if __name__ == "__main__":
    main()
