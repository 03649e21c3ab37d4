"""What node init learns about the instance, once, as one frozen value (ipamd spec §5.3).

The engine used to keep these as a dozen loose attributes (`p`, `m`, `slots`, ...) set in `init()`;
grouping them says which state never changes after init, and names what each number means.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpccni import catalog
from vpccni.cloud.records import InstanceMetadata, MetadataEni
from vpccni.ipam import policy
from vpccni.ipam.config import IpamConfig, effective_max_eni


class IpamInitError(Exception):
    """Node init failed. `transient`: EC2 or metadata did not answer, so trying again later may work."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class InstanceFacts:
    instance_type: str
    limits: catalog.InstanceLimits
    prefix_mode: bool  # ENABLE_PREFIX_DELEGATION and a Nitro type: pods get addresses from /28 prefixes
    ipv4_per_eni: int  # the type's addresses per ENI, the ENI's own primary address included
    prefixes_per_eni: int  # /28 prefixes one ENI holds in prefix mode (0 otherwise)
    addresses_per_eni: int  # pod addresses one ENI provides (16 per prefix, or its secondary addresses)
    cidr_slots_per_eni: int  # datastore CIDR entries one ENI holds: prefixes, or /32s
    max_enis: int  # after MAX_ENI
    unmanaged_enis: int  # attached ENIs ipamd leaves alone (no_manage tag, other cards, untagged)
    max_pods: int
    primary_eni_id: str
    primary_ip: str
    primary_subnet_id: str
    primary_security_groups: tuple[str, ...]
    vpc_id: str
    vpc_cidrs: tuple[str, ...]
    availability_zone: str

    @property
    def managed_eni_limit(self) -> int:
        """ENIs ipamd may hold: the type's limit less the ENIs it must not manage."""
        return self.max_enis - self.unmanaged_enis

    @property
    def address_unit(self) -> int:
        """Pod addresses per datastore CIDR: 16 for a prefix, 1 for a /32."""
        return policy.PREFIX_SIZE if self.prefix_mode else 1

    @classmethod
    def learn(cls, meta: InstanceMetadata, config: IpamConfig, max_pods: int | None) -> InstanceFacts:
        """The facts from instance metadata and settings; `unmanaged_enis` is filled in once ENIs are described."""
        try:
            limits = catalog.get(meta.instance_type)
        except catalog.UnknownInstanceType:
            raise IpamInitError(f"vpc ip resource(eni ip limit): unknown instance type: {meta.instance_type}") from None
        prefix_mode = config.enable_prefix_delegation and limits.supports_prefix_delegation
        ipv4_per_eni = limits.ipv4_per_eni
        prefixes = ipv4_per_eni - 1 if prefix_mode else 0
        addresses = policy.PREFIX_SIZE * prefixes if prefix_mode else ipv4_per_eni - 1
        primary = _primary(meta)
        return cls(
            instance_type=meta.instance_type,
            limits=limits,
            prefix_mode=prefix_mode,
            ipv4_per_eni=ipv4_per_eni,
            prefixes_per_eni=prefixes,
            addresses_per_eni=addresses,
            cidr_slots_per_eni=prefixes if prefix_mode else addresses,
            max_enis=effective_max_eni(config, limits.max_enis),
            unmanaged_enis=0,
            max_pods=max_pods or limits.eni_max_pods or 110,
            primary_eni_id=primary.eni_id,
            primary_ip=primary.local_ipv4s[0] if primary.local_ipv4s else "",
            primary_subnet_id=primary.subnet_id,
            primary_security_groups=tuple(sorted(primary.security_group_ids)),
            vpc_id=primary.vpc_id,
            vpc_cidrs=tuple(primary.vpc_cidrs),
            availability_zone=meta.availability_zone,
        )


def _primary(meta: InstanceMetadata) -> MetadataEni:
    for eni in meta.enis:
        if eni.device_number == 0 and eni.network_card == 0:
            return eni
    raise IpamInitError("instance metadata lists no primary ENI (device 0, network card 0)")
