"""The actions that change the account: each is one call on the simulated cloud, answered in EC2's shapes."""

from __future__ import annotations

from typing import Any

from vpccni.cloud.errors import make_error
from vpccni.cloud.server import render
from vpccni.cloud.server.describe_ops import reservation
from vpccni.cloud.server.operations import Call, Operation, invalid, missing, op, tag_specifications, tags_of
from vpccni.cloud.sim.ec2 import availability_zones

# RunInstances parameters about the machine, not its network: accepted, and without effect here.
MACHINE_ONLY = (
    "ImageId",
    "KeyName",
    "UserData",
    "Monitoring",
    "BlockDeviceMappings",
    "MetadataOptions",
    "IamInstanceProfile",
    "EbsOptimized",
    "DisableApiTermination",
    "DisableApiStop",
    "InstanceInitiatedShutdownBehavior",
    "CreditSpecification",
    "ClientToken",
)


def _required(params: dict[str, Any], member: str, wire: str | None = None) -> Any:
    value = params.get(member)
    if value is None or value == "":
        raise missing(wire or member)
    return value


def create_vpc(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_specifications(params, "CreateVpc", "vpc")
    vpc = call.ec2.create_vpc(_required(params, "CidrBlock"), tags=tags)
    return {"Vpc": render.vpc(vpc, call.owner)}


def create_subnet(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_specifications(params, "CreateSubnet", "subnet")
    zone = params.get("AvailabilityZone") or f"{call.region}a"
    subnet = call.ec2.create_subnet(params["VpcId"], _required(params, "CidrBlock"), zone, tags=tags)
    zone_id = {z.zone_name: z.zone_id for z in availability_zones(call.region, {zone})}[zone]
    return {"Subnet": render.subnet(subnet, call.owner, call.region, zone_id)}


def run_instances(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """MinCount..MaxCount as EC2 launches them: as many as the subnet has addresses for, at least MinCount."""
    instance_type = _required(params, "InstanceType")
    subnet_id = _required(params, "SubnetId")
    low, high = params["MinCount"], params["MaxCount"]
    if low < 1 or high < low:
        raise invalid(f"MinCount ({low}) must be at least 1 and at most MaxCount ({high})")
    with call.cloud.lock:
        subnet = call.cloud.subnets.get(subnet_id)
        free = subnet.pool.free_count if subnet else high
    count = max(low, min(high, free))
    tags = tag_specifications(params, "RunInstances", "instance", ignored=("volume",))
    instances = call.ec2.run_instances(
        instance_type, subnet_id, count, security_group_ids=params.get("SecurityGroupIds") or (), tags=tags
    )
    return reservation(call, instances)


def terminate_instances(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    ids = params["InstanceIds"]
    cloud = call.cloud
    with cloud.lock:
        now = cloud.clock.now()
        before = {i: cloud.instances[i].state_at(now) for i in ids if i in cloud.instances}
    call.ec2.terminate_instances(ids)
    return {
        "TerminatingInstances": [
            {
                "InstanceId": i,
                "PreviousState": {"Code": render.STATE_CODES[before[i]], "Name": before[i]},
                "CurrentState": {"Code": render.STATE_CODES["terminated"], "Name": "terminated"},
            }
            for i in ids
        ]
    }


def create_network_interface(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_specifications(params, "CreateNetworkInterface", "network-interface")
    eni = call.ec2.create_network_interface(
        params["SubnetId"],
        description=params.get("Description", ""),
        groups=params.get("Groups") or (),
        secondary_ip_count=params.get("SecondaryPrivateIpAddressCount", 0),
        ipv4_prefix_count=params.get("Ipv4PrefixCount", 0),
        tags=tags,
    )
    return {"NetworkInterface": render.network_interface(eni, call.owner, call.region)}


def attach_network_interface(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    card = params.get("NetworkCardIndex", 0)
    attachment_id = call.ec2.attach_network_interface(
        params["NetworkInterfaceId"], params["InstanceId"], params["DeviceIndex"], card
    )
    return {"AttachmentId": attachment_id, "NetworkCardIndex": card}


def modify_network_interface_attribute(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    attachment = params.get("Attachment")
    groups = params.get("Groups")
    if attachment is None and groups is None:
        raise missing("Attachment or SecurityGroupId (one attribute to modify)")
    if attachment is not None:
        _required(attachment, "AttachmentId", "Attachment.AttachmentId")
    call.ec2.modify_network_interface_attribute(
        params["NetworkInterfaceId"],
        attachment_id=attachment["AttachmentId"] if attachment else None,
        delete_on_termination=attachment.get("DeleteOnTermination") if attachment else None,
        groups=groups,
    )
    return {}


def assign_private_ip_addresses(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("AllowReassignment"):
        raise make_error(
            "UnsupportedOperation", "vpccni cloud serve does not move addresses between interfaces (AllowReassignment)"
        )
    result = call.ec2.assign_private_ip_addresses(
        params["NetworkInterfaceId"],
        secondary_ip_count=params.get("SecondaryPrivateIpAddressCount", 0),
        ipv4_prefix_count=params.get("Ipv4PrefixCount", 0),
        private_ip_addresses=params.get("PrivateIpAddresses") or (),
        ipv4_prefixes=params.get("Ipv4Prefixes") or (),
    )
    return {
        "NetworkInterfaceId": result.eni_id,
        "AssignedPrivateIpAddresses": [{"PrivateIpAddress": a} for a in result.addresses],
        "AssignedIpv4Prefixes": [{"Ipv4Prefix": p} for p in result.prefixes],
    }


def unassign_private_ip_addresses(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    call.ec2.unassign_private_ip_addresses(
        params["NetworkInterfaceId"],
        private_ip_addresses=params.get("PrivateIpAddresses") or (),
        ipv4_prefixes=params.get("Ipv4Prefixes") or (),
    )
    return {}


def detach_network_interface(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    call.ec2.detach_network_interface(params["AttachmentId"], force=bool(params.get("Force")))
    return {}


def delete_network_interface(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    call.ec2.delete_network_interface(params["NetworkInterfaceId"])
    return {}


def create_tags(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    call.ec2.create_tags(params["Resources"], tags_of(params["Tags"]))
    return {}


def delete_tags(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tags = params.get("Tags")
    if not tags:
        raise missing("Tag.1.Key (vpccni cloud serve deletes the tags it is told, not all of them)")
    keys = []
    for n, tag in enumerate(tags, 1):
        if "Value" in tag:
            raise make_error(
                "UnsupportedOperation", f"vpccni cloud serve deletes tags by key only (Tag.{n}.Value given)"
            )
        keys.append(_required(tag, "Key", f"Tag.{n}.Key"))
    call.ec2.delete_tags(params["Resources"], keys)
    return {}


OPERATIONS: list[Operation] = [
    op("CreateVpc", create_vpc, ("CidrBlock", "TagSpecifications")),
    op("CreateSubnet", create_subnet, ("VpcId", "CidrBlock", "AvailabilityZone", "TagSpecifications")),
    op(
        "RunInstances",
        run_instances,
        ("InstanceType", "SubnetId", "MinCount", "MaxCount", "SecurityGroupIds", "TagSpecifications"),
        ignores=MACHINE_ONLY,
    ),
    op("TerminateInstances", terminate_instances, ("InstanceIds",)),
    op(
        "CreateNetworkInterface",
        create_network_interface,
        (
            "SubnetId",
            "Description",
            "Groups",
            "SecondaryPrivateIpAddressCount",
            "Ipv4PrefixCount",
            "TagSpecifications",
        ),
        ignores=("ClientToken",),
    ),
    op(
        "AttachNetworkInterface",
        attach_network_interface,
        ("NetworkInterfaceId", "InstanceId", "DeviceIndex", "NetworkCardIndex"),
    ),
    op(
        "ModifyNetworkInterfaceAttribute",
        modify_network_interface_attribute,
        ("NetworkInterfaceId", "Attachment", "Groups"),
    ),
    op(
        "AssignPrivateIpAddresses",
        assign_private_ip_addresses,
        (
            "NetworkInterfaceId",
            "SecondaryPrivateIpAddressCount",
            "Ipv4PrefixCount",
            "PrivateIpAddresses",
            "Ipv4Prefixes",
            "AllowReassignment",
        ),
    ),
    op(
        "UnassignPrivateIpAddresses",
        unassign_private_ip_addresses,
        ("NetworkInterfaceId", "PrivateIpAddresses", "Ipv4Prefixes"),
    ),
    op("DetachNetworkInterface", detach_network_interface, ("AttachmentId", "Force")),
    op("DeleteNetworkInterface", delete_network_interface, ("NetworkInterfaceId",)),
    op("CreateTags", create_tags, ("Resources", "Tags")),
    op("DeleteTags", delete_tags, ("Resources", "Tags")),
]
