"""The CNIBackend service's semantics (ipamd spec §9) as plain method calls.

The daemon's gRPC servicer and its fast local endpoint both translate their wire format into these
requests, so the two transports cannot drift apart; the engine itself stays free of any transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from vpccni.ipam.checkpoint import CheckpointWriteError
from vpccni.ipam.datastore import DatastoreError, IpamKey, PodMetadata, UnknownPod
from vpccni.ipam.node import NodeIpam

NOT_READY: Final = "ipamd is not ready: node initialization has not finished"


class Durability(Protocol):
    """When a change is durable: the daemon's group-committed checkpoint; the simulators' at once."""

    def generation(self) -> int:
        """The newest change so far (read right after making one, under the engine lock)."""
        ...

    def wait(self, generation: int) -> None:
        """Return once `generation` is durable; raise CheckpointWriteError if it cannot be made so."""
        ...


class Immediate:
    """Durability of an in-memory or synchronously written checkpoint: every change is durable at once."""

    def generation(self) -> int:
        return 0

    def wait(self, generation: int) -> None:
        return None


class NotReady(Exception):
    """Node init has not finished: the datastore may not yet hold the pods of the checkpoint."""

    def __init__(self) -> None:
        super().__init__(NOT_READY)


class VersionMismatch(Exception):
    """The client's version differs from the daemon's (gRPC FAILED_PRECONDITION)."""

    def __init__(self, client: str, server: str) -> None:
        super().__init__(f'wrong client version "{client}" (!= "{server}")')


@dataclass(frozen=True)
class AddRequest:
    client_version: str
    container_id: str
    if_name: str
    network_name: str
    netns: str = ""
    pod_name: str = ""
    pod_namespace: str = ""
    infra_container_id: str = ""
    requires_multi_nic: bool = False

    def __init__(
        self,
        client_version: str,
        container_id: str,
        if_name: str,
        network_name: str,
        netns: str = "",
        pod_name: str = "",
        pod_namespace: str = "",
        infra_container_id: str = "",
        requires_multi_nic: bool = False,
    ) -> None:
        object.__setattr__(self, "client_version", client_version)
        object.__setattr__(self, "container_id", container_id)
        object.__setattr__(self, "if_name", if_name)
        object.__setattr__(self, "network_name", network_name)
        object.__setattr__(self, "netns", netns)
        object.__setattr__(self, "pod_name", pod_name)
        object.__setattr__(self, "pod_namespace", pod_namespace)
        object.__setattr__(self, "infra_container_id", infra_container_id)
        object.__setattr__(self, "requires_multi_nic", requires_multi_nic)


@dataclass(frozen=True)
class DelRequest:
    client_version: str
    container_id: str
    if_name: str
    network_name: str
    reason: str = "PodDeleted"
    pod_name: str = ""
    pod_namespace: str = ""
    infra_container_id: str = ""
    pod_uid: str = ""

    def __init__(
        self,
        client_version: str,
        container_id: str,
        if_name: str,
        network_name: str,
        reason: str = "PodDeleted",
        pod_name: str = "",
        pod_namespace: str = "",
        infra_container_id: str = "",
        pod_uid: str = "",
    ) -> None:
        object.__setattr__(self, "client_version", client_version)
        object.__setattr__(self, "container_id", container_id)
        object.__setattr__(self, "if_name", if_name)
        object.__setattr__(self, "network_name", network_name)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "pod_name", pod_name)
        object.__setattr__(self, "pod_namespace", pod_namespace)
        object.__setattr__(self, "infra_container_id", infra_container_id)
        object.__setattr__(self, "pod_uid", pod_uid)


@dataclass(frozen=True)
class PodAddress:
    ipv4: str
    device_number: int
    route_table_id: int

    def __init__(self, ipv4: str, device_number: int, route_table_id: int) -> None:
        object.__setattr__(self, "ipv4", ipv4)
        object.__setattr__(self, "device_number", device_number)
        object.__setattr__(self, "route_table_id", route_table_id)


@dataclass(frozen=True)
class AddReply:
    success: bool
    addresses: tuple[PodAddress, ...] = ()
    use_external_snat: bool = False
    vpc_v4_cidrs: tuple[str, ...] = ()
    network_policy_mode: str = ""
    reason: str = ""  # why Success is false; not on the reference's wire, logged and sent on the fast endpoint

    def __init__(
        self,
        success: bool,
        addresses: tuple[PodAddress, ...] = (),
        use_external_snat: bool = False,
        vpc_v4_cidrs: tuple[str, ...] = (),
        network_policy_mode: str = "",
        reason: str = "",
    ) -> None:
        object.__setattr__(self, "success", success)
        object.__setattr__(self, "addresses", addresses)
        object.__setattr__(self, "use_external_snat", use_external_snat)
        object.__setattr__(self, "vpc_v4_cidrs", vpc_v4_cidrs)
        object.__setattr__(self, "network_policy_mode", network_policy_mode)
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True)
class DelReply:
    success: bool
    addresses: tuple[PodAddress, ...] = field(default_factory=tuple)
    network_policy_mode: str = ""

    def __init__(self, success: bool, addresses: tuple[PodAddress, ...] = (), network_policy_mode: str = "") -> None:
        object.__setattr__(self, "success", success)
        object.__setattr__(self, "addresses", addresses)
        object.__setattr__(self, "network_policy_mode", network_policy_mode)


class CniBackend:
    """AddNetwork/DelNetwork against one node's engine.

    The caller holds the engine's lock (`node.lock`, if any) around each call, as for every engine
    call; a reply waits for its change to be durable with that lock let go, so concurrent changes share
    one checkpoint write. A change whose checkpoint cannot be written is undone and reported.
    """

    def __init__(self, node: NodeIpam, version: str, durability: Durability | None = None) -> None:
        self.node = node
        self.version = version
        self.durability: Durability = durability or Immediate()

    def _durable(self, node: NodeIpam) -> str:
        """Wait, without the engine lock, until every change so far is durable; "" or why not."""
        if isinstance(self.durability, Immediate):  # the simulators': nothing to wait for, on every pod
            return ""
        generation = self.durability.generation()
        try:
            with node.unlocked():
                self.durability.wait(generation)
        except CheckpointWriteError as exc:
            return f"checkpoint write failed, nothing changed: {exc}"
        return ""

    def add_network(self, request: AddRequest) -> AddReply:
        node = self.node
        node.metrics.inc("awscni_add_ip_req_count")
        if request.client_version != self.version:
            raise VersionMismatch(request.client_version, self.version)
        if not (request.container_id and request.if_name and request.network_name):
            return AddReply(False, reason="ContainerID, IfName and NetworkName are required")
        if request.requires_multi_nic:
            return AddReply(False, reason="multi-NIC attachment requested but ENABLE_MULTI_NIC is not supported")
        if not node.initialized:
            return AddReply(False, reason=NOT_READY)
        key = IpamKey(request.network_name, request.container_id, request.if_name)
        metadata = PodMetadata(request.pod_namespace, request.pod_name, 1)
        new = node.ds.lookup(key) is None
        try:
            assignment = node.assign_pod(key, metadata)
        except DatastoreError as exc:
            return AddReply(False, reason=str(exc))
        failure = self._durable(node)
        if failure:
            if new and self.node is node:
                node.take_back(key)  # the pod never heard of this address: straight back to the pool
            return AddReply(False, reason=failure)
        cfg = node.cfg
        cidrs = tuple(node.vpc_cidrs)
        if not cfg.external_snat:
            cidrs += tuple(cfg.exclude_snat_cidrs)
        address = PodAddress(assignment.address, assignment.device_number, assignment.route_table_id)
        return AddReply(True, (address,), cfg.external_snat, cidrs, cfg.network_policy_mode)

    def lookup(self, request: AddRequest) -> PodAddress | None:
        """The address this key holds, if any (CNI CHECK)."""
        found = self.node.ds.lookup(IpamKey(request.network_name, request.container_id, request.if_name))
        if found is None:
            return None
        eni, _cidr, entry = found
        return PodAddress(entry.address, eni.device_number, eni.route_table_id)

    def del_network(self, request: DelRequest) -> DelReply:
        """Release a pod's address. An unknown key succeeds with no address: the issue overrides the spec's
        gRPC UNKNOWN here, and the reference's plugin treats that error as success anyway.

        Raises CheckpointWriteError when the release could not be made durable (the pod keeps its address),
        and NotReady before node init (an unknown pod then may just not be restored yet)."""
        node = self.node
        node.metrics.inc("awscni_del_ip_req_count", 1.0, (("reason", request.reason),))
        if request.client_version != self.version:
            raise VersionMismatch(request.client_version, self.version)
        if not node.initialized:
            raise NotReady()
        key = IpamKey(request.network_name, request.container_id, request.if_name)
        found = node.ds.lookup(key)
        if found is None:  # what release_pod would say (UnknownPod), without the exception: a failed sandbox's DEL
            return DelReply(True, (), node.cfg.network_policy_mode)
        held = (found[2].metadata, found[2].assigned_time)
        try:
            release = node.release_pod(key)
        except UnknownPod:
            return DelReply(True, (), node.cfg.network_policy_mode)
        failure = self._durable(node)
        if failure:
            if self.node is node:
                node.give_back(key, held[0], release.address, held[1])
            raise CheckpointWriteError(failure)
        address = PodAddress(release.address, release.device_number, release.route_table_id)
        return DelReply(True, (address,), node.cfg.network_policy_mode)
