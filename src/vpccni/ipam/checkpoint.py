"""The checkpoint file's content, in the reference's format `vpc-cni-ipam/1` (ipamd spec §8).

This module turns a datastore into that JSON and back; where the bytes go (a file, written atomically,
or memory) is the owner's business: the daemon passes a file store, simulators a memory one.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Protocol

from vpccni.ipam.datastore import Datastore, IpamKey, PodMetadata

VERSION = "vpc-cni-ipam/1"
NANOS = 1_000_000_000


class CheckpointError(Exception):
    pass


class CheckpointStore(Protocol):
    def write(self, text: str) -> None: ...

    def read(self) -> str | None:
        """The stored text, or None when nothing was ever stored (a fresh node)."""
        ...


class MemoryCheckpointStore:
    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.writes = 0

    def write(self, text: str) -> None:
        self.text = text
        self.writes += 1

    def read(self) -> str | None:
        return self.text


def render(datastore: Datastore, clock_offset: float = 0.0) -> str:
    allocations = []
    for key, metadata, address, assigned_time in datastore.allocations():
        record: dict[str, Any] = {
            "networkName": key.network_name,
            "containerID": key.container_id,
            "ifName": key.if_name,
            "ipv4": address,
            "allocationTimestamp": int(round((assigned_time + clock_offset) * NANOS)),
        }
        if metadata and (metadata.namespace or metadata.name):
            record["metadata"] = {
                "k8sPodNamespace": metadata.namespace,
                "k8sPodName": metadata.name,
                "interfacesCount": metadata.interfaces_count,
            }
        allocations.append(record)
    return json.dumps({"version": VERSION, "allocations": allocations}) + "\n"


def parse(text: str) -> list[tuple[IpamKey, PodMetadata, str, float]]:
    """Entries of a checkpoint; raises CheckpointError on anything but a valid vpc-cni-ipam/1 file."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {data.get('version') if isinstance(data, dict) else None!r}")
    allocations = data.get("allocations") or []
    if not isinstance(allocations, list):
        raise CheckpointError("checkpoint allocations is not a list")
    out = []
    for item in allocations:
        entry = _entry(item)
        if entry is not None:
            out.append(entry)
    return out


def _entry(item: Any) -> tuple[IpamKey, PodMetadata, str, float] | None:
    """One allocation record; None for a record without an address (the reference skips those)."""
    try:
        meta = item.get("metadata") or {}
        key = IpamKey(str(item.get("networkName", "")), str(item.get("containerID", "")), str(item.get("ifName", "")))
        metadata = PodMetadata(
            str(meta.get("k8sPodNamespace", "")), str(meta.get("k8sPodName", "")), int(meta.get("interfacesCount") or 1)
        )
        address = item.get("ipv4")
        if not address:
            return None
        if not isinstance(address, str):
            raise TypeError(f"ipv4 {address!r} is not a string")
        return key, metadata, str(ipaddress.IPv4Address(address)), int(item.get("allocationTimestamp", 0)) / NANOS
    except (AttributeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint record {str(item)[:200]}: {exc}") from None


class StoreCheckpoint:
    """A datastore checkpoint sink writing the rendered JSON to a store after every change."""

    def __init__(self, store: CheckpointStore, clock_offset: float = 0.0) -> None:
        self.store = store
        self.clock_offset = clock_offset

    def save(self, datastore: Datastore) -> None:
        self.store.write(render(datastore, self.clock_offset))


class LazyCheckpoint:
    """A checkpoint sink that renders only when read: simulators restart engines rarely, pods change often."""

    def __init__(self) -> None:
        self.datastore: Datastore | None = None

    def save(self, datastore: Datastore) -> None:
        self.datastore = datastore

    def store(self) -> MemoryCheckpointStore:
        """The checkpoint as a store a restarted engine can read."""
        return MemoryCheckpointStore(render(self.datastore) if self.datastore is not None else None)


class CheckpointWriteError(Exception):
    """The checkpoint holding a change could not be written: the change must not be acknowledged."""
