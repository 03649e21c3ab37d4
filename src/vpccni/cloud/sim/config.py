"""Knobs of the simulated cloud; the defaults are the figures of the ec2 spec (§5, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Mean latency per operation in seconds (ec2 spec §5); others take DEFAULT_LATENCY.
MEAN_LATENCY: dict[str, float] = {
    "AttachNetworkInterface": 0.438,
    "AssignPrivateIpAddresses": 0.294,
    "DeleteNetworkInterface": 0.263,
    "DetachNetworkInterface": 0.203,
    "ModifyNetworkInterfaceAttribute": 0.155,
    "CreateNetworkInterface": 0.133,
    "DescribeInstances": 0.133,
    "DescribeNetworkInterfaces": 0.118,
    "CreateTags": 0.112,
}
DEFAULT_LATENCY = 0.150


@dataclass
class SimConfig:
    region: str = "us-west-2"
    account_id: str = "111122223333"
    address_policy: Literal["random", "lowest"] = "random"
    latency: bool = True  # advance the clock by each call's latency
    latency_sigma: float = 0.3  # lognormal jitter; 0 makes every latency exactly its mean
    latency_scale: float = 1.0
    attach_delay: float = 0.5
    detach_delay: float = 2.0
    metadata_delay_median: float = 1.0
    metadata_sigma: float = 0.5
    metadata_delay_bounds: tuple[float, float] = (0.1, 20.0)
    boot_delay: float = 0.0
    throttling: bool = True
    throttle_scale: float = 1.0
    throttle_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    retry_max_attempts: int = 10  # the client's standard retry policy; 1 = no retry
    record_read_only: bool = True
    # Real variant: at capacity, prefix and ENI-creation requests fail with InvalidParameterValue.
    insufficient_as_invalid_parameter: bool = False
    role_name: str = "eks-node-role"
