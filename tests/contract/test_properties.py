"""Hypothesis state machine over the simulator: ownership, reserved addresses, prefixes and limits hold."""

from __future__ import annotations

import contextlib
import ipaddress
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vpccni.cloud import VirtualClock
from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2

pytestmark = pytest.mark.sim_only
TYPES = ["t3.nano", "m5.large", "m4.large"]


class CloudMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.cloud = SimCloud(self.clock, random.Random(3), SimConfig(latency=False, throttling=False))
        self.api = SimEc2(self.cloud)
        vpc = self.api.create_vpc("10.0.0.0/16")
        self.subnet = self.api.create_subnet(vpc.vpc_id, "10.0.0.0/26", "us-west-2a")
        self.network = ipaddress.IPv4Network("10.0.0.0/26")
        self.instances: list[str] = []

    def _eni_ids(self) -> list[str]:
        return sorted(self.cloud.enis)

    @rule(kind=st.sampled_from(TYPES))
    def launch(self, kind: str) -> None:
        with contextlib.suppress(Ec2Error):
            self.instances.extend(i.instance_id for i in self.api.run_instances(kind, self.subnet.subnet_id))

    @rule(ips=st.integers(0, 12), prefixes=st.integers(0, 2), use_prefix=st.booleans())
    def create_eni(self, ips: int, prefixes: int, use_prefix: bool) -> None:
        try:
            if use_prefix:
                self.api.create_network_interface(self.subnet.subnet_id, ipv4_prefix_count=prefixes)
            else:
                self.api.create_network_interface(self.subnet.subnet_id, secondary_ip_count=ips)
        except Ec2Error:
            pass

    @rule(pick=st.integers(0, 50), count=st.integers(1, 10), prefix=st.booleans())
    def assign(self, pick: int, count: int, prefix: bool) -> None:
        enis = self._eni_ids()
        if not enis:
            return
        eni = enis[pick % len(enis)]
        try:
            if prefix:
                self.api.assign_private_ip_addresses(eni, ipv4_prefix_count=min(count, 2))
            else:
                self.api.assign_private_ip_addresses(eni, secondary_ip_count=count)
        except Ec2Error:
            pass

    @rule(pick=st.integers(0, 50), take=st.integers(1, 5))
    def unassign(self, pick: int, take: int) -> None:
        enis = self._eni_ids()
        if not enis:
            return
        (eni,) = self.api.describe_network_interfaces([enis[pick % len(enis)]])
        if eni.secondary_ips:
            self.api.unassign_private_ip_addresses(eni.eni_id, private_ip_addresses=list(eni.secondary_ips[:take]))
        elif eni.ipv4_prefixes:
            self.api.unassign_private_ip_addresses(eni.eni_id, ipv4_prefixes=[eni.ipv4_prefixes[0]])

    @rule(pick=st.integers(0, 50), device=st.integers(1, 4))
    def attach(self, pick: int, device: int) -> None:
        enis, instances = self._eni_ids(), [i for i in self.instances if i in self.cloud.instances]
        if enis and instances:
            with contextlib.suppress(Ec2Error):
                self.api.attach_network_interface(enis[pick % len(enis)], instances[pick % len(instances)], device)

    @rule(pick=st.integers(0, 50))
    def detach_and_delete(self, pick: int) -> None:
        enis = self._eni_ids()
        if not enis:
            return
        (eni,) = self.api.describe_network_interfaces([enis[pick % len(enis)]])
        try:
            if eni.attachment:
                self.api.detach_network_interface(eni.attachment.attachment_id)
                self.clock.sleep(2.0)
            self.api.delete_network_interface(eni.eni_id)
        except Ec2Error:
            pass

    @rule(pick=st.integers(0, 50))
    def terminate(self, pick: int) -> None:
        live = [i for i in self.instances if self.cloud.instances[i].state != "terminated"]
        if live:
            self.api.terminate_instances([live[pick % len(live)]])

    @invariant()
    def addresses_owned_once_and_limits_held(self) -> None:
        owned: list[int] = []
        for eni in self.api.describe_network_interfaces():
            addresses = [eni.primary_ip, *eni.secondary_ips]
            blocks = [ipaddress.IPv4Network(p) for p in eni.ipv4_prefixes]
            for block in blocks:
                assert int(block.network_address) % 16 == 0 and block.subnet_of(self.network)
                owned.extend(range(int(block.network_address), int(block.network_address) + 16))
            owned.extend(int(ipaddress.IPv4Address(a)) for a in addresses)
            if eni.attachment:
                limits = self.cloud.instances[eni.attachment.instance_id].limits
                assert len(eni.secondary_ips) + len(eni.ipv4_prefixes) <= limits.ipv4_per_eni - 1
                if eni.ipv4_prefixes:
                    assert limits.supports_prefix_delegation
        for inst in self.cloud.instances.values():
            assert sum(1 for card, _ in inst.devices if card == 0) <= inst.limits.max_enis
        assert len(owned) == len(set(owned)), "an address is owned twice"
        base = int(self.network.network_address)
        reserved = {base, base + 1, base + 2, base + 3, int(self.network.broadcast_address)}
        assert not reserved & set(owned), "a reserved address was handed out"
        (subnet,) = self.api.describe_subnets([self.subnet.subnet_id])
        assert subnet.available_ip_address_count == 64 - 5 - len(owned)


CloudMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_cloud_state_machine = CloudMachine.TestCase
