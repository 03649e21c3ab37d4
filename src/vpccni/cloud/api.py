"""The `Ec2Api` protocol: the EC2 operations ipamd and the cluster simulator need (ec2 spec §4).

Both backends (`vpccni.cloud.sim`, `vpccni.cloud.aws`) implement it and raise `vpccni.cloud.errors`
exceptions. Describe calls return every page; the backend handles pagination.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vpccni.cloud.records import (
    AssignResult,
    Filters,
    Instance,
    InstanceMetadata,
    InstanceTypeInfo,
    NetworkInterface,
    Subnet,
    Tags,
    Vpc,
)


class Ec2Api(Protocol):
    # --- setup (tests, scenarios) ---------------------------------------------------------------
    def create_vpc(self, cidr_block: str) -> Vpc: ...

    def create_subnet(
        self, vpc_id: str, cidr_block: str, availability_zone: str, tags: Tags | None = None
    ) -> Subnet: ...

    # --- describes --------------------------------------------------------------------------------
    def describe_instance_types(self, instance_types: Sequence[str]) -> list[InstanceTypeInfo]: ...

    def describe_instances(
        self, instance_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[Instance]: ...

    def describe_subnets(
        self, subnet_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[Subnet]: ...

    def describe_network_interfaces(
        self,
        eni_ids: Sequence[str] | None = None,
        filters: Filters | None = None,
        max_results: int | None = None,
    ) -> list[NetworkInterface]: ...

    def instance_metadata(self, instance_id: str) -> InstanceMetadata: ...

    # --- instances --------------------------------------------------------------------------------
    def run_instances(
        self,
        instance_type: str,
        subnet_id: str,
        count: int = 1,
        security_group_ids: Sequence[str] = (),
        tags: Tags | None = None,
    ) -> list[Instance]: ...

    def terminate_instances(self, instance_ids: Sequence[str]) -> None: ...

    # --- ENIs -------------------------------------------------------------------------------------
    def create_network_interface(
        self,
        subnet_id: str,
        description: str = "",
        groups: Sequence[str] = (),
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        tags: Tags | None = None,
    ) -> NetworkInterface: ...

    def attach_network_interface(
        self, eni_id: str, instance_id: str, device_index: int, network_card_index: int = 0
    ) -> str: ...

    def modify_network_interface_attribute(
        self,
        eni_id: str,
        attachment_id: str | None = None,
        delete_on_termination: bool | None = None,
        groups: Sequence[str] | None = None,
    ) -> None: ...

    def assign_private_ip_addresses(
        self,
        eni_id: str,
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        private_ip_addresses: Sequence[str] = (),
        ipv4_prefixes: Sequence[str] = (),
    ) -> AssignResult: ...

    def unassign_private_ip_addresses(
        self, eni_id: str, private_ip_addresses: Sequence[str] = (), ipv4_prefixes: Sequence[str] = ()
    ) -> None: ...

    def detach_network_interface(self, attachment_id: str, force: bool = False) -> None: ...

    def delete_network_interface(self, eni_id: str) -> None: ...

    def create_tags(self, resource_ids: Sequence[str], tags: Tags) -> None: ...

    def delete_tags(self, resource_ids: Sequence[str], keys: Sequence[str]) -> None: ...
