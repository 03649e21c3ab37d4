"""Per-instance-type limits, loaded once from the packaged CSV.

The CSV is read with the stdlib `csv` module into frozen records; it sits on the start path of every
command, so there is no pydantic or pandas here.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """What the VPC CNI needs to know about one EC2 instance type."""

    instance_type: str
    max_enis: int  # ENIs on the default network card, primary included
    ipv4_per_eni: int  # IPv4 addresses per ENI, primary included
    default_network_card_index: int
    network_cards: int
    hypervisor: str  # "nitro", "xen" or "" (bare metal reports none)
    bare_metal: bool
    branch_interfaces: int | None  # trunk-ENI branch interfaces (security groups for pods)
    is_trunking_compatible: bool
    network_card_max_enis: tuple[int, ...]
    vcpus: int | None
    memory_mib: int | None

    @property
    def is_nitro(self) -> bool:
        return self.hypervisor == "nitro"

    @property
    def supports_prefix_delegation(self) -> bool:
        """ipamd's rule (ipamd spec §2): Nitro or bare metal. The max-pods calculator is stricter."""
        return self.is_nitro or self.bare_metal

    @property
    def eni_max_pods(self) -> int:
        """The value of the reference's eni-max-pods.txt."""
        return self.max_enis * (self.ipv4_per_eni - 1) + 2


class UnknownInstanceType(KeyError):
    """An instance type that is not in the catalog; carries the closest known names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:
        hint = f" (did you mean {' or '.join(self.suggestions)}?)" if self.suggestions else ""
        return f"unknown instance type '{self.name}'{hint}"


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip() else None


def _parse_row(row: dict[str, str]) -> InstanceLimits:
    return InstanceLimits(
        instance_type=row["instance_type"],
        max_enis=int(row["max_enis"]),
        ipv4_per_eni=int(row["ipv4_per_eni"]),
        default_network_card_index=int(row["default_network_card_index"]),
        network_cards=int(row["network_cards"]),
        hypervisor="" if row["hypervisor"] in ("", "unknown") else row["hypervisor"],
        bare_metal=row["bare_metal"] == "true",
        branch_interfaces=_int_or_none(row["branch_interfaces"]),
        is_trunking_compatible=row["is_trunking_compatible"] == "true",
        network_card_max_enis=tuple(int(x) for x in row["network_card_max_enis"].split(";") if x),
        vcpus=_int_or_none(row["vcpus"]),
        memory_mib=_int_or_none(row["memory_mib"]),
    )


@cache
def _catalog() -> dict[str, InstanceLimits]:
    text = resources.files("vpccni.catalog").joinpath("data/instance-types.csv").read_text()
    return {row["instance_type"]: _parse_row(row) for row in csv.DictReader(io.StringIO(text))}


def all_types() -> list[str]:
    """Every known instance type, sorted by name."""
    return sorted(_catalog())


def suggest(name: str, count: int = 3) -> list[str]:
    """The closest known instance-type names, for "did you mean" messages."""
    return difflib.get_close_matches(name.lower(), _catalog().keys(), n=count, cutoff=0.6)


def get(instance_type: str) -> InstanceLimits:
    """Limits of one type; raises UnknownInstanceType with suggestions."""
    try:
        return _catalog()[instance_type]
    except KeyError:
        raise UnknownInstanceType(instance_type, suggest(instance_type)) from None
