"""`vpccni rpc`: talk to a running ipamd the way the CNI plugin does, without a container runtime.

AddNetwork/DelNetwork go over the daemon's gRPC socket (IPAM only, like the reference's gRPC: no network
namespace is touched); `pods` and `enis` read its introspection endpoint. For people exploring a daemon
started with `vpccni ipamd --cloud sim`.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer

from vpccni import __version__
from vpccni.cli.app import app
from vpccni.cli.output import console, fail, print_json

rpc_app = typer.Typer(
    help="A client for a running ipamd: AddNetwork/DelNetwork over gRPC, its pods and ENIs over introspection.",
    no_args_is_help=True,
)
app.add_typer(rpc_app, name="rpc")

DEFAULT_SOCKET = "/var/run/aws-node/ipamd.sock"
TIMEOUT = 10.0

SocketOption = Annotated[
    str,
    typer.Option("--socket", help="The daemon's gRPC unix socket (STATE/ipamd.sock), or HOST:PORT for TCP."),
]
PodOption = Annotated[str, typer.Option("--pod", help="The pod as NAMESPACE/NAME.")]
ContainerOption = Annotated[
    str | None, typer.Option("--container-id", help="The sandbox's container id [default: derived from --pod].")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _pod(value: str) -> tuple[str, str]:
    namespace, slash, name = value.partition("/")
    if not slash or not namespace or not name:
        fail(f"--pod {value!r}: expected NAMESPACE/NAME, e.g. --pod default/web-1")
    return namespace, name


def _target(socket: str) -> str:
    if not socket:
        fail("--socket: an empty path")
    return socket if ":" in socket and not socket.startswith("/") else f"unix:{socket}"


def _call(socket: str, method: str, request: Any) -> Any:
    """One call on a fresh channel, as the plugin makes it; an unreachable daemon is a runtime error (exit 1)."""
    import grpc

    from vpccni.daemon import rpc_pb2_grpc

    with grpc.insecure_channel(_target(socket)) as channel:
        stub = rpc_pb2_grpc.CNIBackendStub(channel)
        try:
            return getattr(stub, method)(request, timeout=TIMEOUT)
        except grpc.RpcError as exc:
            fail(f"{method} via {socket}: {exc.code().name.lower()}: {exc.details()}", code=1)


def _fields(pod: str, container_id: str | None, if_name: str) -> dict[str, Any]:
    namespace, name = _pod(pod)
    container = container_id or f"vpccni-rpc-{namespace}-{name}"
    return {
        "ClientVersion": __version__,
        "K8S_POD_NAME": name,
        "K8S_POD_NAMESPACE": namespace,
        "K8S_POD_INFRA_CONTAINER_ID": container,
        "ContainerID": container,
        "IfName": if_name,
        "NetworkName": "aws-cni",
    }


def _reply(reply: Any) -> dict[str, Any]:
    addresses = [
        {"address": m.IPv4Addr, "device_number": m.DeviceNumber, "route_table": m.RouteTableId}
        for m in reply.IPAllocationMetadata
    ]
    return {"success": bool(reply.Success), "addresses": addresses}


@rpc_app.command("add-network")
def add_network_cmd(
    pod: PodOption,
    container_id: ContainerOption = None,
    if_name: Annotated[str, typer.Option("--if-name", help="The pod's interface.")] = "eth0",
    socket: SocketOption = DEFAULT_SOCKET,
    as_json: JsonOption = False,
) -> None:
    """Ask ipamd for an address for a pod (AddNetwork); exits 1 when the pool has none to give."""
    from vpccni.daemon import rpc_pb2

    fields = _fields(pod, container_id, if_name)
    reply = _reply(_call(socket, "AddNetwork", rpc_pb2.AddNetworkRequest(Netns="", **fields)))
    if as_json:
        print_json(reply)
    elif reply["success"]:
        for a in reply["addresses"]:
            console.print(
                f"{pod}: {a['address']} (device {a['device_number']}, route table {a['route_table']})", highlight=False
            )
    if not reply["success"]:
        fail(f"AddNetwork for {pod}: no address (the warm pool is empty; kubelet would retry)", code=1)


@rpc_app.command("del-network")
def del_network_cmd(
    pod: PodOption,
    container_id: ContainerOption = None,
    if_name: Annotated[str, typer.Option("--if-name", help="The pod's interface.")] = "eth0",
    socket: SocketOption = DEFAULT_SOCKET,
    as_json: JsonOption = False,
) -> None:
    """Release a pod's address (DelNetwork); an unknown pod succeeds with no address, as in the reference."""
    from vpccni.daemon import rpc_pb2

    fields = _fields(pod, container_id, if_name)
    reply = _reply(_call(socket, "DelNetwork", rpc_pb2.DelNetworkRequest(Reason="PodDeleted", **fields)))
    if as_json:
        print_json(reply)
    else:
        released = ", ".join(a["address"] for a in reply["addresses"]) or "no address (unknown pod)"
        console.print(f"{pod}: released {released}", highlight=False)


IntrospectionOption = Annotated[str, typer.Option("--introspection", help="The daemon's introspection address.")]


def _introspect(address: str, path: str) -> Any:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
        fail(f"--introspection {address!r}: expected HOST:PORT, e.g. 127.0.0.1:61679")
    url = f"http://{address}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # noqa: S310 - an http URL we build
            return json.loads(answer.read())
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        fail(f"{url}: {getattr(exc, 'reason', exc)}", code=1)


@rpc_app.command("pods")
def pods_cmd(introspection: IntrospectionOption = "127.0.0.1:61679", as_json: JsonOption = False) -> None:
    """The pods ipamd has given addresses to (introspection /v1/pods)."""
    pods = _introspect(introspection, "/v1/pods")
    if as_json:
        print_json(pods)
        return
    for pod in pods:
        console.print(
            f"{pod['k8sPodNamespace']}/{pod['k8sPodName']} {pod['IPv4Addr']} (container {pod['containerID']})",
            highlight=False,
        )


@rpc_app.command("enis")
def enis_cmd(introspection: IntrospectionOption = "127.0.0.1:61679", as_json: JsonOption = False) -> None:
    """The node's ENIs and their addresses (introspection /v1/enis)."""
    enis = _introspect(introspection, "/v1/enis")
    if as_json:
        print_json(enis)
        return
    for card, view in enis.items():
        console.print(f"card {card}: {view['AssignedIPs']} of {view['TotalIPs']} addresses assigned", highlight=False)
        for eni in view["ENIs"].values():
            cidrs = eni["AvailableIPv4Cidrs"]
            console.print(
                f"  {eni['ID']} device {eni['DeviceNumber']}{' primary' if eni['IsPrimary'] else ''}: "
                f"{len(cidrs)} CIDRs",
                highlight=False,
            )


@rpc_app.command("health")
def health_cmd(
    socket: SocketOption = DEFAULT_SOCKET,
    service: Annotated[str, typer.Option("--service", help="The health service name to check.")] = (
        "grpc.health.v1.aws-node"
    ),
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the answer.")] = 5.0,
) -> None:
    """gRPC health check of a running ipamd, as the reference's grpc-health-probe does for the DaemonSet's
    readiness and liveness probes: exit 0 when SERVING, 1 otherwise."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(_target(socket)) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            fail(f"health of {service} via {socket}: {exc.code().name.lower()}: {exc.details()}", code=1)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    console.print(f"status: {status}", highlight=False)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise typer.Exit(1)
