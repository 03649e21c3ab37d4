"""`vpccni ipamd --cloud aws` end to end against `vpccni cloud serve`: boto3 for EC2, IMDSv2 for metadata.

The daemon initialises from the served metadata (no --instance-id: the metadata service says who it is),
fills its warm pool through the served EC2, serves AddNetwork, and its metrics and introspection agree
with what DescribeNetworkInterfaces shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloudserve.conftest import ACCESS_KEY, Served, serve
from tests.daemon.conftest import Daemon, add_until_assigned, stub
from vpccni.cloud import RealClock
from vpccni.cloud.server import AccountOptions

POOL = {"MINIMUM_IP_TARGET": "12", "WARM_IP_TARGET": "2"}


@pytest.fixture
def real_time_cloud(aws_env: dict[str, str]) -> Iterator[Served]:
    """Real clock (attach delay and metadata lag in real seconds), no call latency."""
    running = serve(RealClock(), AccountOptions(latency=False))
    yield running
    running.server.stop()


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def test_ipamd_on_the_served_cloud(real_time_cloud: Served, tmp_path: Path) -> None:
    cloud = real_time_cloud
    instance_id = cloud.ec2.run_instances(
        ImageId="ami-1", InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=cloud.subnet_id("nodes")
    )["Instances"][0]["InstanceId"]
    # `--cloud aws` after the helper's own `--cloud sim`: click keeps the last value given
    args = ["--cloud", "aws", "--endpoint-url", cloud.url, "--imds-endpoint", cloud.server.imds_url(instance_id)]
    daemon = Daemon(tmp_path, args, POOL)
    try:
        daemon.start(timeout=60)
        _wait_for(lambda: daemon.metric("awscni_total_ip_addresses") == 12)  # 9 on the primary ENI + 3
        client = stub(daemon)
        pods = {f"pod{i}": add_until_assigned(client, f"pod{i}") for i in range(3)}
        _wait_for(lambda: daemon.metric("awscni_assigned_ip_addresses") == 3)

        described = cloud.ec2.describe_network_interfaces(
            Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
        )["NetworkInterfaces"]
        secondaries = {a["PrivateIpAddress"] for e in described for a in e["PrivateIpAddresses"] if not a["Primary"]}
        assert daemon.metric("awscni_eni_allocated") == len(described) == 2
        assert daemon.metric("awscni_total_ip_addresses") == len(secondaries) == 12
        assert set(pods.values()) <= secondaries and len(set(pods.values())) == 3
        enis = daemon.introspect("/v1/enis")["0"]
        assert set(enis["ENIs"]) == {e["NetworkInterfaceId"] for e in described}
        assert (enis["TotalIPs"], enis["AssignedIPs"]) == (12, 3)
        second = next(e for e in described if e["Attachment"]["DeviceIndex"] == 1)
        assert second["Description"] == f"aws-K8S-{instance_id}" and second["Attachment"]["DeleteOnTermination"]
        assert second["TagSet"] and {t["Key"] for t in second["TagSet"]} >= {"node.k8s.amazonaws.com/instance_id"}

        calls = [e for e in cloud.trail() if "vpccni/" in e["userAgent"]]
        names = {e["eventName"] for e in calls}
        assert {"CreateNetworkInterface", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute"} <= names
        assert all(e["userIdentity"]["accessKeyId"] == ACCESS_KEY for e in calls)
        logged = [entry.get("msg", "") for entry in daemon.log_entries()]
        assert not any("instance metadata unavailable" in m for m in logged)  # read from IMDS throughout
        assert daemon.terminate() == 0
    finally:
        daemon.stop()
