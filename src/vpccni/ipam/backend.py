"""The CNIBackend service's semantics (ipamd spec §9) as plain method calls.

The daemon's gRPC servicer and its fast local endpoint both translate their wire format into these
requests, so the two transports cannot drift apart; the engine itself stays free of any transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vpccni.ipam.datastore import DatastoreError, IpamKey, PodMetadata, UnknownPod
from vpccni.ipam.node import NodeIpam


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


@dataclass(frozen=True)
class PodAddress:
    ipv4: str
    device_number: int
    route_table_id: int


@dataclass(frozen=True)
class AddReply:
    success: bool
    addresses: tuple[PodAddress, ...] = ()
    use_external_snat: bool = False
    vpc_v4_cidrs: tuple[str, ...] = ()
    network_policy_mode: str = ""
    reason: str = ""  # why Success is false; not on the reference's wire, logged and sent on the fast endpoint


@dataclass(frozen=True)
class DelReply:
    success: bool
    addresses: tuple[PodAddress, ...] = field(default_factory=tuple)
    network_policy_mode: str = ""


class CniBackend:
    """AddNetwork/DelNetwork against one node's engine. Not thread-safe: the caller serialises calls."""

    def __init__(self, node: NodeIpam, version: str) -> None:
        self.node = node
        self.version = version

    def add_network(self, request: AddRequest) -> AddReply:
        self.node.metrics.inc("awscni_add_ip_req_count")
        if request.client_version != self.version:
            raise VersionMismatch(request.client_version, self.version)
        if not (request.container_id and request.if_name and request.network_name):
            return AddReply(False, reason="ContainerID, IfName and NetworkName are required")
        if request.requires_multi_nic:
            return AddReply(False, reason="multi-NIC attachment requested but ENABLE_MULTI_NIC is not supported")
        key = IpamKey(request.network_name, request.container_id, request.if_name)
        metadata = PodMetadata(request.pod_namespace, request.pod_name, 1)
        try:
            assignment = self.node.assign_pod(key, metadata)
        except DatastoreError as exc:
            return AddReply(False, reason=str(exc))
        cfg = self.node.cfg
        cidrs = tuple(self.node.vpc_cidrs)
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
        gRPC UNKNOWN here, and the reference's plugin treats that error as success anyway."""
        self.node.metrics.inc("awscni_del_ip_req_count", reason=request.reason)
        if request.client_version != self.version:
            raise VersionMismatch(request.client_version, self.version)
        key = IpamKey(request.network_name, request.container_id, request.if_name)
        try:
            release = self.node.release_pod(key)
        except UnknownPod:
            return DelReply(True, (), self.node.cfg.network_policy_mode)
        address = PodAddress(release.address, release.device_number, release.route_table_id)
        return DelReply(True, (address,), self.node.cfg.network_policy_mode)
