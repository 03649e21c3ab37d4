"""Typed snapshots of EC2 resources, as both backends return them (never live objects)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Filters = Mapping[str, Sequence[str]]
Tags = Mapping[str, str]


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


@dataclass(frozen=True)
class InstanceEni:
    eni_id: str
    attachment_id: str
    device_index: int
    network_card_index: int
    status: str


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


@dataclass(frozen=True)
class InstanceMetadata:
    instance_id: str
    instance_type: str
    availability_zone: str
    local_ipv4: str
    primary_mac: str
    region: str
    enis: tuple[MetadataEni, ...]


@dataclass(frozen=True)
class AvailabilityZone:
    zone_name: str
    zone_id: str
    region: str
