"""Datastore behaviour with exact errors: ipamd spec acceptance cases 26–30 and the cooldown stats of §7.4."""

from __future__ import annotations

import pytest

from vpccni.ipam.checkpoint import MemoryCheckpointStore, StoreCheckpoint, parse
from vpccni.ipam.datastore import Datastore, DatastoreError, IpamKey, NoAvailableAddress, PodMetadata, UnknownPod


def key(n: int) -> IpamKey:
    return IpamKey("aws-cni", f"sandbox-{n}", "eth0")


class FailingCheckpoint:
    def save(self, datastore: Datastore) -> None:
        raise OSError("disk full")


def test_sip_assignment_order_idempotence_and_errors() -> None:
    ds = Datastore(False, 30)
    ds.add_eni("eni-1", 0, True, 0)
    ds.add_cidr("eni-1", "1.1.1.1/32")
    first = ds.assign(key(1), PodMetadata(), 0)
    assert (first.address, first.device_number, first.route_table_id) == ("1.1.1.1", 0, 254)
    assert ds.assign(key(1), PodMetadata(), 0) == first and ds.assigned == 1
    ds.add_eni("eni-2", 1, False, 0)
    ds.add_cidr("eni-2", "1.1.2.2/32")
    second = ds.assign(key(2), PodMetadata(), 0)
    assert (second.address, second.route_table_id) == ("1.1.2.2", 2)
    with pytest.raises(NoAvailableAddress, match="no available IP/Prefix addresses"):
        ds.assign(key(3), PodMetadata(), 0)
    with pytest.raises(UnknownPod, match="datastore: unknown pod"):
        ds.release(key(9), 0)
    with pytest.raises(DatastoreError, match="duplicate ENI"):
        ds.add_eni("eni-1", 0, True, 0)


def test_checkpoint_failure_undoes_assignment() -> None:
    ds = Datastore(False, 30, FailingCheckpoint())
    ds.add_eni("eni-1", 0, True, 0)
    ds.add_cidr("eni-1", "1.1.1.1/32")
    with pytest.raises(OSError):
        ds.assign(key(1), PodMetadata(), 0)
    assert ds.assigned == 0 and ds.lookup(key(1)) is None


def test_prefix_assignment_and_cooldown() -> None:
    ds = Datastore(True, 30)
    ds.add_eni("eni-1", 0, True, 0)
    ds.add_cidr("eni-1", "10.0.0.0/28")
    assert [ds.assign(key(i), PodMetadata(), 0).address for i in range(3)] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert ds.stats(0).total == 16
    ds.release(key(1), 10)
    assert ds.stats(10).cooldown == 1
    assert ds.assign(key(3), PodMetadata(), 20).address == "10.0.0.3"
    assert ds.assign(key(4), PodMetadata(), 41).address == "10.0.0.1"


def test_cooldown_stats_with_period_1() -> None:
    ds = Datastore(False, 1)
    ds.add_eni("eni-1", 0, True, 0)
    for a in ("10.0.0.5/32", "10.0.0.6/32"):
        ds.add_cidr("eni-1", a)
    ds.assign(key(1), PodMetadata(), 0)
    ds.assign(key(2), PodMetadata(), 0)
    assert (ds.stats(0).total, ds.stats(0).assigned, ds.stats(0).cooldown) == (2, 2, 0)
    ds.release(key(1), 5)
    assert (ds.stats(5).total, ds.stats(5).assigned, ds.stats(5).cooldown) == (2, 1, 1)
    assert ds.stats(6).cooldown == 0


def test_forced_deletes() -> None:
    ds = Datastore(False, 30)
    ds.add_eni("eni-1", 0, True, 0)
    ds.add_cidr("eni-1", "10.0.0.5/32")
    ds.assign(key(1), PodMetadata(), 0)
    with pytest.raises(DatastoreError, match="IP is used and can not be deleted"):
        ds.del_cidr("eni-1", "10.0.0.5/32")
    ds.del_cidr("eni-1", "10.0.0.5/32", force=True)
    assert ds.force_removed_ips == 1
    ds.add_eni("eni-2", 1, False, 0)
    ds.add_cidr("eni-2", "10.0.0.6/32")
    ds.assign(key(2), PodMetadata(), 0)
    with pytest.raises(DatastoreError, match="ENI is used and can not be deleted"):
        ds.remove_eni("eni-2")
    ds.remove_eni("eni-2", force=True)
    assert ds.force_removed_enis == 1


def test_excluded_enis_and_pd_toggle() -> None:
    ds = Datastore(False, 30)
    ds.add_eni("eni-1", 0, True, 0, excluded=True)
    for a in ("10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32"):
        ds.add_cidr("eni-1", a)
    ds.add_eni("eni-2", 1, False, 0)
    for a in ("10.0.0.8/32", "10.0.0.9/32"):
        ds.add_cidr("eni-2", a)
    stats = ds.stats(0)
    assert (stats.total, stats.avail) == (2, 2)
    assert ds.assign(key(1), PodMetadata(), 0).eni_id == "eni-2"
    toggled = Datastore(False, 30)
    toggled.add_eni("eni-1", 0, True, 0)
    toggled.add_cidr("eni-1", "1.1.1.1/32")
    toggled.assign(key(1), PodMetadata(), 0)
    toggled.prefix_mode = True
    toggled.add_cidr("eni-1", "10.0.0.0/28")
    assert toggled.total == 17
    assert toggled.assign(key(2), PodMetadata(), 0).address == "10.0.0.0"
    assert toggled.stats(0).total == 16


def test_checkpoint_round_trip() -> None:
    store = MemoryCheckpointStore()
    ds = Datastore(False, 30, StoreCheckpoint(store))
    ds.add_eni("eni-1", 0, True, 0)
    ds.add_cidr("eni-1", "10.0.0.5/32")
    ds.assign(key(1), PodMetadata("shop", "cart-1", 1), 1.5)
    assert store.text is not None and store.text.endswith("\n")
    ((k, meta, address, when),) = parse(store.text)
    assert (k, meta.namespace, meta.name, address, when) == (key(1), "shop", "cart-1", "10.0.0.5", 1.5)
    assert '"version": "vpc-cni-ipam/1"' in store.text and "allocationTimestamp" in store.text
