"""The engine's state in the reference's introspection shapes (ipamd spec §10.2), as plain dicts.

The daemon serves these as JSON on 127.0.0.1:61679; keeping the shapes here lets tests and the
simulators read the same view without any HTTP.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from vpccni.cloud.clock import utc_iso
from vpccni.ipam.config import IpamConfig
from vpccni.ipam.datastore import Cidr, Eni
from vpccni.ipam.node import NodeIpam

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def enis(node: NodeIpam) -> dict[str, Any]:
    """`/v1/enis`: one entry per network card (card 0 here), keyed "0"."""
    ds = node.ds
    return {
        "0": {
            "TotalIPs": ds.total,
            "AssignedIPs": ds.assigned,
            "ENIs": {eni.eni_id: _eni(eni, node.clock.epoch) for eni in ds.ordered_enis()},
        }
    }


def _eni(eni: Eni, epoch: float) -> dict[str, Any]:
    return {
        "ID": eni.eni_id,
        "IsPrimary": eni.is_primary,
        "IsTrunk": eni.is_trunk,
        "IsEFA": eni.is_efa,
        "DeviceNumber": eni.device_number,
        "AvailableIPv4Cidrs": {cidr.cidr: _cidr(cidr, epoch) for cidr in eni.cidrs.values()},
        "IPv6Cidrs": {},
        "IsExcludedForPodIPs": eni.excluded,
        "RouteTableID": eni.route_table_id,
        "SubnetID": eni.subnet_id,
    }


def _cidr(cidr: Cidr, epoch: float) -> dict[str, Any]:
    network = ipaddress.IPv4Network(cidr.cidr)
    addresses = {}
    for offset in sorted(cidr.entries):
        entry = cidr.entries[offset]
        metadata = entry.metadata
        addresses[entry.address] = {
            "Address": entry.address,
            # The reference scrubs container id and interface name from this view.
            "IPAMKey": {"networkName": entry.key.network_name if entry.key else "", "containerID": "", "ifName": ""},
            "IPAMMetadata": {
                "k8sPodNamespace": metadata.namespace if metadata else "",
                "k8sPodName": metadata.name if metadata else "",
                "interfacesCount": metadata.interfaces_count if metadata else 0,
            },
            "AssignedTime": utc_iso(entry.assigned_time, epoch) if entry.key else GO_ZERO_TIME,
            "UnassignedTime": (
                utc_iso(entry.unassigned_time, epoch) if entry.unassigned_time is not None else GO_ZERO_TIME
            ),
        }
    return {
        "Cidr": {
            "IP": str(network.network_address),
            "Mask": base64.b64encode(network.netmask.packed).decode(),
        },
        "IPAddresses": addresses,
        "IsPrefix": cidr.is_prefix,
        "AddressFamily": "4",
    }


def pods(node: NodeIpam) -> list[dict[str, Any]]:
    """Every assignment: pod, key and address (a vpccni addition, handy for operators and tests)."""
    out = []
    for key, metadata, address, assigned_time in node.ds.allocations():
        out.append(
            {
                "networkName": key.network_name,
                "containerID": key.container_id,
                "ifName": key.if_name,
                "k8sPodNamespace": metadata.namespace if metadata else "",
                "k8sPodName": metadata.name if metadata else "",
                "IPv4Addr": address,
                "AssignedTime": utc_iso(assigned_time, node.clock.epoch),
            }
        )
    return out


def warm_pool(node: NodeIpam) -> dict[str, Any]:
    """`/v1/warm-pool` (vpccni's): the policy in force and, for the adaptive one, its target and reason."""
    out: dict[str, Any] = {
        "policy": node.cfg.warm_pool_policy,
        "TotalIPs": node.ds.total,
        "AssignedIPs": node.ds.assigned,
    }
    decision, observed = node.adaptive_decision, node.observed
    if decision is not None and observed is not None:
        out.update(
            {
                "target": decision.low,
                "fill": decision.fill,
                "reason": decision.reason,
                "assignLatencySeconds": round(observed.assign_latency, 3),
                "eniLatencySeconds": round(observed.eni_latency, 3),
                "subnetFree": observed.subnet_free,
            }
        )
    return out


def ipamd_env_settings(config: IpamConfig) -> dict[str, Any]:
    """`/v1/ipamd-env-settings`."""
    return {
        "WARM_IP_TARGET": config.warm_ip_target,
        "WARM_ENI_TARGET": config.warm_eni_target,
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": config.custom_networking,
        "AWS_MANAGE_ENIS_NON_SCHEDULABLE": config.manage_enis_non_schedulable,
        "ENABLE_SUBNET_DISCOVERY": config.enable_subnet_discovery,
    }
