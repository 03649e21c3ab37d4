"""The catalog's limits and the max-pods formulas, checked over every row."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from vpccni import catalog
from vpccni.catalog import Mode


def _rows() -> list[dict[str, str]]:
    text = resources.files("vpccni.catalog").joinpath("data/instance-types.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


ROWS = _rows()


def test_catalog_holds_every_row() -> None:
    assert len(ROWS) == 1391
    assert len(catalog.all_types()) == 1391


def test_secondary_ip_uncapped_equals_eni_max_pods_for_every_row() -> None:
    for row in ROWS:
        result = catalog.max_pods(catalog.get(row["instance_type"]))
        assert result.max_pods_uncapped == int(row["max_pods"]), row["instance_type"]
        assert result.mode is Mode.SECONDARY_IP


def test_prefix_delegation_only_on_nitro() -> None:
    for row in ROWS:
        limits = catalog.get(row["instance_type"])
        result = catalog.max_pods(limits, prefix_delegation=True)
        slots = limits.ipv4_per_eni - 1
        if row["hypervisor"] == "nitro":
            assert result.mode is Mode.PREFIX
            assert result.max_pods_uncapped == limits.max_enis * slots * 16 + 2
            assert result.note is None or "Nitro" not in result.note
        else:
            assert result.mode is Mode.SECONDARY_IP
            assert result.max_pods_uncapped == limits.max_enis * slots + 2
            assert result.note is not None and "Nitro" in result.note


def test_custom_networking_uses_one_eni_fewer_everywhere() -> None:
    for name in catalog.all_types():
        limits = catalog.get(name)
        result = catalog.max_pods(limits, custom_networking=True)
        assert result.enis_used == limits.max_enis - 1
        assert result.max_pods_uncapped == (limits.max_enis - 1) * (limits.ipv4_per_eni - 1) + 2


@pytest.mark.parametrize(
    ("instance_type", "eni_max_pods", "calculator", "prefix", "custom"),
    [
        ("t3.medium", 17, 17, 110, 12),
        ("m5.large", 29, 29, 110, 20),
        ("c5.xlarge", 58, 58, 110, 44),
        ("m5.4xlarge", 234, 110, 110, 110),
        ("m5.8xlarge", 234, 234, 250, 205),
    ],
)
def test_worked_values_of_the_cluster_spec(
    instance_type: str, eni_max_pods: int, calculator: int, prefix: int, custom: int
) -> None:
    limits = catalog.get(instance_type)
    plain = catalog.max_pods(limits)
    assert plain.max_pods_uncapped == eni_max_pods
    assert plain.max_pods == calculator
    assert catalog.max_pods(limits, prefix_delegation=True).max_pods == prefix
    assert catalog.max_pods(limits, custom_networking=True).max_pods == custom


def test_m5_4xlarge_custom_networking_raw_value() -> None:
    assert catalog.max_pods(catalog.get("m5.4xlarge"), custom_networking=True).max_pods_uncapped == 205


def test_cap_boundary_between_30_and_32_vcpus() -> None:
    by_vcpus = {catalog.get(n).vcpus: n for n in ("m5.4xlarge", "m5.8xlarge")}
    assert set(by_vcpus) == {16, 32}
    assert catalog.max_pods(catalog.get("m5.4xlarge")).max_pods == 110
    assert catalog.max_pods(catalog.get("m5.8xlarge")).max_pods == 234
    assert catalog.max_pods(catalog.get("m5.8xlarge"), prefix_delegation=True).max_pods == 250
    for name in catalog.all_types():
        limits = catalog.get(name)
        result = catalog.max_pods(limits, prefix_delegation=True)
        cap = 250 if (limits.vcpus or 0) > 30 else 110
        assert result.max_pods == min(result.max_pods_uncapped, cap)


def test_max_eni_caps_first_then_custom_networking() -> None:
    limits = catalog.get("c5.xlarge")
    assert catalog.max_pods(limits, max_eni=2).max_pods_uncapped == 2 * 14 + 2
    assert catalog.max_pods(limits, max_eni=2, custom_networking=True).max_pods_uncapped == 14 + 2
    assert catalog.max_pods(limits, max_eni=10).enis_used == 4
    with pytest.raises(ValueError):
        catalog.max_pods(limits, max_eni=0)


def test_unknown_type_suggests_close_names() -> None:
    with pytest.raises(catalog.UnknownInstanceType) as info:
        catalog.get("m5.larg")
    assert "m5.large" in info.value.suggestions
    assert "did you mean m5.large" in str(info.value)


def test_limits_fields() -> None:
    m5 = catalog.get("m5.large")
    assert (m5.max_enis, m5.ipv4_per_eni, m5.vcpus, m5.memory_mib) == (3, 10, 2, 8192)
    assert m5.is_nitro and m5.supports_prefix_delegation and not m5.bare_metal
    assert m5.network_card_max_enis == (3,)
    metal = catalog.get("m5.metal")
    assert metal.bare_metal and metal.supports_prefix_delegation and not metal.is_nitro
    assert not catalog.get("m4.large").supports_prefix_delegation
