"""vpccni's cloud records as EC2 output structures, keyed by botocore member names (what boto3 hands back).

`xmlwire` turns these dicts into XML through the output shape, so a key that is not a member of EC2's
model fails loudly in tests instead of vanishing on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpccni.cloud.records import (
    Attachment,
    AvailabilityZone,
    InstanceTypeInfo,
    NetworkInterface,
    Subnet,
    Vpc,
)

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
IMAGE_ID = "ami-0000000000vpccni"


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def groups(group_ids: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    return [{"GroupId": g, "GroupName": g} for g in group_ids]


def private_dns_name(address: str, region: str) -> str:
    return f"ip-{address.replace('.', '-')}.{region}.compute.internal" if address else ""


def attachment(att: Attachment, owner: str) -> dict[str, Any]:
    return {
        "AttachmentId": att.attachment_id,
        "InstanceId": att.instance_id,
        "InstanceOwnerId": owner,
        "DeviceIndex": att.device_index,
        "NetworkCardIndex": att.network_card_index,
        "Status": att.status,
        "DeleteOnTermination": att.delete_on_termination,
    }


def network_interface(eni: NetworkInterface, owner: str, region: str) -> dict[str, Any]:
    addresses = [(eni.primary_ip, True)] + [(a, False) for a in eni.secondary_ips]
    return {
        "NetworkInterfaceId": eni.eni_id,
        "SubnetId": eni.subnet_id,
        "VpcId": eni.vpc_id,
        "AvailabilityZone": eni.availability_zone,
        "Description": eni.description,
        "OwnerId": owner,
        "RequesterManaged": False,
        "SourceDestCheck": True,
        "Status": eni.status,
        "InterfaceType": eni.interface_type,
        "MacAddress": eni.mac_address,
        "PrivateIpAddress": eni.primary_ip,
        "PrivateDnsName": private_dns_name(eni.primary_ip, region),
        "PrivateIpAddresses": [
            {"PrivateIpAddress": a, "Primary": primary, "PrivateDnsName": private_dns_name(a, region)}
            for a, primary in addresses
        ],
        "Ipv4Prefixes": [{"Ipv4Prefix": p} for p in eni.ipv4_prefixes],
        "Groups": groups(eni.groups),
        "TagSet": tag_list(eni.tags),
        "Attachment": attachment(eni.attachment, owner) if eni.attachment else None,
    }


def subnet(record: Subnet, owner: str, region: str, zone_id: str) -> dict[str, Any]:
    return {
        "SubnetId": record.subnet_id,
        "SubnetArn": f"arn:aws:ec2:{region}:{owner}:subnet/{record.subnet_id}",
        "VpcId": record.vpc_id,
        "OwnerId": owner,
        "State": "available",
        "AvailabilityZone": record.availability_zone,
        "AvailabilityZoneId": zone_id,
        "CidrBlock": record.cidr_block,
        "AvailableIpAddressCount": record.available_ip_address_count,
        "DefaultForAz": False,
        "MapPublicIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": False,
        "Tags": tag_list(record.tags),
    }


def vpc(record: Vpc, owner: str) -> dict[str, Any]:
    return {
        "VpcId": record.vpc_id,
        "OwnerId": owner,
        "State": "available",
        "CidrBlock": record.cidr_blocks[0] if record.cidr_blocks else "",
        "CidrBlockAssociationSet": [
            {
                "AssociationId": f"vpc-cidr-assoc-{record.vpc_id[4:]}{n}",
                "CidrBlock": cidr,
                "CidrBlockState": {"State": "associated"},
            }
            for n, cidr in enumerate(record.cidr_blocks)
        ],
        "InstanceTenancy": "default",
        "IsDefault": False,
        "DhcpOptionsId": "default",
        "Tags": tag_list(record.tags),
    }


def availability_zone(zone: AvailabilityZone) -> dict[str, Any]:
    return {
        "ZoneName": zone.zone_name,
        "ZoneId": zone.zone_id,
        "ZoneType": "availability-zone",
        "State": "available",
        "RegionName": zone.region,
        "GroupName": zone.region,
        "NetworkBorderGroup": zone.region,
        "OptInStatus": "opt-in-not-required",
        "Messages": [],
    }


def instance_type(info: InstanceTypeInfo) -> dict[str, Any]:
    """DescribeInstanceTypes' record: the catalog's network limits, which are what the CNI lives by."""
    cards = info.network_cards or ((0, info.max_network_interfaces),)
    out: dict[str, Any] = {
        "InstanceType": info.instance_type,
        "CurrentGeneration": True,
        "BareMetal": info.bare_metal,
        "Hypervisor": info.hypervisor or None,
        "SupportedUsageClasses": ["on-demand"],
        "NetworkInfo": {
            "MaximumNetworkInterfaces": info.max_network_interfaces,
            "MaximumNetworkCards": len(cards),
            "DefaultNetworkCardIndex": info.default_network_card_index,
            "NetworkCards": [{"NetworkCardIndex": index, "MaximumNetworkInterfaces": limit} for index, limit in cards],
            "Ipv4AddressesPerInterface": info.ipv4_addresses_per_interface,
            "Ipv6AddressesPerInterface": info.ipv4_addresses_per_interface,
            "Ipv6Supported": True,
        },
    }
    if info.vcpus is not None:
        out["VCpuInfo"] = {"DefaultVCpus": info.vcpus}
    if info.memory_mib is not None:
        out["MemoryInfo"] = {"SizeInMiB": info.memory_mib}
    return out
