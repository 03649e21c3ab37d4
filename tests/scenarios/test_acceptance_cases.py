"""More ipamd spec acceptance cases (§13) through the engine on the simulated EC2."""

from __future__ import annotations

from vpccni.cloud.sim import SimConfig
from vpccni.ipam import IpamKey, PodMetadata
from vpccni.nodesim import NodeSimSpec, NodeSimulation


def _node(env: dict[str, str], **kw: object) -> NodeSimulation:
    spec = NodeSimSpec("c5.xlarge", env=env, sim_config=SimConfig(metadata_sigma=0.0), **kw)  # type: ignore[arg-type]
    return NodeSimulation(spec)


def test_17_discovery_off_assign_fails_twice_then_120s_quiet() -> None:
    sim = _node({"ENABLE_SUBNET_DISCOVERY": "false"})
    sim.cloud.fail_next("AssignPrivateIpAddresses", "InsufficientFreeAddressesInSubnet", count=2)
    sim.ipam.init()
    calls = sim.metrics.by_label("awscni_ec2api_req_count", "fn")
    assert calls.get("AssignPrivateIpAddresses") == 2 and "CreateNetworkInterface" not in calls
    start = sim.clock.now()
    while sim.clock.now() - start < 115:
        sim.ipam.loop_once()
    assert sim.metrics.by_label("awscni_ec2api_req_count", "fn") == calls  # no EC2 call in the back-off
    while sim.clock.now() - start < 130:
        sim.ipam.loop_once()
    assert sim.metrics.by_label("awscni_ec2api_req_count", "fn")["AssignPrivateIpAddresses"] == 3


def test_16_discovery_on_falls_through_to_a_new_eni_in_the_same_cycle() -> None:
    sim = _node({})
    sim.cloud.fail_next("AssignPrivateIpAddresses", "InsufficientFreeAddressesInSubnet", count=2)
    sim.ipam.init()
    calls = sim.metrics.by_label("awscni_ec2api_req_count", "fn")
    assert calls["AssignPrivateIpAddresses"] == 2 and calls["CreateNetworkInterface"] == 1
    assert len(sim.ipam.ds.enis) == 2


def test_25_eni_not_freed_while_young_or_cooling() -> None:
    sim = _node({})
    sim.start()
    key = IpamKey("aws-cni", "c1", "eth0")
    sim.ipam.assign_pod(key, PodMetadata("ns", "p"))
    for _ in range(30):
        sim.ipam.loop_once()
    assert len(sim.ipam.ds.enis) == 2
    eni2 = sim.ipam.ds.ordered_enis()[1].eni_id
    # move the pod onto ENI 2 by filling the primary, then release it: ENI 2 is cooling
    keys = [IpamKey("aws-cni", f"f{i}", "eth0") for i in range(14)]
    for k in keys:
        sim.ipam.assign_pod(k, PodMetadata("ns", k.container_id))
    on_eni2 = next(k for k in [key, *keys] if sim.ipam.ds.lookup(k)[0].eni_id == eni2)  # type: ignore[index]
    for k in [key, *keys]:
        if k != on_eni2:
            sim.ipam.release_pod(k)
    sim.ipam.release_pod(on_eni2)
    assert sim.ipam.removable_eni() == ""  # its released address is still cooling
    sim.clock.sleep(31)
    assert sim.ipam.removable_eni() == eni2


def test_31_reconcile_drops_addresses_ec2_removed_and_adds_new_ones() -> None:
    sim = _node({"WARM_IP_TARGET": "2"})
    sim.start()
    primary = sim.ipam.primary_eni_id
    assert sim.ipam.ds.stats(sim.clock.now()).total == 2
    held = [c[:-3] for c in sim.ipam.ds.enis[primary].cidrs]
    sim.ipam.ec2.unassign_private_ip_addresses(primary, private_ip_addresses=held)
    sim.clock.sleep(61)
    sim.ipam.reconcile()
    assert sim.ipam.ds.stats(sim.clock.now()).total == 0
    sim.ipam.ec2.assign_private_ip_addresses(primary, secondary_ip_count=3)
    sim.clock.sleep(25)
    sim.ipam.reconcile()
    assert sim.ipam.ds.stats(sim.clock.now()).total == 3


def test_31_after_agreeing_reconciles_a_change_on_either_side_is_still_seen() -> None:
    """Reconcile remembers an ENI's agreeing metadata entry and CIDRs; a change on either side must void that."""
    sim = _node({"WARM_IP_TARGET": "2"})
    sim.start()
    primary = sim.ipam.primary_eni_id
    held = sorted(sim.ipam.ds.enis[primary].cidrs)
    for _ in range(2):  # the second run finds both sides as the first left them
        sim.clock.sleep(61)
        sim.ipam.reconcile()
    assert sorted(sim.ipam.ds.enis[primary].cidrs) == held
    sim.ipam.ds.del_cidr(primary, held[0])  # the datastore loses one: metadata still lists it
    sim.clock.sleep(61)
    sim.ipam.reconcile()
    assert sorted(sim.ipam.ds.enis[primary].cidrs) == held
    sim.ipam.ec2.unassign_private_ip_addresses(primary, private_ip_addresses=[held[1][:-3]])  # EC2 drops one
    sim.clock.sleep(61)
    sim.ipam.reconcile()
    assert sorted(sim.ipam.ds.enis[primary].cidrs) == [held[0]]
