"""ipamd under a slow or failing (simulated) EC2: pods never wait on EC2 they do not need, init retries while
EC2 is unreachable, throttling storms are survived, a damaged checkpoint is rebuilt without giving an
address twice, and bad flags are refused. Every ordering is asserted through events (metrics, log lines,
replies), never through timers."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from tests.daemon.conftest import add_request, add_until_assigned, del_request, stub
from vpccni.cli import app

FAST = ("--instance-type", "m5.large", "--no-latency")


def wait_for(condition: Any, what: str, timeout: float = 120.0) -> Any:
    """Poll until `condition()` is truthy (an event the test waits for), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def health(daemon: Any) -> int:
    stub_ = health_pb2_grpc.HealthStub(daemon.channel())
    reply = stub_.Check(health_pb2.HealthCheckRequest(service="grpc.health.v1.aws-node"), timeout=10)
    return int(reply.status)


def faults(daemon: Any, **body: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:{daemon.endpoints['introspection_port']}/v1/sim-faults"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def in_flight(daemon: Any, action: str) -> bool:
    """The call has started (counted at start) and not finished (its latency is observed at the end)."""
    started = daemon.metric("awscni_ec2api_req_count", fn=action) or 0
    finished = 0.0
    for status, error in (("200", "false"), ("RequestLimitExceeded", "true")):
        finished += daemon.metric("awscni_aws_api_latency_ms_count", api=action, error=error, status=status) or 0
    return started > finished


def test_addnetwork_and_metrics_are_served_while_an_eni_is_created(daemon_factory: Any) -> None:
    daemon = daemon_factory(*FAST, "--sim-latency", "CreateNetworkInterface=60")
    client = stub(daemon)
    first = client.AddNetwork(add_request("p0"), timeout=10)  # the pool now wants a second ENI
    assert first.Success
    wait_for(lambda: in_flight(daemon, "CreateNetworkInterface"), "CreateNetworkInterface to start")
    served = [client.AddNetwork(add_request(f"p{i}"), timeout=10) for i in range(1, 9)]
    assert all(reply.Success for reply in served)  # the primary ENI's 9 addresses, all given
    assert daemon.introspect("/v1/enis")["0"]["AssignedIPs"] == 9
    assert daemon.metric("awscni_assigned_ip_addresses") == 9  # a scrape answers meanwhile too
    refused = client.AddNetwork(add_request("p9"), timeout=10)
    assert not refused.Success  # the pool is empty until the new ENI arrives: a plain failure, no wait
    assert in_flight(daemon, "CreateNetworkInterface"), "every reply above came while the ENI was being created"
    assert daemon.metric("awscni_eni_allocated") == 1


def test_init_retries_while_ec2_is_unreachable_and_serves_once_it_answers(daemon_factory: Any) -> None:
    # 36 failed describes: the first three init attempts (12 each) fail, the fourth succeeds
    daemon = daemon_factory(
        *FAST, "--sim-fail", "DescribeNetworkInterfaces=EndpointConnectionError:36", until="ipamd listening"
    )
    assert health(daemon) == health_pb2.HealthCheckResponse.NOT_SERVING
    early = stub(daemon).AddNetwork(add_request("early"), timeout=10)
    assert not early.Success
    with pytest.raises(grpc.RpcError) as refused:  # the checkpoint's pods may not be restored yet
        stub(daemon).DelNetwork(del_request("early"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: any(e["msg"] == "ipamd ready" for e in daemon.log_entries()), "ipamd ready")
    messages = [e["msg"] for e in daemon.log_entries()]
    assert messages.index("ipamd ready") > messages.index("ipamd listening")
    retries = [i for i, m in enumerate(messages) if m == "node initialization failed; retrying"]
    assert len(retries) == 3 and max(retries) < messages.index("ipamd ready")
    assert health(daemon) == health_pb2.HealthCheckResponse.SERVING
    assert stub(daemon).AddNetwork(add_request("late"), timeout=10).Success


def test_a_throttling_storm_is_survived_pods_are_served_and_the_pool_recovers(daemon_factory: Any) -> None:
    daemon = daemon_factory(*FAST)
    mutating = ["CreateNetworkInterface", "AssignPrivateIpAddresses", "AttachNetworkInterface", "CreateTags"]
    faults(daemon, fail=[f"{action}=RequestLimitExceeded" for action in mutating])
    client = stub(daemon)
    assert client.AddNetwork(add_request("p0"), timeout=10).Success  # the pool now wants a second ENI
    wait_for(lambda: in_flight(daemon, "CreateNetworkInterface"), "a throttled CreateNetworkInterface")
    for i in range(1, 9):
        assert client.AddNetwork(add_request(f"p{i}"), timeout=10).Success  # served from the pool
    assert daemon.proc.poll() is None and daemon.metric("awscni_eni_allocated") == 1
    faults(daemon, clear=True)  # the storm ends
    wait_for(lambda: daemon.metric("awscni_eni_allocated") == 2, "the second ENI after the storm")
    address = add_until_assigned(client, "p9")
    enis = daemon.introspect("/v1/enis")["0"]["ENIs"]
    (second,) = [e for e in enis.values() if not e["IsPrimary"]]
    assert any(address in cidr["IPAddresses"] for cidr in second["AvailableIPv4Cidrs"].values())
    throttled = daemon.metric("awscni_aws_api_error_count", api="CreateNetworkInterface", error="RequestLimitExceeded")
    assert daemon.metric("awscni_ec2api_req_count", fn="CreateNetworkInterface") == (throttled or 0) + 1


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_checkpoint_is_rebuilt_from_ec2_without_giving_an_address_twice(
    daemon_factory: Any, damage: str
) -> None:
    settings: dict[str, str] = {}
    daemon = daemon_factory(*FAST, env=settings)
    client = stub(daemon)
    held = {f"c{i}": add_until_assigned(client, f"c{i}") for i in range(6)}
    daemon.kill()
    path = daemon.state_dir / "ipam.json"
    text = path.read_text()
    if damage == "truncated":
        cut = text.index('{"networkName"', text.index('{"networkName"', text.index('{"networkName"') + 1) + 1)
        path.write_text(text[: cut + 40])  # two whole records, then half of the third
    else:  # garbage between the records: every whole record is still read
        path.write_text(text.replace("}}, {", "}}, \x00garbage\xff, {"))

    again = daemon_factory(*FAST, env=settings, state_dir=daemon.state_dir)
    assert any(e["msg"].startswith("checkpoint unreadable") for e in again.log_entries())
    assert (daemon.state_dir / "ipam.json.damaged").exists()
    client = stub(again)
    salvaged = {"c0": held["c0"], "c1": held["c1"]} if damage == "truncated" else held
    for container, address in salvaged.items():  # whole records survive: those pods keep their addresses
        assert client.AddNetwork(add_request(container), timeout=10).IPAllocationMetadata[0].IPv4Addr == address
    fresh = {add_until_assigned(client, f"n{i}") for i in range(5)}
    assert not fresh & set(held.values()), "an address of a pod whose record was lost was given again"
    pods = again.introspect("/v1/pods")
    addresses = [p["IPv4Addr"] for p in pods]
    assert len(addresses) == len(set(addresses))
    held_back = {p["IPv4Addr"] for p in pods if p["containerID"].startswith("held:")}
    assert set(held.values()) - set(salvaged.values()) <= held_back  # lost records: their addresses held back


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--sim-fail=Explode=RequestLimitExceeded", "unknown action 'Explode'"),
        ("--sim-fail=CreateNetworkInterface", "expected ACTION=CODE[:COUNT]"),
        ("--sim-fail=CreateNetworkInterface=Throttling:0", "COUNT must be at least 1"),
        ("--sim-latency=CreateNetworkInterface=soon", "expected ACTION=SECONDS"),
        ("--sim-latency=CreateNetworkInterface=99999", "at most 3600 seconds"),
    ],
)
def test_bad_fault_flags_exit_2_with_one_line(flag: str, message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ipamd", "--state-dir", str(tmp_path), flag])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert not os.listdir(tmp_path)  # refused before anything started


def test_fault_control_rejects_bad_bodies(daemon_factory: Any) -> None:
    daemon = daemon_factory(*FAST)
    url = f"http://127.0.0.1:{daemon.endpoints['introspection_port']}/v1/sim-faults"
    for body in (b"{", b'{"fail": "x"}', b'{"explode": 1}', b'{"subnet_used": -1}', b'{"fail": ["Nope=X"]}'):
        request = urllib.request.Request(url, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
    assert faults(daemon, subnet_used=5)["subnet_used"] == 5
    assert faults(daemon, subnet_used=0)["subnet_used"] == 0
    assert stub(daemon).DelNetwork(del_request("nobody"), timeout=10).Success


def test_grpc_rejects_oversized_messages_and_garbage_and_keeps_serving(daemon_factory: Any) -> None:
    import socket

    daemon = daemon_factory(*FAST)
    with pytest.raises(grpc.RpcError) as refused:
        stub(daemon).AddNetwork(add_request("big", K8S_POD_NAME="x" * 200_000), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # not HTTP/2 at all
        raw.connect(daemon.endpoints["grpc_socket"])
        raw.sendall(b"\xff" * 4096)
        raw.settimeout(10)
        while raw.recv(65536):
            pass  # the server closes the connection
    assert stub(daemon).AddNetwork(add_request("after"), timeout=10).Success


def account_enis(state_dir: Path) -> list[Any]:
    """The simulated account as the stopped daemon left it on disk: every ENI, attached or not."""
    import random

    from vpccni.cloud.clock import RealClock
    from vpccni.cloud.sim import SimCloud, SimEc2, persist

    cloud = SimCloud(RealClock(), random.Random(0))
    assert persist.load(cloud, str(state_dir / "sim-cloud.state"))
    return SimEc2(cloud).describe_network_interfaces()


def test_an_eni_a_crash_left_detached_is_deleted_at_the_next_start(daemon_factory: Any) -> None:
    daemon = daemon_factory(*FAST, "--sim-latency", "AttachNetworkInterface=60")
    assert stub(daemon).AddNetwork(add_request("p0"), timeout=10).Success  # the pool now wants a second ENI
    wait_for(lambda: in_flight(daemon, "AttachNetworkInterface"), "AttachNetworkInterface to start")
    daemon.kill()  # created, never attached
    assert [e.status for e in account_enis(daemon.state_dir)].count("available") == 1

    again = daemon_factory(*FAST, state_dir=daemon.state_dir)
    wait_for(lambda: any(e["msg"] == "deleted 1 ENIs a crash left detached" for e in again.log_entries()), "cleanup")
    assert again.terminate() == 0
    assert [e.status for e in account_enis(daemon.state_dir)].count("available") == 0


def test_an_exhausted_subnet_refuses_pods_plainly_and_backs_off(daemon_factory: Any) -> None:
    """Capacity returning is in bench/chaos.py: the reference's 120 s back-off is too long for make test."""
    from vpccni import __version__
    from vpccni.cni import wire

    daemon = daemon_factory(*FAST, "--subnet-cidr", "10.0.0.0/26")
    assert faults(daemon, subnet_used=1000)["subnet_free"] == 0
    path = daemon.endpoints["fast_socket"]
    fields = {"client_version": __version__, "if_name": "eth0", "network_name": "aws-cni"}
    replies = [wire.call(path, {"op": "add", "request": {**fields, "container_id": f"x{i}"}}) for i in range(10)]
    assert [r["ok"] for r in replies] == [True] * 9 + [False]  # the primary ENI's 9, then a plain refusal
    assert replies[-1]["error"]["code"] == 11 and "no available IP" in replies[-1]["error"]["details"]
    code = "InsufficientFreeAddressesInSubnet"
    wait_for(lambda: daemon.metric("awscni_aws_api_error_count", api="CreateNetworkInterface", error=code), "a try")
    assert daemon.proc.poll() is None
    for _ in range(3):  # more refused pods do not make ipamd hammer EC2: one attempt per back-off
        assert not wire.call(path, {"op": "add", "request": {**fields, "container_id": "late"}})["ok"]
    assert daemon.metric("awscni_ec2api_req_count", fn="CreateNetworkInterface") == 1


def test_the_fast_socket_closes_on_oversized_frames_and_keeps_serving(daemon_factory: Any) -> None:
    import socket

    from vpccni.cni import wire

    daemon = daemon_factory(*FAST)
    path = daemon.endpoints["fast_socket"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # a length over the frame limit
        raw.connect(path)
        raw.sendall((2**31).to_bytes(4, "big") + b"{}")
        reply, _ = wire.receive(raw)
    assert reply["ok"] is False and "over the" in reply["error"]["details"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # a plugin frame over its 2 MiB limit
        raw.connect(path)
        raw.settimeout(30)
        try:
            raw.sendall(b"VPCCNI1\0" + b"A" * (3 << 20))
            answer = raw.recv(16)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""  # closed by the daemon before all of it was read: that is the point
        assert answer == b""
    assert wire.call(path, {"op": "ping"})["ok"] and stub(daemon).AddNetwork(add_request("ok"), timeout=10).Success


def test_a_burst_of_plugin_connections_is_queued_not_refused(daemon_factory: Any) -> None:
    """Plugins connect with a timeout (a non-blocking connect): a full accept backlog would be EAGAIN."""
    import threading

    from vpccni.cni import wire

    daemon = daemon_factory(*FAST)
    path = daemon.endpoints["fast_socket"]
    start = threading.Barrier(64)
    outcomes: list[object] = []

    def ping() -> None:
        start.wait()
        try:
            outcomes.append(wire.call(path, {"op": "ping"}, timeout=30)["ok"])
        except OSError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=ping) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == [True] * 64
