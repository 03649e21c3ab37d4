"""IMDSv2 under /imds/INSTANCE_ID/: tokens and their TTL on the cloud's clock, the paths ipamd reads, the
metadata lag, and the IMDS client of the boto3 backend reading it back exactly as the simulator sees it."""

from __future__ import annotations

import logging
import socket

import pytest

from tests.cloudserve.conftest import RawReply, Served, raw
from vpccni.cloud import VirtualClock
from vpccni.cloud.aws import Boto3Ec2
from vpccni.cloud.imds import ImdsClient, ImdsError
from vpccni.cloud.sim import SimEc2

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


def _clock(served: Served) -> VirtualClock:
    assert isinstance(served.clock, VirtualClock)
    return served.clock


def _instance(served: Served) -> str:
    reply = served.ec2.run_instances(
        ImageId="ami-1", InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=served.subnet_id("nodes")
    )
    return str(reply["Instances"][0]["InstanceId"])


def _token(served: Served, instance_id: str, ttl: str = "60", headers: dict[str, str] | None = None) -> RawReply:
    return raw(
        served.url, "PUT", f"/imds/{instance_id}/latest/api/token", headers={TTL: ttl, **(headers or {})}, auth=False
    )


def _get(served: Served, instance_id: str, path: str, token: str | None) -> RawReply:
    headers = {TOKEN: token} if token is not None else {}
    return raw(served.url, "GET", f"/imds/{instance_id}/latest/{path}", headers=headers, auth=False)


def test_paths_ipamd_reads(served: Served) -> None:
    instance_id = _instance(served)
    token = _token(served, instance_id).body.decode()
    read = lambda path: _get(served, instance_id, path, token).body.decode()  # noqa: E731
    (primary,) = served.ec2.describe_network_interfaces()["NetworkInterfaces"]
    mac = primary["MacAddress"]
    assert read("meta-data/instance-id") == instance_id
    assert read("meta-data/instance-type") == "m5.large"
    assert read("meta-data/placement/availability-zone") == "us-west-2a"
    assert read("meta-data/placement/region") == "us-west-2"
    assert read("meta-data/mac") == mac and read("meta-data/local-ipv4") == primary["PrivateIpAddress"]
    assert read("meta-data/network/interfaces/macs/") == f"{mac}/"
    assert read("meta-data/network/interfaces/macs") == f"{mac}/"
    per_mac = f"meta-data/network/interfaces/macs/{mac}/"
    assert read(per_mac).splitlines() == [
        "device-number",
        "network-card",
        "interface-id",
        "mac",
        "owner-id",
        "subnet-id",
        "subnet-ipv4-cidr-block",
        "vpc-id",
        "vpc-ipv4-cidr-block",
        "vpc-ipv4-cidr-blocks",
        "local-ipv4s",
        "security-group-ids",
    ]
    assert read(per_mac + "device-number") == "0" and read(per_mac + "interface-id") == primary["NetworkInterfaceId"]
    assert read(per_mac + "subnet-ipv4-cidr-block") == "10.0.2.0/24"
    assert read(per_mac + "vpc-ipv4-cidr-blocks") == "10.0.0.0/16"
    assert read(per_mac + "local-ipv4s") == primary["PrivateIpAddress"]
    assert _get(served, instance_id, per_mac + "ipv4-prefix", token).status == 404  # no prefix yet
    served.ec2.assign_private_ip_addresses(NetworkInterfaceId=primary["NetworkInterfaceId"], Ipv4PrefixCount=2)
    _clock(served).sleep(25)  # past the longest metadata delay
    prefixes = read(per_mac + "ipv4-prefix").splitlines()
    assert len(prefixes) == 2 and all(p.endswith("/28") for p in prefixes)
    assert _get(served, instance_id, "meta-data/no-such-thing", token).status == 404
    assert _get(served, instance_id, "2009-04-04/meta-data/instance-id", token).status == 404


def test_tokens_are_required_bound_to_their_instance_and_expire(served: Served) -> None:
    first, second = _instance(served), _instance(served)
    assert _get(served, first, "meta-data/instance-id", None).status == 401  # IMDSv1 is off
    assert _get(served, first, "meta-data/instance-id", "made-up").status == 401
    reply = _token(served, first, ttl="5")
    assert (reply.status, reply.headers["x-aws-ec2-metadata-token-ttl-seconds"]) == (200, "5")
    token = reply.body.decode()
    assert _get(served, first, "meta-data/instance-id", token).status == 200
    assert _get(served, second, "meta-data/instance-id", token).status == 401  # another instance's token
    _clock(served).sleep(4.9)
    assert _get(served, first, "meta-data/instance-id", token).status == 200
    _clock(served).sleep(0.1)
    assert _get(served, first, "meta-data/instance-id", token).status == 401  # TTL over, on the cloud's clock


@pytest.mark.parametrize(("ttl", "status"), [("0", 400), ("21601", 400), ("ten", 400), ("", 400), ("21600", 200)])
def test_token_ttl_bounds(served: Served, ttl: str, status: int) -> None:
    assert _token(served, _instance(served), ttl=ttl).status == status


def test_token_refused_through_a_proxy_and_method_rules(served: Served) -> None:
    instance_id = _instance(served)
    assert _token(served, instance_id, headers={"X-Forwarded-For": "10.1.2.3"}).status == 403
    assert _get(served, instance_id, "api/token", None).status == 405
    assert _token(served, "i-0123456789abcdef0").status == 404  # no such instance
    served.ec2.terminate_instances(InstanceIds=[instance_id])
    assert _token(served, instance_id).status == 404  # gone with its instance


def test_new_eni_and_addresses_appear_after_the_metadata_lag(served: Served) -> None:
    instance_id = _instance(served)
    client = ImdsClient(served.server.imds_url(instance_id))
    eni = served.ec2.create_network_interface(SubnetId=served.subnet_id("nodes"), SecondaryPrivateIpAddressCount=3)[
        "NetworkInterface"
    ]
    served.ec2.attach_network_interface(
        NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance_id, DeviceIndex=1
    )
    assert [e.device_number for e in client.instance_metadata().enis] == [0]  # EC2 knows, metadata not yet
    _clock(served).sleep(25)
    (primary, second) = client.instance_metadata().enis
    assert (second.device_number, second.eni_id, len(second.local_ipv4s)) == (1, eni["NetworkInterfaceId"], 4)
    client.close()


def test_imds_client_reads_exactly_the_simulators_view(served: Served) -> None:
    instance_id = _instance(served)
    nodes = served.subnet_id("nodes")
    for device in (1, 2):
        eni = served.ec2.create_network_interface(
            SubnetId=nodes, SecondaryPrivateIpAddressCount=device, Groups=["sg-1"]
        )
        served.ec2.attach_network_interface(
            NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"], InstanceId=instance_id, DeviceIndex=device
        )
    _clock(served).sleep(25)
    client = ImdsClient(served.server.imds_url(instance_id))
    assert client.instance_metadata() == SimEc2(served.cloud).instance_metadata(instance_id)
    client.close()


def test_boto3_backend_reads_imds_and_falls_back_to_describes(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    instance_id = _instance(served)
    truth = SimEc2(served.cloud).instance_metadata(instance_id)
    backend = Boto3Ec2(endpoint_url=served.url, imds_endpoint=served.server.imds_url(instance_id))
    assert backend.instance_metadata(instance_id) == truth  # vpc CIDRs included, which describes cannot give
    other = _instance(served)
    with caplog.at_level(logging.WARNING, logger="vpccni.cloud.aws"):
        derived = backend.instance_metadata(other)
        backend.instance_metadata(other)
    assert derived.instance_id == other and derived.enis[0].vpc_cidrs == ()  # the describe-derived view
    (warning,) = [r for r in caplog.records if r.name == "vpccni.cloud.aws"]  # once per reason, not per call
    assert f"is {instance_id}'s, not {other}'s" in warning.getMessage()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    unreachable = Boto3Ec2(endpoint_url=served.url, imds_endpoint=dead)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vpccni.cloud.aws"):
        assert unreachable.instance_metadata(instance_id).local_ipv4 == truth.local_ipv4
    assert (
        "instance metadata unavailable" in [r for r in caplog.records if r.name == "vpccni.cloud.aws"][0].getMessage()
    )


def test_client_renews_an_expired_token(served: Served) -> None:
    instance_id = _instance(served)
    client = ImdsClient(served.server.imds_url(instance_id), token_ttl=3600)
    assert client.get("meta-data/instance-id") == instance_id
    _clock(served).sleep(3600)  # the server's clock says expired; the client's cache does not know yet
    assert client.get("meta-data/instance-id") == instance_id  # 401, new token, answered
    with pytest.raises(ValueError, match="must be an http:// URL"):
        ImdsClient("https://169.254.169.254/")
    assert client.get("../../i-0/latest/meta-data/instance-id") is None  # a path never leaves its instance
    client.close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    with pytest.raises(ImdsError, match="instance metadata at http://127.0.0.1:"):
        ImdsClient(dead).get("meta-data/instance-id")
