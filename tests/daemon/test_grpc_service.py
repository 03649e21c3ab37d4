"""ipamd as a subprocess, driven over its unix socket by a grpcio client built from the proto."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.daemon.conftest import add_request, add_until_assigned, del_request, stub
from vpccni import __version__
from vpccni.daemon import rpc_pb2_grpc

PD_100 = {"ENABLE_PREFIX_DELEGATION": "true", "MINIMUM_IP_TARGET": "100", "WARM_IP_TARGET": "5"}


@pytest.fixture
def pd_daemon(daemon_factory: Any) -> Any:
    """m5.4xlarge with prefix delegation pre-scaled to 100 addresses: seven /28s on the primary ENI."""
    return daemon_factory("--instance-type", "m5.4xlarge", "--no-latency", env=PD_100)


def test_add_100_pods_then_delete_them_metrics_and_introspection_follow(pd_daemon: Any) -> None:
    client = stub(pd_daemon)
    addresses = {f"c{i}": add_until_assigned(client, f"c{i}") for i in range(100)}
    assert len(set(addresses.values())) == 100
    assert pd_daemon.metric("awscni_assigned_ip_addresses") == 100
    assert pd_daemon.metric("awscni_total_ip_addresses") == 112  # 7 prefixes × 16
    assert pd_daemon.metric("awscni_total_ipv4_prefixes") == 7
    assert pd_daemon.metric("awscni_eni_allocated") == 1
    assert pd_daemon.metric("awscni_add_ip_req_count") == 100
    assert pd_daemon.metric("awscni_eni_max") == 8

    enis = pd_daemon.introspect("/v1/enis")["0"]
    assert (enis["TotalIPs"], enis["AssignedIPs"]) == (112, 100)
    (eni,) = enis["ENIs"].values()
    assert eni["IsPrimary"] and eni["DeviceNumber"] == 0 and eni["RouteTableID"] == 254
    assert pd_daemon.metric("awscni_assigned_ip_per_eni", eni=eni["ID"]) == 100
    held = {
        address: entry["IPAMMetadata"]["k8sPodName"]
        for cidr in eni["AvailableIPv4Cidrs"].values()
        for address, entry in cidr["IPAddresses"].items()
        if entry["IPAMMetadata"]["k8sPodName"]
    }
    assert held == {address: f"pod-{c}" for c, address in addresses.items()}
    assert all(cidr["IsPrefix"] and cidr["Cidr"]["Mask"] == "////8A==" for cidr in eni["AvailableIPv4Cidrs"].values())
    pods = {p["containerID"]: p["IPv4Addr"] for p in pd_daemon.introspect("/v1/pods")}
    assert pods == addresses
    checkpoint = json.loads((pd_daemon.state_dir / "ipam.json").read_text())
    assert checkpoint["version"] == "vpc-cni-ipam/1"
    assert {a["containerID"]: a["ipv4"] for a in checkpoint["allocations"]} == addresses

    again = client.AddNetwork(add_request("c7"))  # idempotent: same key, same address
    assert again.Success and again.IPAllocationMetadata[0].IPv4Addr == addresses["c7"]
    assert list(again.VPCv4CIDRs) == ["10.0.0.0/16"]

    for container, address in addresses.items():
        reply = client.DelNetwork(del_request(container))
        assert reply.Success and reply.IPAllocationMetadata[0].IPv4Addr == address
    assert pd_daemon.metric("awscni_assigned_ip_addresses") == 0
    assert pd_daemon.metric("awscni_del_ip_req_count", reason="PodDeleted") == 100
    assert pd_daemon.introspect("/v1/enis")["0"]["AssignedIPs"] == 0
    assert json.loads((pd_daemon.state_dir / "ipam.json").read_text())["allocations"] == []


def test_unknown_pod_bad_version_and_missing_fields_never_kill_the_daemon(pd_daemon: Any) -> None:
    client = stub(pd_daemon)
    unknown = client.DelNetwork(del_request("never-added"))
    assert unknown.Success and list(unknown.IPAllocationMetadata) == []

    with pytest.raises(grpc.RpcError) as failed:
        client.AddNetwork(add_request("c1", version="0.0.0-other"))
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'wrong client version "0.0.0-other"' in failed.value.details()

    assert client.AddNetwork(add_request("", ContainerID="")).Success is False

    garbage = pd_daemon.channel().unary_unary(
        "/rpc.CNIBackend/AddNetwork", request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw
    )
    with pytest.raises(grpc.RpcError) as malformed:
        garbage(b"\xff\xff\xff\xff not a protobuf")
    assert malformed.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)

    assert client.AddNetwork(add_request("c1")).Success  # still serving
    assert pd_daemon.proc.poll() is None


def test_no_address_is_a_plain_failure_and_a_retry_after_the_refill_succeeds(daemon_factory: Any) -> None:
    daemon = daemon_factory("--instance-type", "m5.large", "--no-latency")
    client = stub(daemon)
    first = [client.AddNetwork(add_request(f"c{i}")) for i in range(9)]
    assert all(reply.Success for reply in first)  # WARM_ENI_TARGET=1: the primary ENI's 9 secondaries
    tenth = client.AddNetwork(add_request("c9"))
    assert tenth.Success is False and list(tenth.IPAllocationMetadata) == []
    assert daemon.metric("awscni_no_available_ip_addresses") == 1
    add_until_assigned(client, "c9")  # the pool manager attaches a second ENI within a cycle or two
    assert daemon.metric("awscni_eni_allocated") == 2
    assert daemon.metric("awscni_ec2api_req_count", fn="CreateNetworkInterface") == 1
    assert daemon.metric("awscni_ec2api_req_count", fn="AttachNetworkInterface") == 1


def test_health_config_server_and_introspection_paths(pd_daemon: Any) -> None:
    channel = pd_daemon.channel()
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service="grpc.health.v1.aws-node"))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    config = rpc_pb2_grpc.ConfigServerBackendStub(channel).GetNetworkPolicyConfigs(empty_pb2.Empty())
    assert config.InstanceID.startswith("i-") and config.Region == "us-west-2"
    assert config.NodeIPv4.startswith("10.0.0.")

    assert pd_daemon.introspect("/nonsense") == {
        "AvailableCommands": [
            "/v1/enis",
            "/v1/eni-configs",
            "/v1/networkutils-env-settings",
            "/v1/ipamd-env-settings",
            "/v1/warm-pool",
        ]
    }
    assert pd_daemon.introspect("/v1/warm-pool")["policy"] == "reference"
    assert pd_daemon.introspect("/v1/ipamd-env-settings") == {
        "WARM_IP_TARGET": 5,
        "WARM_ENI_TARGET": 1,
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": False,
        "AWS_MANAGE_ENIS_NON_SCHEDULABLE": False,
        "ENABLE_SUBNET_DISCOVERY": True,
    }
    utils = pd_daemon.introspect("/v1/networkutils-env-settings")
    assert utils["AWS_VPC_ENI_MTU"] == 9001 and utils["AWS_VPC_K8S_CNI_VETHPREFIX"] == "eni"
    assert pd_daemon.introspect("/v1/eni-configs") == ""
    assert (
        pd_daemon.metric("awscni_build_info", goversion=__import__("platform").python_version(), version=__version__)
        == 1
    )


def test_adaptive_warm_pool_in_the_daemon(daemon_factory: Any) -> None:
    """WARM_POOL_POLICY=adaptive runs unchanged on the real clock: its target is a metric and an introspection view."""
    daemon = daemon_factory("--instance-type", "m5.large", "--no-latency", env={"WARM_POOL_POLICY": "adaptive"})
    client = stub(daemon)
    for i in range(12):
        add_until_assigned(client, f"a{i}")
    view = daemon.introspect("/v1/warm-pool")
    assert view["policy"] == "adaptive" and view["AssignedIPs"] == 12
    assert view["target"] >= 1 and view["reason"]
    assert daemon.metric("awscni_adaptive_warm_target") == view["target"]
    assert daemon.metric("awscni_assigned_ip_addresses") == 12
