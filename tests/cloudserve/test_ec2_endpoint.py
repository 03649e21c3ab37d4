"""boto3 against `vpccni cloud serve`: the limits moto does not model, paging, the trail, throttling, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.cloudserve.conftest import ACCESS_KEY, LAYOUT, Served, serve
from vpccni import catalog
from vpccni.cloud import RealClock, VirtualClock
from vpccni.cloud.aws import Boto3Ec2
from vpccni.cloud.errors import ThrottlingError
from vpccni.cloud.server import AccountOptions, CloudServer, open_account


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response: Any = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def _instance(served: Served, instance_type: str = "m5.large", subnet: str = "nodes") -> str:
    reply = served.ec2.run_instances(
        ImageId="ami-12345678", InstanceType=instance_type, MinCount=1, MaxCount=1, SubnetId=served.subnet_id(subnet)
    )
    return str(reply["Instances"][0]["InstanceId"])


def test_describe_instance_types_from_the_catalog(served: Served) -> None:
    (m5,) = served.ec2.describe_instance_types(InstanceTypes=["m5.large"])["InstanceTypes"]
    network = m5["NetworkInfo"]
    assert (network["MaximumNetworkInterfaces"], network["Ipv4AddressesPerInterface"]) == (3, 10)
    assert network["NetworkCards"] == [{"NetworkCardIndex": 0, "MaximumNetworkInterfaces": 3}]
    assert (m5["Hypervisor"], m5["BareMetal"], m5["VCpuInfo"]["DefaultVCpus"]) == ("nitro", False, 2)
    pages = list(served.ec2.get_paginator("describe_instance_types").paginate())
    assert sum(len(p["InstanceTypes"]) for p in pages) == len(catalog.all_types())
    assert {len(p["InstanceTypes"]) for p in pages[:-1]} == {100}  # EC2's default page size
    with pytest.raises(ClientError) as info:
        served.ec2.describe_instance_types(InstanceTypes=["m5.larg"])
    assert _error(info) == (400, "InvalidInstanceType", "The following supplied instance types do not exist: [m5.larg]")


def test_fourth_eni_on_m5_large_is_attachment_limit_exceeded(served: Served) -> None:
    instance_id = _instance(served)
    enis = [
        served.ec2.create_network_interface(SubnetId=served.subnet_id("nodes"))["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        for _ in range(3)
    ]
    for device, eni in enumerate(enis[:2], 1):
        attached = served.ec2.attach_network_interface(
            NetworkInterfaceId=eni, InstanceId=instance_id, DeviceIndex=device
        )
        assert attached["AttachmentId"].startswith("eni-attach-") and attached["NetworkCardIndex"] == 0
    with pytest.raises(ClientError) as info:
        served.ec2.attach_network_interface(NetworkInterfaceId=enis[2], InstanceId=instance_id, DeviceIndex=3)
    assert _error(info) == (400, "AttachmentLimitExceeded", "Interface count 4 exceeds the limit for m5.large")
    (instance,) = served.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    assert [n["Attachment"]["DeviceIndex"] for n in instance["NetworkInterfaces"]] == [0, 1, 2]
    assert instance["VpcId"] == next(iter(served.cloud.vpcs)) and instance["State"] == {"Code": 16, "Name": "running"}


def test_slash28_runs_out_and_address_limit_per_eni(served: Served) -> None:
    tiny = served.subnet_id("tiny")
    eni = served.ec2.create_network_interface(SubnetId=tiny, SecondaryPrivateIpAddressCount=9)["NetworkInterface"]
    assert len(eni["PrivateIpAddresses"]) == 10
    (subnet,) = served.ec2.describe_subnets(SubnetIds=[tiny])["Subnets"]
    assert (subnet["CidrBlock"], subnet["AvailableIpAddressCount"]) == ("10.0.1.0/28", 1)
    with pytest.raises(ClientError) as info:
        served.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni["NetworkInterfaceId"], SecondaryPrivateIpAddressCount=2
        )
    assert _error(info) == (
        400,
        "InsufficientFreeAddressesInSubnet",
        "insufficient free address to allocate 2 address(es)",
    )
    instance_id = _instance(served)
    primary = served.ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["NetworkInterfaces"][0]["NetworkInterfaceId"]
    served.ec2.assign_private_ip_addresses(NetworkInterfaceId=primary, SecondaryPrivateIpAddressCount=9)
    with pytest.raises(ClientError) as limit:
        served.ec2.assign_private_ip_addresses(NetworkInterfaceId=primary, SecondaryPrivateIpAddressCount=1)
    assert _error(limit) == (400, "PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")


def test_run_instances_launches_between_min_and_max(served: Served) -> None:
    tiny = served.subnet_id("tiny")
    with pytest.raises(ClientError) as info:
        served.ec2.run_instances(ImageId="ami-1", InstanceType="t3.nano", MinCount=12, MaxCount=20, SubnetId=tiny)
    assert _error(info)[1] == "InsufficientFreeAddressesInSubnet"
    reply = served.ec2.run_instances(ImageId="ami-1", InstanceType="t3.nano", MinCount=2, MaxCount=20, SubnetId=tiny)
    assert len(reply["Instances"]) == 11  # every address of the /28
    assert [i["AmiLaunchIndex"] for i in reply["Instances"]] == list(range(11))
    ids = [i["InstanceId"] for i in reply["Instances"][:2]]
    terminated = served.ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert [(t["PreviousState"]["Name"], t["CurrentState"]["Name"]) for t in terminated] == [
        ("running", "terminated")
    ] * 2
    assert served.ec2.describe_subnets(SubnetIds=[tiny])["Subnets"][0]["AvailableIpAddressCount"] == 2


def test_describe_network_interfaces_pages_and_filters(served: Served) -> None:
    nodes = served.subnet_id("nodes")
    made = [
        served.ec2.create_network_interface(
            SubnetId=nodes,
            TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "n", "Value": str(i)}]}],
        )["NetworkInterface"]["NetworkInterfaceId"]
        for i in range(12)
    ]
    by_subnet = [{"Name": "subnet-id", "Values": [nodes]}]
    pages = list(
        served.ec2.get_paginator("describe_network_interfaces").paginate(
            Filters=by_subnet, PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["NetworkInterfaces"]) for p in pages] == [5, 5, 2]
    assert [e["NetworkInterfaceId"] for p in pages for e in p["NetworkInterfaces"]] == made
    token = pages[0]["NextToken"]
    with pytest.raises(ClientError) as info:  # a token is bound to the query it came from
        served.ec2.describe_network_interfaces(
            Filters=[{"Name": "status", "Values": ["available"]}], NextToken=token, MaxResults=5
        )
    assert _error(info)[1] == "InvalidPaginationToken"
    tagged = served.ec2.describe_network_interfaces(Filters=[{"Name": "tag:n", "Values": ["1*"]}])["NetworkInterfaces"]
    assert sorted(t["TagSet"][0]["Value"] for t in tagged) == ["1", "10", "11"]
    available = served.ec2.describe_network_interfaces(Filters=[{"Name": "status", "Values": ["available"]}])
    assert len(available["NetworkInterfaces"]) == 12 and "NextToken" not in available


def test_vpcs_zones_tags_and_subnet_creation(served: Served) -> None:
    (vpc,) = served.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"] == {"State": "associated"}
    zones = served.ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [
        (f"us-west-2{c}", f"usw2-az{n}") for n, c in enumerate("abcd", 1)
    ]
    created = served.ec2.create_subnet(
        VpcId=vpc["VpcId"],
        CidrBlock="10.0.3.0/24",
        AvailabilityZone="us-west-2c",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "kubernetes.io/role/cni", "Value": "1"}]}],
    )["Subnet"]
    assert (created["AvailableIpAddressCount"], created["AvailabilityZoneId"]) == (251, "usw2-az3")
    served.ec2.create_tags(Resources=[created["SubnetId"]], Tags=[{"Key": "team", "Value": "net"}])
    served.ec2.delete_tags(Resources=[created["SubnetId"]], Tags=[{"Key": "kubernetes.io/role/cni"}])
    (again,) = served.ec2.describe_subnets(Filters=[{"Name": "tag-key", "Values": ["team"]}])["Subnets"]
    assert again["Tags"] == [{"Key": "team", "Value": "net"}]
    with pytest.raises(ClientError) as conflict:
        served.ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.3.128/25")
    assert _error(conflict)[1] == "InvalidSubnet.Conflict"


def test_trail_names_the_caller(served: Served) -> None:
    reply = served.ec2.describe_vpcs()
    (event,) = served.trail()
    assert event["eventName"] == "DescribeVpcs" and event["requestID"] == reply["ResponseMetadata"]["RequestId"]
    assert event["userIdentity"]["accessKeyId"] == ACCESS_KEY
    assert event["userIdentity"]["arn"].endswith(f"/{ACCESS_KEY}")
    assert event["userAgent"].startswith("Boto3/") and event["sourceIPAddress"] == "127.0.0.1"


def test_throttling_is_retried_by_botocore_itself(aws_env: dict[str, str]) -> None:
    """Two CreateTags tokens refilled at 2/s on the real clock: the third call is throttled, botocore backs off
    and retries it until a token is back. A bucket that refills once in 1000 s: the 503 reaches the caller."""
    overrides = {"CreateTags": (2.0, 2.0), "DeleteTags": (1.0, 0.001)}
    running = serve(RealClock(), AccountOptions(latency=False, throttle_overrides=overrides))
    try:
        subnet = running.subnet_id("nodes")
        patient = boto3.session.Session().client(  # enough attempts that a token (every 0.5 s) is always back
            "ec2", endpoint_url=running.url, region_name="us-west-2", config=Config(retries={"max_attempts": 10})
        )
        replies = [patient.create_tags(Resources=[subnet], Tags=[{"Key": "k", "Value": str(n)}]) for n in range(3)]
        assert [r["ResponseMetadata"]["RetryAttempts"] for r in replies[:2]] == [0, 0]
        assert replies[2]["ResponseMetadata"]["RetryAttempts"] >= 1
        outcomes = [e.get("errorCode", "ok") for e in running.trail() if e["eventName"] == "CreateTags"]
        assert outcomes[:2] == ["ok", "ok"] and outcomes[-1] == "ok"
        assert set(outcomes[2:-1]) == {"Client.RequestLimitExceeded"}
        assert len(outcomes) == 3 + replies[2]["ResponseMetadata"]["RetryAttempts"]
        no_retry = boto3.session.Session().client(
            "ec2", endpoint_url=running.url, region_name="us-west-2", config=Config(retries={"total_max_attempts": 1})
        )
        backend = Boto3Ec2(client=no_retry)
        backend.delete_tags([subnet], ["k"])
        with pytest.raises(ThrottlingError) as info:
            backend.delete_tags([subnet], ["k"])
        assert (info.value.code, info.value.message, info.value.http_status) == (
            "RequestLimitExceeded",
            "Request limit exceeded.",
            503,
        )
    finally:
        running.server.stop()


def test_state_dir_keeps_the_account_across_restarts(aws_env: dict[str, str], tmp_path: Path) -> None:
    clock = VirtualClock()
    cloud, restored = open_account(str(tmp_path), clock, AccountOptions(latency=False), LAYOUT)
    assert restored is False
    server = CloudServer(cloud).start()
    ec2 = boto3.session.Session().client("ec2", endpoint_url=server.url, region_name="us-west-2")
    subnet = next(s.subnet_id for s in cloud.subnets.values() if s.tags["Name"] == "nodes")
    instance_id = ec2.run_instances(ImageId="ami-1", InstanceType="c5.xlarge", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]["InstanceId"]
    before = ec2.describe_network_interfaces()["NetworkInterfaces"]
    server.stop()
    again, restored = open_account(str(tmp_path), clock, AccountOptions(latency=False), LAYOUT)
    assert restored is True and len(again.subnets) == 2
    server = CloudServer(again).start()
    try:
        ec2 = boto3.session.Session().client("ec2", endpoint_url=server.url, region_name="us-west-2")
        assert ec2.describe_network_interfaces()["NetworkInterfaces"] == before
        (instance,) = ec2.describe_instances()["Reservations"][0]["Instances"]
        assert instance["InstanceId"] == instance_id and instance["InstanceType"] == "c5.xlarge"
    finally:
        server.stop()
