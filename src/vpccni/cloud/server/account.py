"""The account a `vpccni cloud serve` process serves: built from a layout (flags or a scenario's `subnets:`),
or reloaded from its state directory, and saved there after every change, like EC2 outliving the server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vpccni.cloud.clock import Clock
from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2, parse_subnet_cidr, persist

STATE_FILE = "cloud.state"
NAME_TAG = "Name"


class AccountError(Exception):
    """A layout or state directory the server cannot start from; the message names the flag or file."""


@dataclass(frozen=True)
class SubnetLayout:
    name: str
    cidr: str
    az: str = ""  # default: the region's first zone
    used_by_others: int = 0


@dataclass(frozen=True)
class AccountLayout:
    vpc_cidr: str = "10.0.0.0/16"
    subnets: tuple[SubnetLayout, ...] = ()


@dataclass(frozen=True)
class AccountOptions:
    region: str = "us-west-2"
    seed: int = 0
    throttling: bool = True
    latency: bool = True
    throttle_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)


def parse_subnet_flag(text: str) -> SubnetLayout:
    """`NAME=CIDR[@AZ]` (e.g. `small=10.0.1.0/28@us-west-2b`); ValueError naming what is wrong."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"{text!r}: expected NAME=CIDR[@AZ], e.g. nodes=10.0.0.0/24@us-west-2a")
    cidr, _, az = rest.partition("@")
    return SubnetLayout(name, str(parse_subnet_cidr(cidr)), az)


def new_cloud(clock: Clock, options: AccountOptions) -> SimCloud:
    """A served account: clients retry on their own (botocore's standard mode), so the cloud never does."""
    config = SimConfig(
        region=options.region,
        throttling=options.throttling,
        latency=options.latency,
        throttle_overrides=dict(options.throttle_overrides),
        retry_max_attempts=1,
    )
    return SimCloud(clock, random.Random(options.seed), config)


def create_layout(cloud: SimCloud, layout: AccountLayout) -> None:
    """The VPC and its subnets, each tagged Name=NAME; addresses `used_by_others` are taken out of them."""
    try:
        vpc_network = ipaddress.IPv4Network(layout.vpc_cidr)
    except ValueError as exc:
        raise AccountError(f"--vpc-cidr {layout.vpc_cidr!r}: {exc}") from None
    names = [s.name for s in layout.subnets]
    if len(set(names)) != len(names):
        raise AccountError(f"subnet names must be unique, got {', '.join(names)}")
    tool = SimEc2(cloud)
    try:
        vpc = tool.create_vpc(str(vpc_network))
        for spec in layout.subnets:
            if not ipaddress.IPv4Network(spec.cidr).subnet_of(vpc_network):
                raise AccountError(f"subnet {spec.name} ({spec.cidr}) is not inside the VPC {vpc_network}")
            az = spec.az or f"{cloud.config.region}a"
            subnet = tool.create_subnet(vpc.vpc_id, spec.cidr, az, tags={NAME_TAG: spec.name})
            if spec.used_by_others and cloud.use_by_others(subnet.subnet_id, spec.used_by_others) < spec.used_by_others:
                raise AccountError(f"subnet {spec.name}: used_by_others {spec.used_by_others} is more than it holds")
    except Ec2Error as exc:
        raise AccountError(f"cannot create the VPC: {exc.code}: {exc.message}") from None


def open_account(state_dir: str, clock: Clock, options: AccountOptions, layout: AccountLayout) -> tuple[SimCloud, bool]:
    """The account in `state_dir` if one was saved there (True), else a new one from `layout` (False).

    Without a state directory the account lives as long as the process.
    """
    cloud = new_cloud(clock, options)
    if not state_dir:
        create_layout(cloud, layout)
        return cloud, False
    path = os.path.join(state_dir, STATE_FILE)
    try:
        os.makedirs(state_dir, exist_ok=True)
        restored = persist.load(cloud, path)
    except (OSError, ValueError, EOFError) as exc:
        raise AccountError(f"--state-dir {state_dir}: cannot load the account: {exc}") from None
    if not restored:
        create_layout(cloud, layout)
        persist.save(cloud, path)
    persist.persist_on_change(cloud, path)
    return cloud, restored


def summary(cloud: SimCloud) -> dict[str, Any]:
    """What a user needs to start calling: the VPCs, subnets (by Name tag) and instances of the account."""
    with cloud.lock:
        now = cloud.clock.now()
        return {
            "region": cloud.config.region,
            "vpcs": [{"vpc_id": v.vpc_id, "cidr": str(v.cidrs[0])} for v in cloud.vpcs.values()],
            "subnets": [
                {
                    "name": s.tags.get(NAME_TAG, ""),
                    "subnet_id": s.subnet_id,
                    "vpc_id": s.vpc_id,
                    "cidr": s.cidr,
                    "az": s.az,
                    "available": s.pool.free_count,
                }
                for s in cloud.subnets.values()
            ],
            "instances": [
                {"instance_id": i.instance_id, "type": i.limits.instance_type, "state": i.state_at(now)}
                for i in cloud.instances.values()
                if i.state_at(now) != "terminated"
            ],
        }


class TrailWriter:
    """Appends every CloudTrail event to a file as one JSON line, as it happens."""

    def __init__(self, path: str | Path) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
