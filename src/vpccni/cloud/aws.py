"""The boto3 backend: the same `Ec2Api` against AWS or any EC2-compatible endpoint (e.g. moto).

Credentials come only from boto3's usual chain and are never logged. Throttling is retried by
botocore's standard mode (10 attempts in total, full-jitter back-off); errors map to the same
exceptions as the simulator's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from vpccni import __version__
from vpccni.cloud.errors import make_error
from vpccni.cloud.imds import ImdsClient, ImdsError
from vpccni.cloud.records import (
    AssignResult,
    Attachment,
    Filters,
    Instance,
    InstanceEni,
    InstanceMetadata,
    InstanceTypeInfo,
    MetadataEni,
    NetworkInterface,
    Subnet,
    Tags,
    Vpc,
)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("vpccni.cloud.aws")


def mapped_errors(method: F) -> F:
    """Turn botocore's ClientError into the vpccni.cloud exception for its code."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise make_error(str(error.get("Code", "Unknown")), str(error.get("Message", "")), status) from exc

    return wrapper  # type: ignore[return-value]


def client_config(http_timeout: int = 10, user_agent_extra: str = f"vpccni/{__version__} ipamd") -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": 10},
        connect_timeout=10,
        read_timeout=max(10, http_timeout),
        user_agent_extra=user_agent_extra,
    )


def _filters(filters: Filters | None) -> list[dict[str, Any]]:
    return [{"Name": k, "Values": list(v)} for k, v in (filters or {}).items()]


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def _tag_list(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _eni(raw: dict[str, Any]) -> NetworkInterface:
    att = raw.get("Attachment")
    addresses = raw.get("PrivateIpAddresses", [])
    return NetworkInterface(
        eni_id=raw["NetworkInterfaceId"],
        subnet_id=raw.get("SubnetId", ""),
        vpc_id=raw.get("VpcId", ""),
        availability_zone=raw.get("AvailabilityZone", ""),
        description=raw.get("Description", ""),
        status=raw.get("Status", ""),
        interface_type=raw.get("InterfaceType", "interface"),
        mac_address=raw.get("MacAddress", ""),
        primary_ip=raw.get("PrivateIpAddress", ""),
        secondary_ips=tuple(a["PrivateIpAddress"] for a in addresses if not a.get("Primary")),
        ipv4_prefixes=tuple(p["Ipv4Prefix"] for p in raw.get("Ipv4Prefixes", [])),
        groups=tuple(g["GroupId"] for g in raw.get("Groups", [])),
        tags=_tags(raw.get("TagSet")),
        attachment=Attachment(
            att.get("AttachmentId", ""),
            att.get("InstanceId", ""),
            int(att.get("DeviceIndex", 0)),
            int(att.get("NetworkCardIndex", 0)),
            att.get("Status", ""),
            bool(att.get("DeleteOnTermination", False)),
        )
        if att
        else None,
    )


def _instance(raw: dict[str, Any]) -> Instance:
    enis = tuple(
        InstanceEni(
            n["NetworkInterfaceId"],
            n.get("Attachment", {}).get("AttachmentId", ""),
            int(n.get("Attachment", {}).get("DeviceIndex", 0)),
            int(n.get("Attachment", {}).get("NetworkCardIndex", 0)),
            n.get("Attachment", {}).get("Status", ""),
        )
        for n in raw.get("NetworkInterfaces", [])
    )
    return Instance(
        raw["InstanceId"],
        raw.get("InstanceType", ""),
        raw.get("State", {}).get("Name", ""),
        raw.get("SubnetId", ""),
        raw.get("Placement", {}).get("AvailabilityZone", ""),
        raw.get("PrivateIpAddress", ""),
        tuple(sorted(enis, key=lambda e: (e.network_card_index, e.device_index))),
        _tags(raw.get("Tags")),
    )


def _subnet(raw: dict[str, Any]) -> Subnet:
    return Subnet(
        raw["SubnetId"],
        raw["VpcId"],
        raw["AvailabilityZone"],
        raw["CidrBlock"],
        int(raw["AvailableIpAddressCount"]),
        _tags(raw.get("Tags")),
    )


class Boto3Ec2:
    """`Ec2Api` over a boto3 EC2 client; instance metadata from an IMDS endpoint when given one.

    With `imds_endpoint` (the link-local service on an instance, or `vpccni cloud serve`'s /imds/ID/) the
    metadata view is read like the reference reads it, lag included; without one, or when it fails, the
    view is derived from describes (no lag), and the fallback is logged.
    """

    def __init__(
        self,
        region: str = "us-west-2",
        endpoint_url: str | None = None,
        client: Any = None,
        http_timeout: int = 10,
        imds_endpoint: str | None = None,
    ) -> None:
        self.region = region
        self.client: Any = client or boto3.session.Session().client(  # its own session: credentials as of now
            "ec2", region_name=region, endpoint_url=endpoint_url or None, config=client_config(http_timeout)
        )
        self.imds = ImdsClient(imds_endpoint) if imds_endpoint else None
        self._fallback_reason = ""

    def _pages(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator(operation)
        out: list[dict[str, Any]] = []
        for page in paginator.paginate(**{k: v for k, v in params.items() if v}):
            out.extend(page.get(key, []))
        return out

    # --- setup ----------------------------------------------------------------------------------
    @mapped_errors
    def create_vpc(self, cidr_block: str) -> Vpc:
        vpc = self.client.create_vpc(CidrBlock=cidr_block)["Vpc"]
        return Vpc(vpc["VpcId"], (vpc["CidrBlock"],))

    @mapped_errors
    def create_subnet(self, vpc_id: str, cidr_block: str, availability_zone: str, tags: Tags | None = None) -> Subnet:
        params: dict[str, Any] = {"VpcId": vpc_id, "CidrBlock": cidr_block, "AvailabilityZone": availability_zone}
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "subnet", "Tags": _tag_list(tags)}]
        return _subnet(self.client.create_subnet(**params)["Subnet"])

    # --- describes ------------------------------------------------------------------------------
    @mapped_errors
    def describe_instance_types(self, instance_types: Sequence[str]) -> list[InstanceTypeInfo]:
        out = []
        for raw in self._pages("describe_instance_types", "InstanceTypes", InstanceTypes=list(instance_types)):
            net = raw.get("NetworkInfo", {})
            out.append(
                InstanceTypeInfo(
                    raw["InstanceType"],
                    int(net.get("MaximumNetworkInterfaces", 0)),
                    int(net.get("Ipv4AddressesPerInterface", 0)),
                    int(net.get("DefaultNetworkCardIndex", 0)),
                    tuple(
                        (int(c["NetworkCardIndex"]), int(c["MaximumNetworkInterfaces"]))
                        for c in net.get("NetworkCards", [])
                    ),
                    raw.get("Hypervisor", ""),
                    bool(raw.get("BareMetal", False)),
                    raw.get("VCpuInfo", {}).get("DefaultVCpus"),
                    raw.get("MemoryInfo", {}).get("SizeInMiB"),
                )
            )
        return out

    @mapped_errors
    def describe_instances(
        self, instance_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[Instance]:
        reservations = self._pages(
            "describe_instances", "Reservations", InstanceIds=list(instance_ids or []), Filters=_filters(filters)
        )
        return [_instance(i) for r in reservations for i in r.get("Instances", [])]

    @mapped_errors
    def describe_subnets(self, subnet_ids: Sequence[str] | None = None, filters: Filters | None = None) -> list[Subnet]:
        raw = self._pages("describe_subnets", "Subnets", SubnetIds=list(subnet_ids or []), Filters=_filters(filters))
        return [_subnet(s) for s in raw]

    @mapped_errors
    def describe_network_interfaces(
        self,
        eni_ids: Sequence[str] | None = None,
        filters: Filters | None = None,
        max_results: int | None = None,
    ) -> list[NetworkInterface]:
        params: dict[str, Any] = {"NetworkInterfaceIds": list(eni_ids or []), "Filters": _filters(filters)}
        if max_results:
            params["PaginationConfig"] = {"PageSize": max_results}
        return [_eni(e) for e in self._pages("describe_network_interfaces", "NetworkInterfaces", **params)]

    def instance_metadata(self, instance_id: str) -> InstanceMetadata:
        """The instance metadata service's view; derived from describes without one or when it fails."""
        if self.imds is None:
            return self.described_metadata(instance_id)
        try:
            meta = self.imds.instance_metadata()
        except ImdsError as exc:
            reason = str(exc)
        else:
            if meta.instance_id == instance_id:
                if self._fallback_reason:
                    log.info("instance metadata is back", extra={"endpoint": self.imds.endpoint})
                    self._fallback_reason = ""
                return meta
            reason = f"the metadata service at {self.imds.endpoint} is {meta.instance_id}'s, not {instance_id}'s"
        if reason != self._fallback_reason:
            log.warning("instance metadata unavailable, deriving it from EC2 describes: %s", reason)
            self._fallback_reason = reason
        return self.described_metadata(instance_id)

    def described_metadata(self, instance_id: str) -> InstanceMetadata:
        """The metadata view derived from EC2 describes (for runs off-instance; no lag)."""
        (instance,) = self.describe_instances([instance_id])
        enis = self.describe_network_interfaces([e.eni_id for e in instance.network_interfaces])
        by_id = {e.eni_id: e for e in enis}
        subnets = {s.subnet_id: s for s in self.describe_subnets(sorted({e.subnet_id for e in enis}))}
        view = []
        for link in instance.network_interfaces:
            eni = by_id[link.eni_id]
            subnet = subnets.get(eni.subnet_id)
            view.append(
                MetadataEni(
                    mac=eni.mac_address,
                    eni_id=eni.eni_id,
                    device_number=link.device_index,
                    network_card=link.network_card_index,
                    subnet_id=eni.subnet_id,
                    subnet_cidr=subnet.cidr_block if subnet else "",
                    vpc_id=eni.vpc_id,
                    vpc_cidrs=(),
                    security_group_ids=eni.groups,
                    local_ipv4s=(eni.primary_ip, *eni.secondary_ips),
                    ipv4_prefixes=eni.ipv4_prefixes,
                )
            )
        primary = next((v for v in view if v.device_number == 0 and v.network_card == 0), None)
        return InstanceMetadata(
            instance_id,
            instance.instance_type,
            instance.availability_zone,
            instance.private_ip,
            primary.mac if primary else "",
            self.region,
            tuple(view),
        )

    # --- instances ------------------------------------------------------------------------------
    @mapped_errors
    def run_instances(
        self,
        instance_type: str,
        subnet_id: str,
        count: int = 1,
        security_group_ids: Sequence[str] = (),
        tags: Tags | None = None,
    ) -> list[Instance]:
        params: dict[str, Any] = {
            "ImageId": "ami-12c6146b",
            "InstanceType": instance_type,
            "SubnetId": subnet_id,
            "MinCount": count,
            "MaxCount": count,
        }
        if security_group_ids:
            params["SecurityGroupIds"] = list(security_group_ids)
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": _tag_list(tags)}]
        return [_instance(i) for i in self.client.run_instances(**params)["Instances"]]

    @mapped_errors
    def terminate_instances(self, instance_ids: Sequence[str]) -> None:
        self.client.terminate_instances(InstanceIds=list(instance_ids))

    # --- ENIs -----------------------------------------------------------------------------------
    @mapped_errors
    def create_network_interface(
        self,
        subnet_id: str,
        description: str = "",
        groups: Sequence[str] = (),
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        tags: Tags | None = None,
    ) -> NetworkInterface:
        params: dict[str, Any] = {"SubnetId": subnet_id, "Description": description}
        if groups:
            params["Groups"] = list(groups)
        if secondary_ip_count:
            params["SecondaryPrivateIpAddressCount"] = secondary_ip_count
        if ipv4_prefix_count:
            params["Ipv4PrefixCount"] = ipv4_prefix_count
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "network-interface", "Tags": _tag_list(tags)}]
        return _eni(self.client.create_network_interface(**params)["NetworkInterface"])

    @mapped_errors
    def attach_network_interface(
        self, eni_id: str, instance_id: str, device_index: int, network_card_index: int = 0
    ) -> str:
        reply = self.client.attach_network_interface(
            NetworkInterfaceId=eni_id,
            InstanceId=instance_id,
            DeviceIndex=device_index,
            NetworkCardIndex=network_card_index,
        )
        return str(reply["AttachmentId"])

    @mapped_errors
    def modify_network_interface_attribute(
        self,
        eni_id: str,
        attachment_id: str | None = None,
        delete_on_termination: bool | None = None,
        groups: Sequence[str] | None = None,
    ) -> None:
        params: dict[str, Any] = {"NetworkInterfaceId": eni_id}
        if attachment_id is not None:
            params["Attachment"] = {"AttachmentId": attachment_id, "DeleteOnTermination": bool(delete_on_termination)}
        if groups is not None:
            params["Groups"] = list(groups)
        self.client.modify_network_interface_attribute(**params)

    @mapped_errors
    def assign_private_ip_addresses(
        self,
        eni_id: str,
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        private_ip_addresses: Sequence[str] = (),
        ipv4_prefixes: Sequence[str] = (),
    ) -> AssignResult:
        params: dict[str, Any] = {"NetworkInterfaceId": eni_id}
        if secondary_ip_count:
            params["SecondaryPrivateIpAddressCount"] = secondary_ip_count
        if ipv4_prefix_count:
            params["Ipv4PrefixCount"] = ipv4_prefix_count
        if private_ip_addresses:
            params["PrivateIpAddresses"] = list(private_ip_addresses)
        if ipv4_prefixes:
            params["Ipv4Prefixes"] = list(ipv4_prefixes)
        reply = self.client.assign_private_ip_addresses(**params)
        return AssignResult(
            eni_id,
            tuple(a["PrivateIpAddress"] for a in reply.get("AssignedPrivateIpAddresses", [])),
            tuple(p["Ipv4Prefix"] for p in reply.get("AssignedIpv4Prefixes", [])),
        )

    @mapped_errors
    def unassign_private_ip_addresses(
        self, eni_id: str, private_ip_addresses: Sequence[str] = (), ipv4_prefixes: Sequence[str] = ()
    ) -> None:
        params: dict[str, Any] = {"NetworkInterfaceId": eni_id}
        if private_ip_addresses:
            params["PrivateIpAddresses"] = list(private_ip_addresses)
        if ipv4_prefixes:
            params["Ipv4Prefixes"] = list(ipv4_prefixes)
        self.client.unassign_private_ip_addresses(**params)

    @mapped_errors
    def detach_network_interface(self, attachment_id: str, force: bool = False) -> None:
        self.client.detach_network_interface(AttachmentId=attachment_id, Force=force)

    @mapped_errors
    def delete_network_interface(self, eni_id: str) -> None:
        self.client.delete_network_interface(NetworkInterfaceId=eni_id)

    @mapped_errors
    def create_tags(self, resource_ids: Sequence[str], tags: Tags) -> None:
        self.client.create_tags(Resources=list(resource_ids), Tags=_tag_list(tags))

    @mapped_errors
    def delete_tags(self, resource_ids: Sequence[str], keys: Sequence[str]) -> None:
        self.client.delete_tags(Resources=list(resource_ids), Tags=[{"Key": k} for k in keys])
