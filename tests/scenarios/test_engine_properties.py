"""Hypothesis state machine over the engine: pods come and go, ipamd restarts from its checkpoint, EC2 fails.

Invariants: no address is held by two pods; the datastore's addresses are exactly what EC2 says the node
holds (once metadata has caught up); no managed ENI leaks; ENI and address limits hold.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vpccni.cloud import VirtualClock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2
from vpccni.ipam import IpamConfig, IpamKey, NodeIpam, PodMetadata
from vpccni.ipam.checkpoint import MemoryCheckpointStore
from vpccni.ipam.datastore import DatastoreError

SETTINGS = [
    {},
    {"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "4"},
    {"WARM_ENI_TARGET": "0"},
    {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"},
]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.cloud = SimCloud(self.clock, random.Random(11), SimConfig(metadata_sigma=0.0))
        tool = SimEc2(self.cloud)
        vpc = tool.create_vpc("10.0.0.0/16")
        subnet = tool.create_subnet(vpc.vpc_id, "10.0.0.0/24", "us-west-2a")
        (instance,) = tool.run_instances("t3.medium", subnet.subnet_id)
        self.instance_id = instance.instance_id
        self.api = SimEc2(self.cloud, instance.instance_id)
        self.store = MemoryCheckpointStore()
        self.env: dict[str, str] = {}
        self.pods: dict[IpamKey, str] = {}
        self.counter = 0
        self.ipam = self._start()

    def _start(self) -> NodeIpam:
        ipam = NodeIpam(
            self.api,
            self.instance_id,
            IpamConfig.from_env(self.env),
            self.clock,
            random.Random(1),
            max_pods=60,
            checkpoint_store=self.store,
        )
        ipam.init()
        return ipam

    @rule(choice=st.integers(0, len(SETTINGS) - 1))
    def restart_with_settings(self, choice: int) -> None:
        self.env = SETTINGS[choice]
        self.ipam = self._start()
        held = {k: a.address for k in self.pods if (a := self._lookup(k))}
        assert held == self.pods, "a pod lost its address across a restart"

    def _lookup(self, key: IpamKey) -> object | None:
        found = self.ipam.ds.lookup(key)
        return found[2] if found else None

    @rule(count=st.integers(1, 6))
    def add_pods(self, count: int) -> None:
        for _ in range(count):
            key = IpamKey("aws-cni", f"c{self.counter}", "eth0")
            self.counter += 1
            with contextlib.suppress(DatastoreError):
                self.pods[key] = self.ipam.assign_pod(key, PodMetadata("ns", key.container_id)).address

    @rule(count=st.integers(1, 6))
    def release_pods(self, count: int) -> None:
        for key in list(self.pods)[:count]:
            self.ipam.release_pod(key)
            del self.pods[key]

    @rule(turns=st.integers(1, 30))
    def run_loop(self, turns: int) -> None:
        for _ in range(turns):
            self.ipam.loop_once()

    @rule(
        action=st.sampled_from(["AssignPrivateIpAddresses", "CreateNetworkInterface", "AttachNetworkInterface"]),
        code=st.sampled_from(["RequestLimitExceeded", "InsufficientFreeAddressesInSubnet", "InternalError"]),
    )
    def inject_failure(self, action: str, code: str) -> None:
        self.cloud.fail_next(action, code, count=1)

    @invariant()
    def no_address_twice(self) -> None:
        addresses = list(self.pods.values())
        assert len(addresses) == len(set(addresses))
        for key, address in self.pods.items():
            found = self.ipam.ds.lookup(key)
            assert found is not None and found[2].address == address

    def _cloud_view(self) -> tuple[dict[str, set[str]], list[str]]:
        """The instance's attached ENIs with their CIDRs, and the detached ENIs, read from the account's
        state: no API call, so checking moves neither the virtual clock nor a throttling bucket."""
        attached: dict[str, set[str]] = {}
        detached = []
        for eni in self.cloud.enis.values():
            pool = self.cloud.subnet_pool(eni.subnet_id)
            cidrs = {f"{pool.address(o)}/32" for o in eni.secondaries} | {pool.prefix(o) for o in eni.prefixes}
            att = eni.attachment
            if att is None:
                detached.append(eni.eni_id)
            elif att.instance_id == self.instance_id and att.detach_done_at is None:
                attached[eni.eni_id] = cidrs
        return attached, detached

    @invariant()
    def limits_held_no_leak_and_datastore_within_ec2(self) -> None:
        attached, detached = self._cloud_view()
        assert len(attached) <= 3
        assert all(len(cidrs) <= 5 for cidrs in attached.values())
        assert not detached, "an ENI was left detached"
        # between reconciles the datastore may lag EC2, but never holds what EC2 did not give the node
        for eni_id, eni in self.ipam.ds.enis.items():
            assert eni_id in attached, f"{eni_id} is in the datastore but not attached"
            assert set(eni.cidrs) <= attached[eni_id], f"{eni_id}: the datastore holds CIDRs EC2 does not"

    @rule()
    def reconcile_after_metadata_caught_up(self) -> None:
        """Once metadata has caught up and a reconcile ran, the datastore mirrors EC2 exactly."""
        self.clock.sleep(65)
        self.ipam.reconcile()
        attached, _ = self._cloud_view()
        assert {c for e in self.ipam.ds.enis.values() for c in e.cidrs} == set().union(*attached.values())
        assert set(self.ipam.ds.enis) == set(attached)


EngineMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
test_engine_state_machine = EngineMachine.TestCase
