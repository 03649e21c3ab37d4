"""Drive one `NodeIpam` through the reference's 5-second loop on a virtual clock.

Start the node, run the loop until steady state; add pods one at a time, each followed by loop turns
until steady (a pod that finds no address waits and is retried after every turn, like a pod in
ContainerCreating); then release pods the same way. Steady = nothing changed for `quiet_seconds`
(long enough for every cooldown and ENI-age rule, and one insufficient-address back-off, to pass);
a step that never settles within `step_limit_seconds` is reported as not converged.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vpccni import catalog
from vpccni.cloud.clock import VirtualClock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2, parse_subnet_cidr
from vpccni.ipam import EniConfig, IpamConfig, IpamKey, NodeIpam, PodMetadata
from vpccni.ipam.config import default_max_pods, effective_settings, pod_address_capacity
from vpccni.ipam.datastore import DatastoreError
from vpccni.ipam.metrics import CountingMetrics

AZ = "us-west-2a"
NETWORK_NAME = "aws-cni"
HOST_NETWORK_PODS = 2  # aws-node and kube-proxy: counted in max-pods, but they use no pod address
EXHAUSTION_CODES = ("InsufficientFreeAddressesInSubnet", "InsufficientCidrBlocks")


class NodeSimError(ValueError):
    """Bad input to a node simulation (unknown type, unusable CIDR, ...), with a message for people."""


@dataclass
class NodeSimSpec:
    instance_type: str
    pods: int = 0
    release: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    max_pods: int | None = None
    subnet_cidr: str = "10.0.0.0/24"
    subnet_used: int = 0
    seed: int = 1
    quiet_seconds: float = 130.0
    step_limit_seconds: float = 1800.0
    sim_config: SimConfig | None = None


class NodeSimulation:
    def __init__(self, spec: NodeSimSpec) -> None:
        self.spec = spec
        try:
            self.limits = catalog.get(spec.instance_type)
        except catalog.UnknownInstanceType as exc:
            raise NodeSimError(str(exc)) from None
        try:
            subnet = parse_subnet_cidr(spec.subnet_cidr)
        except ValueError as exc:
            raise NodeSimError(f"--subnet-cidr {exc}") from None
        usable = subnet.num_addresses - 5
        if spec.release > spec.pods:
            raise NodeSimError(
                f"--release {spec.release} is more than --pods {spec.pods}: only added pods can be released"
            )
        if spec.subnet_used < 0 or spec.subnet_used >= usable:
            raise NodeSimError(
                f"--subnet-used {spec.subnet_used}: the subnet has {usable} usable addresses and the node needs one"
            )
        self.config = IpamConfig.from_env(spec.env)
        self.max_pods = spec.max_pods or default_max_pods(self.limits, self.config)
        self.address_capacity = pod_address_capacity(self.limits, self.config)
        # pods that can have an address: max-pods counts the host-network pods too
        self.pod_capacity = max(min(self.max_pods - HOST_NETWORK_PODS, self.address_capacity), 0)
        self.clock = VirtualClock()
        self.cloud = SimCloud(self.clock, random.Random(spec.seed), spec.sim_config or SimConfig())
        tool = SimEc2(self.cloud)
        vpc_cidr = subnet.supernet(new_prefix=min(16, subnet.prefixlen))
        vpc = tool.create_vpc(str(vpc_cidr))
        self.subnet_id = tool.create_subnet(vpc.vpc_id, str(subnet), AZ).subnet_id
        eni_config = None
        if self.config.custom_networking:
            pods_subnet = self._sibling_subnet(subnet, vpc_cidr)
            pod_subnet_id = tool.create_subnet(vpc.vpc_id, str(pods_subnet), AZ).subnet_id
            eni_config = EniConfig("default", pod_subnet_id)
        if spec.subnet_used:
            self.cloud.use_by_others(self.subnet_id, spec.subnet_used)
        (instance,) = tool.run_instances(spec.instance_type, self.subnet_id)
        self.instance_id = instance.instance_id
        self.metrics = CountingMetrics()
        api = SimEc2(self.cloud, instance.instance_id, "vpccni/0.1.0 ipamd", instance.private_ip)
        self.ipam = NodeIpam(
            api,
            instance.instance_id,
            self.config,
            self.clock,
            random.Random(spec.seed + 1),
            max_pods=self.max_pods,
            metrics=self.metrics,
            eni_config=eni_config,
        )
        self.running: list[IpamKey] = []
        self.waiting: list[IpamKey] = []
        self.converged = True
        self._next_pod = 0

    @staticmethod
    def _sibling_subnet(subnet: ipaddress.IPv4Network, vpc: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        for candidate in vpc.subnets(new_prefix=subnet.prefixlen):
            if not candidate.overlaps(subnet):
                return candidate
        raise NodeSimError("no room in the VPC for the custom-networking pod subnet")

    # --- steps ----------------------------------------------------------------------------------
    def _signature(self) -> tuple[Any, ...]:
        enis = tuple((e.eni_id, tuple(e.cidrs)) for e in self.ipam.ds.ordered_enis())
        return enis, self.ipam.ds.assigned, len(self.waiting)

    def _retry_waiting(self) -> None:
        """Retry waiting pods in order; the first refusal means no free address, so the rest wait too."""
        for index, key in enumerate(self.waiting):
            try:
                self.ipam.assign_pod(key, PodMetadata("default", key.container_id))
                self.running.append(key)
            except DatastoreError:
                self.waiting = self.waiting[index:]
                return
        self.waiting = []

    def _pool_at_limit(self) -> bool:
        """The pool holds all it ever may (max-pods or the type's addresses): a refused pod waits for a release."""
        return self.ipam.ds.total >= min(self.max_pods, self.address_capacity)

    def settle(self) -> bool:
        """Loop turns until nothing changes for `quiet_seconds`; False if the step limit is hit first."""
        start = self.clock.now()
        last_change, signature = start, self._signature()
        while self.clock.now() - start < self.spec.step_limit_seconds:
            self.ipam.loop_once()
            self._retry_waiting()
            now_signature = self._signature()
            if now_signature != signature:
                signature, last_change = now_signature, self.clock.now()
            elif self.clock.now() - last_change >= self.spec.quiet_seconds:
                return True
        self.converged = False
        return False

    def start(self) -> None:
        self.ipam.init()
        self.settle()

    def add_pod(self) -> None:
        key = IpamKey(NETWORK_NAME, f"pod-{self._next_pod:05d}", "eth0")
        self._next_pod += 1
        try:
            self.ipam.assign_pod(key, PodMetadata("default", key.container_id))
            self.running.append(key)
        except DatastoreError:
            self.waiting.append(key)
            if self._pool_at_limit():
                return  # nothing can change until a release: no loop turns, so --pods 100000 stays quick
        self.settle()

    def release_pod(self) -> None:
        if self.waiting:
            self.waiting.pop()
        elif self.running:
            self.ipam.release_pod(self.running.pop())
        self.settle()

    def run(self, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        self.start()
        for i in range(self.spec.pods):
            self.add_pod()
            if progress:
                progress("adding pods", i + 1, self.spec.pods)
        for i in range(self.spec.release):
            self.release_pod()
            if progress:
                progress("releasing pods", i + 1, self.spec.release)
        return self.summary()

    # --- results --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        ds = self.ipam.ds
        stats = ds.stats(self.clock.now())
        per_eni = [
            {
                "eni_id": e.eni_id,
                "device_index": e.device_number,
                "secondary_ips": sum(1 for c in e.cidrs.values() if not c.is_prefix),
                "prefixes": sum(1 for c in e.cidrs.values() if c.is_prefix),
                "assigned": e.assigned,
            }
            for e in ds.ordered_enis()
        ]
        calls = {k: int(v) for k, v in sorted(self.metrics.by_label("awscni_ec2api_req_count", "fn").items())}
        errors = {k: int(v) for k, v in sorted(self.metrics.by_label("awscni_aws_api_error_count", "error").items())}
        return {
            "instance_type": self.spec.instance_type,
            "mode": "prefix" if self.ipam.prefix_mode else "secondary-ip",
            "max_pods": self.max_pods,
            "host_network_pods": HOST_NETWORK_PODS,
            "pod_capacity": self.pod_capacity,
            "settings": effective_settings(self.config, self.spec.env),
            "enis": len(per_eni),
            "secondary_ips": sum(e["secondary_ips"] for e in per_eni),
            "prefixes": sum(e["prefixes"] for e in per_eni),
            "total_ips": stats.total,
            "assigned_ips": stats.assigned,
            "unused_ips": stats.avail,
            "pods_running": len(self.running),
            "pods_without_ip": len(self.waiting),
            "per_eni": per_eni,
            "ec2_calls": calls,
            "errors": errors,
            "subnet_free": self.cloud.subnet_pool(self.subnet_id).free_count,
            "converged": self.converged,
            "virtual_seconds": round(self.clock.now(), 3),
            "binding_limit": self.binding_limit(errors),
            "warnings": [*self.config.warnings, *self.capacity_warnings()],
        }

    def capacity_warnings(self) -> list[str]:
        if self.spec.pods <= self.pod_capacity:
            return []
        return [
            f"--pods {self.spec.pods} is more than this node can give addresses to ({self.pod_capacity}: "
            f"{self._capacity_words()}); {self.spec.pods - self.pod_capacity} will wait"
        ]

    def _capacity_words(self) -> str:
        return (
            f"max-pods {self.max_pods} less {HOST_NETWORK_PODS} host-network pods, "
            f"{self.address_capacity} pod addresses on its ENIs"
        )

    def binding_limit(self, errors: dict[str, int]) -> dict[str, str] | None:
        """What keeps waiting pods from an address, in words: the subnet, max-pods or the type's addresses."""
        if not self.waiting:
            return None
        if any(code in errors for code in EXHAUSTION_CODES) and self.ipam.ds.total < self.pod_capacity:
            return {
                "kind": "subnet",
                "message": f"the subnet ({self.spec.subnet_cidr}), not the instance, limits this node: "
                "use a larger --subnet-cidr",
            }
        if self.address_capacity < self.max_pods - HOST_NETWORK_PODS:
            return {
                "kind": "instance-addresses",
                "message": f"the type's address limit ({self.address_capacity} pod addresses) limits this node",
            }
        return {
            "kind": "max-pods",
            "message": f"max-pods ({self.max_pods}, of which {HOST_NETWORK_PODS} host-network) limits this node",
        }


def run_node_sim(spec: NodeSimSpec, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    return NodeSimulation(spec).run(progress)
