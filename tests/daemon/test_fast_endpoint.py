"""The plugin's fast endpoint: one length-prefixed JSON frame each way, same semantics as gRPC."""

from __future__ import annotations

import socket
from typing import Any

from tests.daemon.conftest import del_request, stub
from vpccni import __version__
from vpccni.cni import wire

PD_100 = {"ENABLE_PREFIX_DELEGATION": "true", "MINIMUM_IP_TARGET": "100", "WARM_IP_TARGET": "5"}


def request(container: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_version": __version__,
        "container_id": container,
        "if_name": "eth0",
        "network_name": "aws-cni",
        "pod_name": f"pod-{container}",
        "pod_namespace": "default",
        **extra,
    }


def test_add_del_ping_and_errors_over_the_fast_socket(daemon_factory: Any) -> None:
    daemon = daemon_factory("--instance-type", "m5.4xlarge", "--no-latency", env=PD_100)
    path = daemon.endpoints["fast_socket"]
    assert wire.call(path, {"op": "ping"}) == {"ok": True, "version": __version__}

    added = wire.call(path, {"op": "add", "request": request("f1")})
    assert added["ok"] and added["reply"]["success"]
    address = added["reply"]["addresses"][0]["ipv4"]
    assert added["reply"]["addresses"][0]["route_table_id"] == 254
    assert wire.call(path, {"op": "add", "request": request("f1")})["reply"]["addresses"][0]["ipv4"] == address
    assert wire.call(path, {"op": "check", "request": request("f1")})["address"]["ipv4"] == address
    assert daemon.metric("awscni_assigned_ip_addresses") == 1

    deleted = wire.call(path, {"op": "del", "request": request("f1", reason="PodDeleted")})
    assert deleted["ok"] and deleted["reply"]["addresses"][0]["ipv4"] == address
    assert wire.call(path, {"op": "del", "request": request("f1")})["reply"]["addresses"] == []

    wrong = wire.call(path, {"op": "add", "request": request("f2", client_version="9.9")})
    assert wrong["error"]["code"] == 1 and "wrong client version" in wrong["error"]["msg"]
    assert wire.call(path, {"op": "add", "request": {"container_id": 5}})["error"]["code"] == 6
    assert wire.call(path, {"op": "explode"})["error"]["code"] == 7
    missing = wire.call(path, {"op": "check", "request": request("nobody")})
    assert missing["ok"] is False and "no address" in missing["error"]["msg"]

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # not a frame at all
        raw.connect(path)
        raw.sendall(b"\x00\x00\x00\x05{{{{{")
        reply, _ = wire.receive(raw)
    assert reply["ok"] is False and reply["error"]["code"] == 6

    released = stub(daemon).DelNetwork(del_request("nobody"), timeout=10)  # the gRPC side still answers
    assert released.Success and list(released.IPAllocationMetadata) == []
    assert daemon.proc.poll() is None
    assert wire.call(path, {"op": "ping"})["ok"]
