"""Behaviour only the simulator models (moto has none): limits, exhaustion, prefixes, throttling, delays, trail."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from tests.contract.conftest import AZ, Backend, make_sim
from vpccni.cloud.errors import (
    AddressLimitError,
    AttachmentLimitError,
    InsufficientAddressesError,
    InUseError,
    InvalidRequestError,
    ThrottlingError,
    UnauthorizedError,
)

pytestmark = pytest.mark.sim_only


def _subnet(backend: Backend, cidr: str) -> str:
    vpc = backend.api.create_vpc("10.0.0.0/16")
    return backend.api.create_subnet(vpc.vpc_id, cidr, AZ).subnet_id


def test_slash28_offers_11_addresses_and_the_12th_fails(sim: Backend) -> None:
    subnet_id = _subnet(sim, "10.0.0.0/28")
    eni = sim.api.create_network_interface(subnet_id, secondary_ip_count=10)
    taken = [eni.primary_ip, *eni.secondary_ips]
    assert sorted(int(ipaddress.IPv4Address(a)) & 0xF for a in taken) == list(range(4, 15))
    with pytest.raises(InsufficientAddressesError) as info:
        sim.api.assign_private_ip_addresses(eni.eni_id, secondary_ip_count=1)
    assert info.value.code == "InsufficientFreeAddressesInSubnet"
    assert info.value.message == "insufficient free address to allocate 1 address(es)"


def test_counts_are_all_or_nothing(sim: Backend) -> None:
    subnet_id = _subnet(sim, "10.0.0.0/28")
    eni = sim.api.create_network_interface(subnet_id, secondary_ip_count=5)
    with pytest.raises(InsufficientAddressesError) as info:
        sim.api.assign_private_ip_addresses(eni.eni_id, secondary_ip_count=6)
    assert "allocate 6 address(es)" in info.value.message
    (subnet,) = sim.api.describe_subnets([subnet_id])
    assert subnet.available_ip_address_count == 5
    (after,) = sim.api.describe_network_interfaces([eni.eni_id])
    assert len(after.secondary_ips) == 5


def test_issue_example_second_eni_on_a_full_slash28() -> None:
    backend = make_sim(address_policy="random")
    api, cloud = backend.api, backend.cloud
    assert cloud is not None
    subnet_id = _subnet(backend, "10.0.0.0/28")
    (instance,) = api.run_instances("m5.large", subnet_id)
    primary = instance.network_interfaces[0].eni_id
    api.assign_private_ip_addresses(primary, secondary_ip_count=9)
    with pytest.raises(InsufficientAddressesError) as info:
        api.create_network_interface(subnet_id, description=f"aws-K8S-{instance.instance_id}", secondary_ip_count=9)
    assert info.value.code == "InsufficientFreeAddressesInSubnet"
    failed = [e for e in cloud.trail.events() if e["eventName"] == "CreateNetworkInterface"]
    assert len(failed) == 1
    assert failed[0]["errorCode"] == "Client.InsufficientFreeAddressesInSubnet"
    assert failed[0]["errorMessage"] == "insufficient free address to allocate 10 address(es)"
    assert failed[0]["responseElements"] is None
    assert failed[0]["requestParameters"]["secondaryPrivateIpAddressCount"] == 9
    # nothing leaked: one address still free, ENIs unchanged
    (subnet,) = api.describe_subnets([subnet_id])
    assert subnet.available_ip_address_count == 1
    assert [e.eni_id for e in api.describe_network_interfaces()] == [primary]


def test_prefixes_are_aligned_and_a_slash24_holds_14() -> None:
    backend = make_sim(address_policy="lowest")  # the ENI's primary address lands in the first (reserved) block
    subnet_id = _subnet(backend, "10.0.1.0/24")
    eni = backend.api.create_network_interface(subnet_id)
    prefixes = list(backend.api.assign_private_ip_addresses(eni.eni_id, ipv4_prefix_count=14).prefixes)
    nets = [ipaddress.IPv4Network(p) for p in prefixes]
    assert len(nets) == 14 and all(n.prefixlen == 28 for n in nets)
    assert {int(n.network_address) & 0xFF for n in nets} == set(range(16, 240, 16))
    with pytest.raises(InsufficientAddressesError) as info:
        backend.api.assign_private_ip_addresses(eni.eni_id, ipv4_prefix_count=1)
    assert info.value.code == "InsufficientCidrBlocks"


def test_fragmented_subnet_refuses_prefixes_with_free_addresses(sim: Backend) -> None:
    subnet_id = _subnet(sim, "10.0.2.0/24")
    api = sim.api
    holder = api.create_network_interface(subnet_id)
    # one address in each of the 14 inner /28 blocks: 236 addresses stay free, no block is whole
    api.assign_private_ip_addresses(holder.eni_id, private_ip_addresses=[f"10.0.2.{16 * b + 5}" for b in range(1, 15)])
    (subnet,) = api.describe_subnets([subnet_id])
    assert subnet.available_ip_address_count == 251 - 15
    with pytest.raises(InsufficientAddressesError) as info:
        api.assign_private_ip_addresses(holder.eni_id, ipv4_prefix_count=1)
    assert info.value.code == "InsufficientCidrBlocks"
    api.unassign_private_ip_addresses(holder.eni_id, private_ip_addresses=["10.0.2.37"])
    (prefix,) = api.assign_private_ip_addresses(holder.eni_id, ipv4_prefix_count=1).prefixes
    assert prefix == "10.0.2.32/28"


def test_type_limits_attach_count_and_shared_slots(sim: Backend) -> None:
    api = sim.api
    subnet_id = _subnet(sim, "10.0.3.0/24")
    (instance,) = api.run_instances("m5.large", subnet_id)
    for device in (1, 2):
        eni = api.create_network_interface(subnet_id)
        api.attach_network_interface(eni.eni_id, instance.instance_id, device)
    fourth = api.create_network_interface(subnet_id)
    with pytest.raises(AttachmentLimitError) as info:
        api.attach_network_interface(fourth.eni_id, instance.instance_id, 3)
    assert info.value.message == "Interface count 4 exceeds the limit for m5.large"
    primary = instance.network_interfaces[0].eni_id
    api.assign_private_ip_addresses(primary, ipv4_prefix_count=4)
    api.assign_private_ip_addresses(primary, secondary_ip_count=5)  # 9 slots: 4 prefixes + 5 addresses
    with pytest.raises(AddressLimitError):
        api.assign_private_ip_addresses(primary, secondary_ip_count=1)
    with pytest.raises(InvalidRequestError) as both:
        api.assign_private_ip_addresses(primary, secondary_ip_count=1, ipv4_prefix_count=1)
    assert both.value.code == "InvalidParameterCombination"


def test_prefixes_refused_on_xen(sim: Backend) -> None:
    subnet_id = _subnet(sim, "10.0.4.0/24")
    (instance,) = sim.api.run_instances("m4.large", subnet_id)
    with pytest.raises(InvalidRequestError) as info:
        sim.api.assign_private_ip_addresses(instance.network_interfaces[0].eni_id, ipv4_prefix_count=1)
    assert info.value.message == "Prefix delegation is not supported for m4.large"


def test_device_index_taken_and_double_attach(sim: Backend) -> None:
    api = sim.api
    subnet_id = _subnet(sim, "10.0.5.0/24")
    (instance,) = api.run_instances("c5.xlarge", subnet_id)
    first = api.create_network_interface(subnet_id)
    api.attach_network_interface(first.eni_id, instance.instance_id, 1)
    second = api.create_network_interface(subnet_id)
    with pytest.raises(InvalidRequestError) as taken:
        api.attach_network_interface(second.eni_id, instance.instance_id, 1)
    assert "device index '1'" in taken.value.message
    with pytest.raises(InUseError):
        api.attach_network_interface(first.eni_id, instance.instance_id, 2)


def test_detach_then_delete_timing(sim: Backend) -> None:
    api, clock = sim.api, sim.clock
    assert clock is not None
    subnet_id = _subnet(sim, "10.0.6.0/24")
    (instance,) = api.run_instances("m5.large", subnet_id)
    eni = api.create_network_interface(subnet_id)
    attachment = api.attach_network_interface(eni.eni_id, instance.instance_id, 1)
    (state,) = api.describe_network_interfaces([eni.eni_id])
    assert state.attachment is not None and state.attachment.status == "attaching"
    clock.sleep(0.6)
    (state,) = api.describe_network_interfaces([eni.eni_id])
    assert state.attachment is not None and state.attachment.status == "attached"
    api.detach_network_interface(attachment)
    with pytest.raises(InUseError):
        api.delete_network_interface(eni.eni_id)
    clock.sleep(2.0)
    api.delete_network_interface(eni.eni_id)


def test_metadata_lags_ec2() -> None:
    backend = make_sim(address_policy="lowest", metadata_sigma=0.0, latency=False)
    api, clock = backend.api, backend.clock
    assert clock is not None
    subnet_id = _subnet(backend, "10.0.7.0/24")
    (instance,) = api.run_instances("m5.large", subnet_id)
    eni = api.create_network_interface(subnet_id, secondary_ip_count=3)
    api.attach_network_interface(eni.eni_id, instance.instance_id, 1)
    assert [e.device_number for e in api.instance_metadata(instance.instance_id).enis] == [0]
    clock.sleep(1.0)
    meta = api.instance_metadata(instance.instance_id)
    assert [e.device_number for e in meta.enis] == [0, 1] and len(meta.enis[1].local_ipv4s) == 4
    api.assign_private_ip_addresses(eni.eni_id, secondary_ip_count=2)
    assert len(api.describe_network_interfaces([eni.eni_id])[0].secondary_ips) == 5  # EC2 at once
    assert len(api.instance_metadata(instance.instance_id).enis[1].local_ipv4s) == 4  # metadata later
    clock.sleep(1.0)
    assert len(api.instance_metadata(instance.instance_id).enis[1].local_ipv4s) == 6


def test_throttling_arithmetic_150_nodes() -> None:
    """ec2 spec §8: 150 callers at t=0, each served as soon as a token exists (no back-off)."""
    backend = make_sim(latency=False, retry_max_attempts=1)
    cloud, clock = backend.cloud, backend.clock
    assert cloud is not None and clock is not None
    finish: dict[str, list[float]] = {}
    for action, capacity, rate in (("CreateNetworkInterface", 100, 5), ("AttachNetworkInterface", 50, 5)):
        times = []
        for _ in range(150):
            wait = cloud.throttler.wait_time(action, clock.now(), mutating=True)
            clock.sleep(wait)
            assert cloud.throttler.admit(action, clock.now(), mutating=True)
            times.append(clock.now())
        finish[action] = times
        assert sum(1 for t in times if t == times[0]) == capacity
        assert times[-1] - times[0] == pytest.approx((150 - capacity) / rate)
    assert finish["CreateNetworkInterface"][-1] == pytest.approx(10.0)


def test_throttled_call_fails_and_retries_on_the_clock() -> None:
    backend = make_sim(latency=False, throttle_overrides={"CreateTags": (2, 1)}, retry_max_attempts=1)
    api, cloud = backend.api, backend.cloud
    assert cloud is not None
    subnet_id = _subnet(backend, "10.0.8.0/24")
    api.create_tags([subnet_id], {"a": "1"})
    api.create_tags([subnet_id], {"a": "2"})
    with pytest.raises(ThrottlingError) as info:
        api.create_tags([subnet_id], {"a": "3"})
    assert info.value.code == "RequestLimitExceeded" and info.value.http_status == 503
    assert api.describe_subnets([subnet_id])[0].tags == {"a": "2"}  # a throttled call changes nothing
    retrying = make_sim(latency=False, throttle_overrides={"CreateTags": (2, 1)})
    subnet2 = _subnet(retrying, "10.0.9.0/24")
    for n in range(4):
        retrying.api.create_tags([subnet2], {"a": str(n)})
    assert retrying.clock is not None and retrying.clock.now() > 0  # back-off happened on the virtual clock
    assert retrying.cloud is not None
    names = [(e["eventName"], e.get("errorCode")) for e in retrying.cloud.trail.events()]
    assert ("CreateTags", "Client.RequestLimitExceeded") in names  # every attempt is an event


def test_throttled_calls_are_retried_by_the_client(sim: Backend) -> None:
    """Two 503s, then success: the simulator's client retries on the virtual clock; served, botocore's own
    standard-mode retries do (the served cloud never retries). Every attempt is a trail event."""
    cloud = sim.cloud
    assert cloud is not None
    subnet_id = _subnet(sim, "10.0.14.0/24")
    cloud.fail_next("CreateTags", "RequestLimitExceeded", count=2)
    sim.api.create_tags([subnet_id], {"k": "v"})
    assert sim.api.describe_subnets([subnet_id])[0].tags == {"k": "v"}
    attempts = [e.get("errorCode", "ok") for e in cloud.trail.events() if e["eventName"] == "CreateTags"]
    assert attempts == ["Client.RequestLimitExceeded", "Client.RequestLimitExceeded", "ok"]


def test_fault_injection_and_denied_actions(sim: Backend) -> None:
    cloud = sim.cloud
    assert cloud is not None
    subnet_id = _subnet(sim, "10.0.10.0/24")
    cloud.fail_next("CreateNetworkInterface", "InsufficientFreeAddressesInSubnet", count=2)
    for _ in range(2):
        with pytest.raises(InsufficientAddressesError):
            sim.api.create_network_interface(subnet_id)
    sim.api.create_network_interface(subnet_id)
    cloud.deny("DeleteTags")
    with pytest.raises(UnauthorizedError):
        sim.api.delete_tags([subnet_id], ["x"])
    before = sim.clock.now() if sim.clock else 0.0
    cloud.add_latency("CreateTags", 5.0)
    sim.api.create_tags([subnet_id], {"k": "v"})
    assert sim.clock is not None and sim.clock.now() - before >= 5.0


def test_subnet_used_by_others(sim: Backend) -> None:
    cloud = sim.cloud
    assert cloud is not None
    subnet_id = _subnet(sim, "10.0.11.0/24")
    assert cloud.use_by_others(subnet_id, 120) == 120
    assert sim.api.describe_subnets([subnet_id])[0].available_ip_address_count == 131
    assert cloud.release_by_others(subnet_id, 20) == 20
    assert sim.api.describe_subnets([subnet_id])[0].available_ip_address_count == 151


def test_terminate_deletes_or_detaches(sim: Backend) -> None:
    api = sim.api
    subnet_id = _subnet(sim, "10.0.12.0/24")
    (instance,) = api.run_instances("m5.large", subnet_id)
    kept = api.create_network_interface(subnet_id)
    gone = api.create_network_interface(subnet_id)
    api.attach_network_interface(kept.eni_id, instance.instance_id, 1)
    att = api.attach_network_interface(gone.eni_id, instance.instance_id, 2)
    api.modify_network_interface_attribute(gone.eni_id, attachment_id=att, delete_on_termination=True)
    api.terminate_instances([instance.instance_id])
    remaining = api.describe_network_interfaces()
    assert [(e.eni_id, e.status) for e in remaining] == [(kept.eni_id, "available")]


def test_trail_reconstructs_address_timeline(sim: Backend, tmp_path: Path) -> None:
    api, cloud = sim.api, sim.cloud
    assert cloud is not None
    subnet_id = _subnet(sim, "10.0.13.0/24")
    eni = api.create_network_interface(subnet_id, secondary_ip_count=2)
    added = api.assign_private_ip_addresses(eni.eni_id, secondary_ip_count=3).addresses
    api.unassign_private_ip_addresses(eni.eni_id, private_ip_addresses=[added[0]])
    path = tmp_path / "trail.json"
    cloud.trail.write(path)
    records = json.loads(path.read_text())["Records"]
    held: set[str] = set()
    for event in records:
        if event.get("errorCode"):
            continue
        name, req, resp = event["eventName"], event["requestParameters"], event["responseElements"]
        if name == "CreateNetworkInterface":
            held |= {i["privateIpAddress"] for i in resp["networkInterface"]["privateIpAddressesSet"]["item"]}
        elif name == "AssignPrivateIpAddresses":
            held |= {
                i["privateIpAddress"] for i in resp["assignedPrivateIpAddressesSet"]["assignedPrivateIpAddressSetType"]
            }
        elif name == "UnassignPrivateIpAddresses":
            held -= {i["privateIpAddress"] for i in req["privateIpAddressesSet"]["items"]}
    (now,) = api.describe_network_interfaces([eni.eni_id])
    assert held == {now.primary_ip, *now.secondary_ips}
    times = [e["eventTime"] for e in records]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
