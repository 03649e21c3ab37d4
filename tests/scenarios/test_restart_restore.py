"""A restart right after an Assign: metadata does not list the new address yet, the pod keeps it anyway."""

from __future__ import annotations

import random

from vpccni.cloud.sim import SimConfig
from vpccni.ipam import IpamConfig, IpamKey, NoAvailableAddress, NodeIpam, PodMetadata
from vpccni.nodesim import NodeSimSpec, NodeSimulation


def test_restored_pod_in_an_address_metadata_lacks_is_kept_via_ec2() -> None:
    sim = NodeSimulation(
        NodeSimSpec("c5.xlarge", env={"WARM_IP_TARGET": "1"}, sim_config=SimConfig(metadata_delay_median=15.0))
    )
    sim.start()
    keys = [IpamKey("aws-cni", f"c{i}", "eth0") for i in range(3)]
    held = {}
    for key in keys:
        while True:
            try:
                held[key] = sim.ipam.assign_pod(key, PodMetadata("ns", key.container_id)).address
                break
            except NoAvailableAddress:
                sim.ipam.cycle()  # WARM_IP_TARGET=1: each pod needs a fresh Assign first
    newest = held[keys[-1]]
    assert newest not in [ip for e in sim.ipam._metadata().enis for ip in e.local_ipv4s]  # type: ignore[union-attr]

    restarted = NodeIpam(
        sim.ipam.ec2,
        sim.instance_id,
        IpamConfig.from_env({"WARM_IP_TARGET": "1"}),
        sim.clock,
        random.Random(2),
        checkpoint_store=sim.ipam.checkpoint_store,
    )
    restarted.init()
    for key, address in held.items():
        found = restarted.ds.lookup(key)
        assert found is not None and found[2].address == address
    assert restarted.ds.assigned == 3
