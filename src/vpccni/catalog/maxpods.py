"""Max-pods arithmetic, following the reference's max-pods calculator (cluster spec §3.1).

* secondary-IP: enis × (ips_per_eni − 1) + 2 (equals eni-max-pods.txt);
* prefix delegation: enis × (ips_per_eni − 1) × 16 + 2, Nitro hypervisor only (the calculator falls back
  to secondary-IP on Xen and on bare metal, which reports no hypervisor);
* custom networking: the primary ENI hosts no pods, so one ENI fewer;
* MAX_ENI caps the ENI count before custom networking takes one away;
* the recommended value caps at 110 when vCPUs ≤ 30, else at 250.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from vpccni.catalog.limits import InstanceLimits

CAP_SMALL = 110
CAP_LARGE = 250
CAP_VCPU_THRESHOLD = 30
PREFIX_ADDRESSES = 16


class Mode(StrEnum):
    SECONDARY_IP = "secondary-ip"
    PREFIX = "prefix"


@dataclass(frozen=True, slots=True)
class MaxPods:
    instance_type: str
    max_pods: int  # recommended (capped)
    max_pods_uncapped: int
    enis_used: int
    ips_per_eni: int
    mode: Mode
    custom_networking: bool
    vcpus: int | None
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["mode"] = str(self.mode)
        if self.note is None:
            del data["note"]
        return data


def recommended_cap(vcpus: int | None) -> int:
    """110 for up to 30 vCPUs, 250 above; an unknown vCPU count gets the small cap."""
    return CAP_LARGE if vcpus is not None and vcpus > CAP_VCPU_THRESHOLD else CAP_SMALL


def max_pods(
    limits: InstanceLimits,
    *,
    prefix_delegation: bool = False,
    custom_networking: bool = False,
    max_eni: int | None = None,
) -> MaxPods:
    """Max pods of one instance type in the requested mode."""
    if max_eni is not None and max_eni < 1:
        raise ValueError(f"max_eni must be at least 1, got {max_eni}")
    notes: list[str] = []
    enis = limits.max_enis
    if max_eni is not None and max_eni < enis:
        enis = max_eni
    if custom_networking:
        enis -= 1
    mode = Mode.SECONDARY_IP
    slots = limits.ipv4_per_eni - 1
    per_eni = slots
    if prefix_delegation:
        if limits.is_nitro:
            mode = Mode.PREFIX
            per_eni = slots * PREFIX_ADDRESSES
        else:
            kind = "bare metal" if limits.bare_metal else f"hypervisor {limits.hypervisor or 'unknown'}"
            notes.append(f"prefix delegation needs a Nitro instance ({kind}); secondary-IP mode used")
    uncapped = enis * per_eni + 2
    if limits.vcpus is None:
        notes.append("vCPU count unknown; cap of 110 assumed")
    return MaxPods(
        instance_type=limits.instance_type,
        max_pods=min(uncapped, recommended_cap(limits.vcpus)),
        max_pods_uncapped=uncapped,
        enis_used=enis,
        ips_per_eni=limits.ipv4_per_eni,
        mode=mode,
        custom_networking=custom_networking,
        vcpus=limits.vcpus,
        note="; ".join(notes) or None,
    )
