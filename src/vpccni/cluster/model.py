"""The cluster's objects: pods, nodes, node groups, deployments, and the capacity arithmetic they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, NamedTuple

from vpccni import catalog
from vpccni.cluster.clocks import LocalClock
from vpccni.cluster.node_metrics import NodeCounters
from vpccni.cluster.scenario import NodeGroupSpec, RolloutSpec
from vpccni.ipam.backend import CniBackend
from vpccni.ipam.config import IpamConfig
from vpccni.ipam.node import NodeIpam
from vpccni.ipam.timing import POOL_CYCLE, POOL_HALF_CYCLE

FIT_TOLERANCE: Final = 1e-9  # requests that sum to exactly a node's CPU or memory fit despite float rounding


class Phase(StrEnum):
    UNSCHEDULABLE = "unschedulable"  # Pending, PodScheduled=False
    WAITING_FOR_IP = "waiting_for_ip"  # bound, sandbox failing: ContainerCreating
    RUNNING = "running"


Shape = tuple[float, float, bool]  # what `Capacity.fits` reads of a pod: cpu, memory, host network


@dataclass(eq=False, slots=True)
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

    def __init__(
        self,
        name: str,
        owner: str,
        namespace: str,
        cpu: float,
        memory: float,
        host_network: bool,
        daemonset: bool,
        created: float,
        phase: Phase = Phase.UNSCHEDULABLE,
        node: Node | None = None,
        started: float | None = None,
        sandbox_attempts: int = 0,
        deleted: bool = False,
        unschedulable: bool = False,
        bound_at: float | None = None,
        lifetime: float | None = None,
        revision: int = 0,
    ) -> None:
        self.name = name
        self.owner = owner
        self.namespace = namespace
        self.cpu = cpu
        self.memory = memory
        self.host_network = host_network
        self.daemonset = daemonset
        self.created = created
        self.phase = phase
        self.node = node
        self.started = started
        self.sandbox_attempts = sandbox_attempts
        self.deleted = deleted
        self.unschedulable = unschedulable
        self.bound_at = bound_at
        self.lifetime = lifetime
        self.revision = revision

    @property
    def fit_shape(self) -> Shape:
        """All `Capacity.fits` reads of a pod: pods of one shape fit the same nodes."""
        return (self.cpu, self.memory, self.host_network)

    @property
    def measured_for_ip_wait(self) -> bool:
        """Workload pods on the pod network: host-network and DaemonSet pods are left out of the IP-wait figures."""
        return not self.host_network and not self.daemonset

    @property
    def container_id(self) -> str:
        return self.name


@dataclass(slots=True)
class Capacity:
    """What a node (or an imagined one) holds against what it can hold: pods, CPU, memory, pod addresses.

    The scheduler's filters (cluster spec §1.2), the autoscaler's bin packing onto node templates (§2.3)
    and its scale-down check that pods fit elsewhere (§2.5) all ask this one question.
    """

    max_pods: int
    cpu: float
    memory: float
    address_limit: int | None = None  # ip_aware: pod addresses the node can hold; None: not counted
    pods: int = 0
    cpu_used: float = 0.0
    memory_used: float = 0.0
    addresses: int = 0  # pods on the pod network (host-network pods take no address)

    def fits(self, pod: Pod) -> bool:
        if self.pods + 1 > self.max_pods:
            return False
        if self.cpu_used + pod.cpu > self.cpu + FIT_TOLERANCE:
            return False
        if self.memory_used + pod.memory > self.memory + FIT_TOLERANCE:
            return False
        return self.address_limit is None or pod.host_network or self.addresses + 1 <= self.address_limit

    def add(self, pod: Pod) -> None:
        self.pods += 1
        self.cpu_used += pod.cpu
        self.memory_used += pod.memory
        if not pod.host_network:
            self.addresses += 1

    def remove(self, pod: Pod) -> None:
        self.pods -= 1
        self.cpu_used -= pod.cpu
        self.memory_used -= pod.memory
        if not pod.host_network:
            self.addresses -= 1

    def copy(self) -> Capacity:
        return replace(self)

    def utilization(self) -> float:
        return max(self.cpu_used / self.cpu if self.cpu else 0.0, self.memory_used / self.memory)


@dataclass(eq=False, slots=True)
class Node:
    name: str
    group: str
    instance_type: str
    instance_id: str
    subnet: str  # the scenario's name of the subnet the instance was launched in
    capacity: Capacity
    address_capacity: int  # pod addresses the node's ENIs can ever hold
    created: float
    clock: LocalClock
    metrics: NodeCounters = field(default_factory=NodeCounters)
    ipam: NodeIpam | None = None
    backend: CniBackend | None = None
    ready: bool = False
    tainted: bool = False
    pods: dict[str, Pod] = field(default_factory=dict)
    grid_origin: float = 0.0  # cycles at origin + 2.5 + 5k, reconcile checks 2.5 s later
    step_at: float | None = None  # the pending cycle event's time (None: asleep)
    step_token: int = 0
    unsynced: bool = True  # an EC2-side change not yet followed by a no-op reconcile
    quiet_before: float | None = None  # cycles before this instant are known no-ops (None: not known)
    unneeded_since: float | None = None

    @property
    def cpu(self) -> float:
        return self.capacity.cpu

    @property
    def memory(self) -> float:
        return self.capacity.memory

    @property
    def max_pods(self) -> int:
        return self.capacity.max_pods

    def next_cycle_after(self, t: float) -> float:
        """The first cycle instant strictly after `t` on this node's 5 s grid."""
        k = max(math.floor((t - self.grid_origin - POOL_HALF_CYCLE) / POOL_CYCLE) + 1, 0)
        when = self.grid_origin + POOL_HALF_CYCLE + k * POOL_CYCLE
        return when + POOL_CYCLE if when <= t + 1e-9 else when  # float rounding can land on t itself

    def bind(self, pod: Pod) -> None:
        self.pods[pod.name] = pod
        pod.node = self
        self.capacity.add(pod)

    def unbind(self, pod: Pod) -> None:
        if self.pods.pop(pod.name, None) is not None:
            self.capacity.remove(pod)
        pod.node = None

    def fits(self, pod: Pod) -> bool:
        """The scheduler's filters (cluster spec §1.2): Ready, not tainted, and room for the pod."""
        return self.ready and not self.tainted and self.capacity.fits(pod)

    def utilization(self) -> float:
        return self.capacity.utilization()


@dataclass(slots=True)
class DaemonSetPods:
    name: str
    namespace: str
    cpu: float
    memory: float
    host_network: bool


@dataclass
class Group:
    spec: NodeGroupSpec
    limits: catalog.InstanceLimits
    config: IpamConfig
    nodes: list[Node] = field(default_factory=list)
    launched: int = 0


@dataclass
class Deployment:
    name: str
    namespace: str
    cpu: float
    memory: float
    host_network: bool
    replicas: int = 0
    pods: list[Pod] = field(default_factory=list)
    serial: int = 0
    revision: int = 0
    rollout: RolloutSpec | None = None  # the RollingUpdate in progress, if any
    sync_queued: bool = False


class Launched(NamedTuple):
    """What raising a group's size did: instances launched, and the last refusal (None: no refusal)."""

    nodes: int
    error: str | None
