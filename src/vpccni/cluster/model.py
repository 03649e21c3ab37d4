"""The cluster's objects: pods and nodes, as the scheduler and the autoscaler see them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from vpccni.cluster.clocks import LocalClock
from vpccni.ipam.backend import CniBackend
from vpccni.ipam.metrics import CountingMetrics
from vpccni.ipam.node import NodeIpam

CYCLE = 5.0
HALF = 2.5


class Phase(StrEnum):
    UNSCHEDULABLE = "unschedulable"  # Pending, PodScheduled=False
    WAITING_FOR_IP = "waiting_for_ip"  # bound, sandbox failing: ContainerCreating
    RUNNING = "running"


@dataclass(eq=False)
class Pod:
    name: str
    owner: str  # deployment or daemonset name
    namespace: str
    cpu: float
    memory: float
    host_network: bool
    daemonset: bool
    created: float
    phase: Phase = Phase.UNSCHEDULABLE
    node: Node | None = None
    started: float | None = None
    sandbox_attempts: int = 0
    deleted: bool = False
    unschedulable: bool = False  # the scheduler tried and failed: PodScheduled=False, reason Unschedulable
    bound_at: float | None = None  # the last binding to a node
    lifetime: float | None = None  # job and arrival pods: seconds of work once Running, then deleted
    revision: int = 0  # deployment pods: the pod template revision (a rolling restart makes a new one)

    @property
    def measured_for_ip_wait(self) -> bool:
        """Workload pods on the pod network: host-network and DaemonSet pods are left out of the IP-wait figures."""
        return not self.host_network and not self.daemonset

    @property
    def container_id(self) -> str:
        return self.name


@dataclass(eq=False)
class Node:
    name: str
    group: str
    instance_type: str
    instance_id: str
    cpu: float
    memory: float
    max_pods: int
    address_capacity: int  # pod addresses the node's ENIs can ever hold
    created: float
    clock: LocalClock
    metrics: CountingMetrics = field(default_factory=CountingMetrics)
    ipam: NodeIpam | None = None
    backend: CniBackend | None = None
    ready: bool = False
    tainted: bool = False
    pods: dict[str, Pod] = field(default_factory=dict)
    grid_origin: float = 0.0  # cycles at origin + 2.5 + 5k, reconcile checks 2.5 s later
    step_at: float | None = None  # the pending cycle event's time (None: asleep)
    step_token: int = 0
    unsynced: bool = True  # an EC2-side change not yet followed by a no-op reconcile
    unneeded_since: float | None = None
    cpu_requested: float = 0.0
    memory_requested: float = 0.0

    def next_cycle_after(self, t: float) -> float:
        """The first cycle instant strictly after `t` on this node's 5 s grid."""
        k = max(math.floor((t - self.grid_origin - HALF) / CYCLE) + 1, 0)
        when = self.grid_origin + HALF + k * CYCLE
        return when + CYCLE if when <= t + 1e-9 else when  # float rounding can land on t itself

    def bind(self, pod: Pod) -> None:
        self.pods[pod.name] = pod
        pod.node = self
        self.cpu_requested += pod.cpu
        self.memory_requested += pod.memory

    def unbind(self, pod: Pod) -> None:
        if self.pods.pop(pod.name, None) is not None:
            self.cpu_requested -= pod.cpu
            self.memory_requested -= pod.memory
        pod.node = None

    def fits(self, pod: Pod, address_limit: int | None = None) -> bool:
        """The scheduler's filters (cluster spec §1.2); with `address_limit`, also a pod-address budget."""
        if not self.ready or self.tainted or len(self.pods) >= self.max_pods:
            return False
        if self.cpu_requested + pod.cpu > self.cpu + 1e-9 or self.memory_requested + pod.memory > self.memory + 1e-9:
            return False
        if address_limit is not None and not pod.host_network:
            using = sum(1 for p in self.pods.values() if not p.host_network)
            return using < address_limit
        return True

    def utilization(self) -> float:
        return max(self.cpu_requested / self.cpu if self.cpu else 0.0, self.memory_requested / self.memory)
