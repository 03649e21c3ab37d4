"""The per-node IP address manager: datastore, warm-pool policy, node init, reconcile (one engine, many front ends)."""

from vpccni.ipam.config import EniConfig, IpamConfig
from vpccni.ipam.datastore import Assignment, Datastore, IpamKey, NoAvailableAddress, PodMetadata, Stats, UnknownPod
from vpccni.ipam.node import NodeIpam, Release

__all__ = [
    "Assignment",
    "Datastore",
    "EniConfig",
    "IpamConfig",
    "IpamKey",
    "NoAvailableAddress",
    "NodeIpam",
    "PodMetadata",
    "Release",
    "Stats",
    "UnknownPod",
]
