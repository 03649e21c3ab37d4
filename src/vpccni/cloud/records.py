"""Typed snapshots of EC2 resources, as both backends return them (never live objects)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

Filters = Mapping[str, Sequence[str]]
Tags = Mapping[str, str]


_OCTETS: Final = [str(octet) for octet in range(256)]  # each octet's text, made once


def dotted_quad(value: int) -> str:
    """An IPv4 address's text from its integer value, as `str(IPv4Address(value))` gives it, without the
    `ipaddress` objects (the engine and the simulated EC2 render an address on every assignment). The octets'
    texts come from a table: compiled, 40 % faster than formatting four ints."""
    octets = _OCTETS
    return f"{octets[value >> 24]}.{octets[(value >> 16) & 255]}.{octets[(value >> 8) & 255]}.{octets[value & 255]}"


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    cidr_blocks: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    cidr_block: str
    available_ip_address_count: int
    tags: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        subnet_id: str,
        vpc_id: str,
        availability_zone: str,
        cidr_block: str,
        available_ip_address_count: int,
        tags: dict[str, str] | None = None,
    ) -> None:
        object.__setattr__(self, "subnet_id", subnet_id)
        object.__setattr__(self, "vpc_id", vpc_id)
        object.__setattr__(self, "availability_zone", availability_zone)
        object.__setattr__(self, "cidr_block", cidr_block)
        object.__setattr__(self, "available_ip_address_count", available_ip_address_count)
        object.__setattr__(self, "tags", {} if tags is None else tags)


@dataclass(frozen=True)
class Attachment:
    attachment_id: str
    instance_id: str
    device_index: int
    network_card_index: int
    status: str  # attaching | attached | detaching | detached
    delete_on_termination: bool


@dataclass(frozen=True)
class NetworkInterface:
    eni_id: str
    subnet_id: str
    vpc_id: str
    availability_zone: str
    description: str
    status: str  # available | in-use
    interface_type: str
    mac_address: str
    primary_ip: str
    secondary_ips: tuple[str, ...]
    ipv4_prefixes: tuple[str, ...]
    groups: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    attachment: Attachment | None = None

    def __init__(
        self,
        eni_id: str,
        subnet_id: str,
        vpc_id: str,
        availability_zone: str,
        description: str,
        status: str,
        interface_type: str,
        mac_address: str,
        primary_ip: str,
        secondary_ips: tuple[str, ...],
        ipv4_prefixes: tuple[str, ...],
        groups: tuple[str, ...] = (),
        tags: dict[str, str] | None = None,
        attachment: Attachment | None = None,
    ) -> None:
        object.__setattr__(self, "eni_id", eni_id)
        object.__setattr__(self, "subnet_id", subnet_id)
        object.__setattr__(self, "vpc_id", vpc_id)
        object.__setattr__(self, "availability_zone", availability_zone)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "interface_type", interface_type)
        object.__setattr__(self, "mac_address", mac_address)
        object.__setattr__(self, "primary_ip", primary_ip)
        object.__setattr__(self, "secondary_ips", secondary_ips)
        object.__setattr__(self, "ipv4_prefixes", ipv4_prefixes)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "tags", {} if tags is None else tags)
        object.__setattr__(self, "attachment", attachment)


@dataclass(frozen=True)
class InstanceEni:
    eni_id: str
    attachment_id: str
    device_index: int
    network_card_index: int
    status: str

    def __init__(
        self,
        eni_id: str,
        attachment_id: str,
        device_index: int,
        network_card_index: int,
        status: str,
    ) -> None:
        object.__setattr__(self, "eni_id", eni_id)
        object.__setattr__(self, "attachment_id", attachment_id)
        object.__setattr__(self, "device_index", device_index)
        object.__setattr__(self, "network_card_index", network_card_index)
        object.__setattr__(self, "status", status)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    instance_type: str
    state: str
    subnet_id: str
    availability_zone: str
    private_ip: str
    network_interfaces: tuple[InstanceEni, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceTypeInfo:
    instance_type: str
    max_network_interfaces: int
    ipv4_addresses_per_interface: int
    default_network_card_index: int
    network_cards: tuple[tuple[int, int], ...]  # (card index, max ENIs)
    hypervisor: str
    bare_metal: bool
    vcpus: int | None
    memory_mib: int | None


@dataclass(frozen=True)
class AssignResult:
    eni_id: str
    addresses: tuple[str, ...]  # only the addresses this call added
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class MetadataEni:
    """One MAC's entry in the instance metadata view (ec2 spec §6); lags EC2 by the metadata delays."""

    mac: str
    eni_id: str
    device_number: int
    network_card: int
    subnet_id: str
    subnet_cidr: str
    vpc_id: str
    vpc_cidrs: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    local_ipv4s: tuple[str, ...]  # primary first
    ipv4_prefixes: tuple[str, ...]

    def __init__(
        self,
        mac: str,
        eni_id: str,
        device_number: int,
        network_card: int,
        subnet_id: str,
        subnet_cidr: str,
        vpc_id: str,
        vpc_cidrs: tuple[str, ...],
        security_group_ids: tuple[str, ...],
        local_ipv4s: tuple[str, ...],
        ipv4_prefixes: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "mac", mac)
        object.__setattr__(self, "eni_id", eni_id)
        object.__setattr__(self, "device_number", device_number)
        object.__setattr__(self, "network_card", network_card)
        object.__setattr__(self, "subnet_id", subnet_id)
        object.__setattr__(self, "subnet_cidr", subnet_cidr)
        object.__setattr__(self, "vpc_id", vpc_id)
        object.__setattr__(self, "vpc_cidrs", vpc_cidrs)
        object.__setattr__(self, "security_group_ids", security_group_ids)
        object.__setattr__(self, "local_ipv4s", local_ipv4s)
        object.__setattr__(self, "ipv4_prefixes", ipv4_prefixes)


@dataclass(frozen=True)
class InstanceMetadata:
    instance_id: str
    instance_type: str
    availability_zone: str
    local_ipv4: str
    primary_mac: str
    region: str
    enis: tuple[MetadataEni, ...]

    def __init__(
        self,
        instance_id: str,
        instance_type: str,
        availability_zone: str,
        local_ipv4: str,
        primary_mac: str,
        region: str,
        enis: tuple[MetadataEni, ...],
    ) -> None:
        object.__setattr__(self, "instance_id", instance_id)
        object.__setattr__(self, "instance_type", instance_type)
        object.__setattr__(self, "availability_zone", availability_zone)
        object.__setattr__(self, "local_ipv4", local_ipv4)
        object.__setattr__(self, "primary_mac", primary_mac)
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "enis", enis)


@dataclass(frozen=True)
class AvailabilityZone:
    zone_name: str
    zone_id: str
    region: str
