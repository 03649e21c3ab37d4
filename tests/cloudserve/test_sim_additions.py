"""What the simulator gained for serving: DescribeVpcs, DescribeAvailabilityZones, filter names checked up
front, the caller's access key and request id in the trail, and a trail that streams instead of growing."""

from __future__ import annotations

import random
from typing import Any

import pytest

from vpccni.cloud import VirtualClock
from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2
from vpccni.cloud.sim import ec2 as sim_ec2


@pytest.fixture
def cloud() -> SimCloud:
    return SimCloud(VirtualClock(), random.Random(5), SimConfig(latency=False, address_policy="lowest"))


def test_filter_name_sets_match_what_each_resource_answers(cloud: SimCloud) -> None:
    api = SimEc2(cloud)
    vpc = api.create_vpc("10.0.0.0/16", tags={"Name": "v"})
    subnet = api.create_subnet(vpc.vpc_id, "10.0.0.0/24", "us-west-2a")
    (instance,) = api.run_instances("m5.large", subnet.subnet_id)
    now = cloud.clock.now()
    eni = cloud.enis[instance.network_interfaces[0].eni_id]
    probes: list[tuple[frozenset[str], Any]] = [
        (sim_ec2.ENI_FILTERS, lambda n: sim_ec2._eni_filter_values(cloud, eni, n, now)),
        (sim_ec2.SUBNET_FILTERS, lambda n: sim_ec2._subnet_filter_values(cloud.subnets[subnet.subnet_id], n)),
        (sim_ec2.VPC_FILTERS, lambda n: sim_ec2._vpc_filter_values(cloud.vpcs[vpc.vpc_id], n)),
        (
            sim_ec2.INSTANCE_FILTERS,
            lambda n: sim_ec2._instance_filter_values(cloud.instances[instance.instance_id], n, now),
        ),
    ]
    for names, values_of in probes:
        assert all(values_of(name) is not None for name in names)
        assert values_of("no-such-filter") is None


def test_describe_vpcs_and_zones(cloud: SimCloud) -> None:
    api = SimEc2(cloud)
    first = api.create_vpc("10.0.0.0/16", tags={"team": "a"})
    api.create_vpc("10.1.0.0/16")
    assert [v.vpc_id for v in api.describe_vpcs(filters={"tag:team": ["a"]})] == [first.vpc_id]
    assert api.describe_vpcs([first.vpc_id]) == [first]
    with pytest.raises(Ec2Error) as info:
        api.describe_vpcs(["vpc-0123456789abcdef0"])
    assert info.value.code == "InvalidVpcID.NotFound"
    with pytest.raises(Ec2Error) as bad_filter:
        api.describe_vpcs(filters={"colour": ["red"]})
    assert (bad_filter.value.code, bad_filter.value.message) == (
        "InvalidParameterValue",
        "The filter 'colour' is invalid",
    )
    api.create_subnet(first.vpc_id, "10.0.0.0/24", "us-west-2z")
    zones = api.describe_availability_zones()
    assert [(z.zone_name, z.zone_id) for z in zones][-2:] == [("us-west-2d", "usw2-az4"), ("us-west-2z", "usw2-az5")]
    assert [z.zone_name for z in api.describe_availability_zones(filters={"zone-id": ["usw2-az2"]})] == ["us-west-2b"]
    with pytest.raises(Ec2Error):
        api.describe_availability_zones(["mars-1a"])
    with pytest.raises(Ec2Error) as cidr:
        api.create_vpc("10.0.0.0/33")
    assert cidr.value.code == "InvalidParameterValue"


def test_trail_carries_caller_and_request_id_and_can_stream(cloud: SimCloud) -> None:
    streamed: list[dict[str, Any]] = []
    cloud.trail.sink = streamed.append
    cloud.trail.retain = False
    caller = SimEc2(cloud, user_agent="aws-cli/1", access_key_id="AKIDX", request_id="req-1")
    caller.create_vpc("10.0.0.0/16")
    assert cloud.trail.events() == []  # not retained
    (event,) = streamed
    assert event["requestID"] == "req-1" and event["userAgent"] == "aws-cli/1"
    assert event["userIdentity"]["accessKeyId"] == "AKIDX"
    assert event["userIdentity"]["arn"] == "arn:aws:sts::111122223333:assumed-role/eks-node-role/AKIDX"
    assert "_simTime" not in event
