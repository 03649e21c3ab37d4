"""The reference's gRPC API (`rpc.CNIBackend`, `rpc.ConfigServerBackend`) over a unix socket and/or TCP.

Translates protobuf messages to and from `vpccni.ipam.backend`; the semantics live there. Also serves
gRPC health (service `grpc.health.v1.aws-node`) and server reflection, as the reference does.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vpccni.daemon import rpc_pb2, rpc_pb2_grpc
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest, NotReady, PodAddress, VersionMismatch
from vpccni.ipam.checkpoint import CheckpointWriteError

log = logging.getLogger("vpccni.daemon.grpc")
HEALTH_SERVICE = "grpc.health.v1.aws-node"
MAX_MESSAGE = 64 * 1024  # the reference's requests are a few hundred bytes; anything larger is refused


@dataclass(frozen=True)
class NodeFacts:
    """What GetNetworkPolicyConfigs reports."""

    instance_id: str
    region: str
    node_ipv4: str
    network_policy_mode: str


def _addresses(addresses: tuple[PodAddress, ...]) -> list[Any]:
    return [
        rpc_pb2.IPAllocationMetadata(IPv4Addr=a.ipv4, DeviceNumber=a.device_number, RouteTableId=a.route_table_id)
        for a in addresses
    ]


class CniBackendServicer(rpc_pb2_grpc.CNIBackendServicer):
    def __init__(self, backend: CniBackend, lock: threading.Lock) -> None:
        self.backend = backend
        self.lock = lock

    def AddNetwork(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - proto names
        add = AddRequest(
            client_version=request.ClientVersion,
            container_id=request.ContainerID,
            if_name=request.IfName,
            network_name=request.NetworkName,
            netns=request.Netns,
            pod_name=request.K8S_POD_NAME,
            pod_namespace=request.K8S_POD_NAMESPACE,
            infra_container_id=request.K8S_POD_INFRA_CONTAINER_ID,
            requires_multi_nic=request.RequiresMultiNICAttachment,
        )
        try:
            with self.lock:
                reply = self.backend.add_network(add)
        except VersionMismatch as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        pod = f"{add.pod_namespace}/{add.pod_name}"
        if reply.success:
            log.info(
                "AddNetwork", extra={"pod": pod, "container": add.container_id, "address": reply.addresses[0].ipv4}
            )
        else:
            log.warning("AddNetwork failed", extra={"pod": pod, "container": add.container_id, "error": reply.reason})
        return rpc_pb2.AddNetworkReply(
            Success=reply.success,
            IPAllocationMetadata=_addresses(reply.addresses),
            UseExternalSNAT=reply.use_external_snat,
            VPCv4CIDRs=list(reply.vpc_v4_cidrs),
            NetworkPolicyMode=reply.network_policy_mode,
        )

    def DelNetwork(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - proto names
        delete = DelRequest(
            client_version=request.ClientVersion,
            container_id=request.ContainerID,
            if_name=request.IfName,
            network_name=request.NetworkName,
            reason=request.Reason,
            pod_name=request.K8S_POD_NAME,
            pod_namespace=request.K8S_POD_NAMESPACE,
            infra_container_id=request.K8S_POD_INFRA_CONTAINER_ID,
            pod_uid=request.K8S_POD_UID,
        )
        try:
            with self.lock:
                reply = self.backend.del_network(delete)
        except VersionMismatch as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except (CheckpointWriteError, NotReady) as exc:  # the pod keeps its address; kubelet retries the DEL
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        log.info(
            "DelNetwork", extra={"pod": f"{delete.pod_namespace}/{delete.pod_name}", "container": delete.container_id}
        )
        return rpc_pb2.DelNetworkReply(
            Success=reply.success,
            IPAllocationMetadata=_addresses(reply.addresses),
            NetworkPolicyMode=reply.network_policy_mode,
        )


class ConfigServerServicer(rpc_pb2_grpc.ConfigServerBackendServicer):
    def __init__(self, facts: Callable[[], NodeFacts]) -> None:
        self.facts = facts

    def GetNetworkPolicyConfigs(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        facts = self.facts()
        return rpc_pb2.NetworkPolicyAgentConfigReply(
            NetworkPolicyMode=facts.network_policy_mode,
            MultiNICEnabled=False,
            NodeIPv4=facts.node_ipv4,
            InstanceID=facts.instance_id,
            Region=facts.region,
        )


class GrpcServer:
    """grpcio server on a unix socket (0660, stale socket removed) and optionally 127.0.0.1:PORT.

    Health says NOT_SERVING until `set_serving(True)` (node init done). Messages over 64 KiB are refused
    by grpcio before any handler runs.
    """

    def __init__(
        self,
        backend: CniBackend,
        lock: threading.Lock,
        facts: Callable[[], NodeFacts],
        socket_path: str,
        listen: str = "",
    ) -> None:
        self.socket_path = socket_path
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="grpc"), options=options
        )
        rpc_pb2_grpc.add_CNIBackendServicer_to_server(CniBackendServicer(backend, lock), self.server)
        rpc_pb2_grpc.add_ConfigServerBackendServicer_to_server(ConfigServerServicer(facts), self.server)
        self.health = health.HealthServicer()
        self.set_serving(False)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [
            rpc_pb2.DESCRIPTOR.services_by_name["CNIBackend"].full_name,
            rpc_pb2.DESCRIPTOR.services_by_name["ConfigServerBackend"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, self.server)
        self.tcp_port = 0
        if socket_path:
            os.makedirs(os.path.dirname(os.path.abspath(socket_path)), mode=0o755, exist_ok=True)
            if os.path.exists(socket_path):
                os.unlink(socket_path)
            self.server.add_insecure_port(f"unix:{socket_path}")
        if listen:
            self.tcp_port = self.server.add_insecure_port(listen)

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(HEALTH_SERVICE, status)
        self.health.set("", status)

    def start(self) -> None:
        self.server.start()
        if self.socket_path:
            os.chmod(self.socket_path, 0o660)

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let in-flight ones finish (up to `grace` seconds)."""
        self.server.stop(grace).wait()
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
