"""The describes: each is one call on the simulated cloud, paged here when the client asks for pages."""

from __future__ import annotations

from typing import Any

from vpccni import catalog
from vpccni.cloud.errors import make_error
from vpccni.cloud.records import Instance
from vpccni.cloud.server import paging, render
from vpccni.cloud.server.operations import Call, filters_of, invalid, op
from vpccni.cloud.sim.ec2 import availability_zones

PAGING = ("MaxResults", "NextToken")


def _no_ids_with_max_results(params: dict[str, Any], ids_member: str) -> None:
    if params.get(ids_member) and "MaxResults" in params:
        raise make_error(
            "InvalidParameterCombination", f"The parameter {ids_member} cannot be used with the parameter maxResults"
        )


def _zone_ids(call: Call, names: set[str]) -> dict[str, str]:
    return {z.zone_name: z.zone_id for z in availability_zones(call.region, names)}


def describe_network_interfaces(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    _no_ids_with_max_results(params, "NetworkInterfaceIds")
    paging.check_max_results("DescribeNetworkInterfaces", params.get("MaxResults"))
    enis = call.ec2.describe_network_interfaces(
        params.get("NetworkInterfaceIds") or None, filters_of(params) or None, max_results=params.get("MaxResults")
    )
    chosen, token = paging.page("DescribeNetworkInterfaces", enis, params)
    return {
        "NetworkInterfaces": [render.network_interface(e, call.owner, call.region) for e in chosen],
        "NextToken": token,
    }


def instance_item(call: Call, instance: Instance, launch_index: int = 0) -> dict[str, Any]:
    """EC2's instance record. Its VPC and its ENIs' addresses are read from the account (not in `Instance`)."""
    cloud = call.cloud
    nics = []
    with cloud.lock:
        subnet = cloud.subnets.get(instance.subnet_id)
        vpc_id = subnet.vpc_id if subnet else ""
        for link in instance.network_interfaces:
            eni = cloud.enis.get(link.eni_id)
            if eni is None or eni.attachment is None:
                continue  # changed since the describe answered: leave it out, as a later describe would
            pool = cloud.subnets[eni.subnet_id].pool
            primary = pool.address(eni.primary)
            nics.append(
                {
                    "NetworkInterfaceId": eni.eni_id,
                    "SubnetId": eni.subnet_id,
                    "VpcId": eni.vpc_id,
                    "OwnerId": call.owner,
                    "Status": "in-use",
                    "InterfaceType": eni.interface_type,
                    "MacAddress": eni.mac,
                    "PrivateIpAddress": primary,
                    "SourceDestCheck": True,
                    "Description": eni.description,
                    "Groups": render.groups(eni.groups),
                    "PrivateIpAddresses": [{"PrivateIpAddress": primary, "Primary": True}]
                    + [{"PrivateIpAddress": pool.address(o), "Primary": False} for o in eni.secondaries],
                    "Ipv4Prefixes": [{"Ipv4Prefix": pool.prefix(b)} for b in eni.prefixes],
                    "Attachment": {
                        "AttachmentId": link.attachment_id,
                        "DeviceIndex": link.device_index,
                        "NetworkCardIndex": link.network_card_index,
                        "Status": link.status,
                        "DeleteOnTermination": eni.attachment.delete_on_termination,
                    },
                }
            )
    try:
        hypervisor = catalog.get(instance.instance_type).hypervisor or None
    except catalog.UnknownInstanceType:
        hypervisor = None
    primary_groups = nics[0]["Groups"] if nics else []
    return {
        "InstanceId": instance.instance_id,
        "ImageId": render.IMAGE_ID,
        "InstanceType": instance.instance_type,
        "AmiLaunchIndex": launch_index,
        "State": {"Code": render.STATE_CODES.get(instance.state, 0), "Name": instance.state},
        "PrivateIpAddress": instance.private_ip or None,
        "PrivateDnsName": render.private_dns_name(instance.private_ip, call.region),
        "SubnetId": instance.subnet_id,
        "VpcId": vpc_id,
        "Placement": {"AvailabilityZone": instance.availability_zone, "Tenancy": "default"},
        "Architecture": "x86_64",
        "Hypervisor": hypervisor,
        "VirtualizationType": "hvm",
        "SecurityGroups": primary_groups,
        "NetworkInterfaces": nics,
        "Tags": render.tag_list(instance.tags),
    }


def reservation(call: Call, instances: list[Instance]) -> dict[str, Any]:
    first = instances[0].instance_id if instances else "i-0"
    return {
        "ReservationId": f"r-{first[2:]}",
        "OwnerId": call.owner,
        "Groups": [],
        "Instances": [instance_item(call, i, n) for n, i in enumerate(instances)],
    }


def describe_instances(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    _no_ids_with_max_results(params, "InstanceIds")
    paging.check_max_results("DescribeInstances", params.get("MaxResults"))
    instances = call.ec2.describe_instances(params.get("InstanceIds") or None, filters_of(params) or None)
    chosen, token = paging.page("DescribeInstances", instances, params)
    return {"Reservations": [reservation(call, [i]) for i in chosen], "NextToken": token}


def describe_subnets(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    paging.check_max_results("DescribeSubnets", params.get("MaxResults"))
    subnets = call.ec2.describe_subnets(params.get("SubnetIds") or None, filters_of(params) or None)
    chosen, token = paging.page("DescribeSubnets", subnets, params)
    zone_ids = _zone_ids(call, {s.availability_zone for s in chosen})
    return {
        "Subnets": [render.subnet(s, call.owner, call.region, zone_ids[s.availability_zone]) for s in chosen],
        "NextToken": token,
    }


def describe_vpcs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    paging.check_max_results("DescribeVpcs", params.get("MaxResults"))
    vpcs = call.ec2.describe_vpcs(params.get("VpcIds") or None, filters_of(params) or None)
    chosen, token = paging.page("DescribeVpcs", vpcs, params)
    return {"Vpcs": [render.vpc(v, call.owner) for v in chosen], "NextToken": token}


def describe_instance_types(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Filters"):
        name = params["Filters"][0].get("Name", "")
        raise invalid(f"The filter '{name}' is invalid: vpccni cloud serve filters instance types by name only")
    paging.check_max_results("DescribeInstanceTypes", params.get("MaxResults"))
    names = params.get("InstanceTypes") or catalog.all_types()
    infos = call.ec2.describe_instance_types(names)
    chosen, token = paging.page("DescribeInstanceTypes", infos, params)
    return {"InstanceTypes": [render.instance_type(i) for i in chosen], "NextToken": token}


def describe_availability_zones(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    filters = filters_of(params)
    if params.get("ZoneIds"):
        if "zone-id" in filters:
            raise make_error("InvalidParameterCombination", "Give zone ids either as ZoneId or as a zone-id filter")
        filters["zone-id"] = list(params["ZoneIds"])
    zones = call.ec2.describe_availability_zones(params.get("ZoneNames") or None, filters or None)
    return {"AvailabilityZones": [render.availability_zone(z) for z in zones]}


OPERATIONS = [
    op("DescribeNetworkInterfaces", describe_network_interfaces, ("NetworkInterfaceIds", "Filters", *PAGING)),
    op("DescribeInstances", describe_instances, ("InstanceIds", "Filters", *PAGING)),
    op("DescribeSubnets", describe_subnets, ("SubnetIds", "Filters", *PAGING)),
    op("DescribeVpcs", describe_vpcs, ("VpcIds", "Filters", *PAGING)),
    op(
        "DescribeInstanceTypes",
        describe_instance_types,
        ("InstanceTypes", "Filters", *PAGING),
        ignores=("IncludeUnsupportedInRegion",),
    ),
    op(
        "DescribeAvailabilityZones",
        describe_availability_zones,
        ("ZoneNames", "ZoneIds", "Filters"),
        ignores=("AllAvailabilityZones",),
    ),
]
