"""The simulated VPC's resources: one SimCloud per account and region, shared by every client."""

from __future__ import annotations

import heapq
import ipaddress
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from mypy_extensions import mypyc_attr

from vpccni.catalog import InstanceLimits
from vpccni.cloud.clock import Clock
from vpccni.cloud.records import InstanceMetadata, MetadataEni
from vpccni.cloud.sim.addresses import SubnetAddresses
from vpccni.cloud.sim.config import SimConfig
from vpccni.cloud.sim.draws import draw_below, gauss_draw
from vpccni.cloud.sim.throttle import Throttler
from vpccni.cloud.sim.trail import CloudTrail

UNATTACHED_SLOT_LIMIT = 63  # the largest ipv4_per_eni − 1 in the catalog


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
@dataclass
class VpcState:
    vpc_id: str
    cidrs: list[ipaddress.IPv4Network]
    tags: dict[str, str] = field(default_factory=dict)


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
@dataclass
class SubnetState:
    subnet_id: str
    vpc_id: str
    az: str
    cidr: str
    pool: SubnetAddresses
    tags: dict[str, str] = field(default_factory=dict)
    external: list[int] = field(default_factory=list)  # addresses taken by others (shared subnet)


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
@dataclass
class AttachmentState:
    attachment_id: str
    instance_id: str
    device_index: int
    card_index: int
    attached_at: float  # attaching → attached
    delete_on_termination: bool
    detach_done_at: float | None = None  # detaching → detached

    def status(self, now: float) -> str:
        if self.detach_done_at is not None:
            return "detaching" if now < self.detach_done_at else "detached"
        return "attaching" if now < self.attached_at else "attached"


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
@dataclass
class EniState:
    eni_id: str
    subnet_id: str
    vpc_id: str
    az: str
    description: str
    groups: list[str]
    tags: dict[str, str]
    mac: str
    interface_type: str
    primary: int  # subnet offset of the primary address
    created_at: float
    metadata_at: float  # when the ENI appears in instance metadata (after attach)
    secondaries: dict[int, float] = field(default_factory=dict)  # offset → metadata-visible time
    prefixes: dict[int, float] = field(default_factory=dict)  # block offset → metadata-visible time
    attachment: AttachmentState | None = None
    conntrack: dict[str, int] | None = None
    # Bumped by every change the instance metadata view shows (addresses, prefixes, groups, attach/detach),
    # so the view of an unchanged ENI is built once, not at every metadata read.
    version: int = 0

    def __init__(
        self,
        eni_id: str,
        subnet_id: str,
        vpc_id: str,
        az: str,
        description: str,
        groups: list[str],
        tags: dict[str, str],
        mac: str,
        interface_type: str,
        primary: int,
        created_at: float,
        metadata_at: float,
        secondaries: dict[int, float] | None = None,
        prefixes: dict[int, float] | None = None,
        attachment: AttachmentState | None = None,
        conntrack: dict[str, int] | None = None,
        version: int = 0,
    ) -> None:
        self.eni_id = eni_id
        self.subnet_id = subnet_id
        self.vpc_id = vpc_id
        self.az = az
        self.description = description
        self.groups = groups
        self.tags = tags
        self.mac = mac
        self.interface_type = interface_type
        self.primary = primary
        self.created_at = created_at
        self.metadata_at = metadata_at
        self.secondaries = {} if secondaries is None else secondaries
        self.prefixes = {} if prefixes is None else prefixes
        self.attachment = attachment
        self.conntrack = conntrack
        self.version = version

    @property
    def slots(self) -> int:
        return len(self.secondaries) + len(self.prefixes)

    def changed(self) -> None:
        self.version += 1


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
@dataclass
class InstanceState:
    instance_id: str
    limits: InstanceLimits
    az: str
    subnet_id: str
    primary_eni: str
    running_at: float
    tags: dict[str, str]
    role: str
    state: str = "pending"
    # (card, device) → ENI id, kept in that order (`put_device`): the metadata view and DescribeInstances list the
    # ENIs so on every call, and IMDS is polled far more often than ENIs are attached
    devices: dict[tuple[int, int], str] = field(default_factory=dict)

    def put_device(self, card: int, device: int, eni_id: str) -> None:
        self.devices[(card, device)] = eni_id
        self.order_devices()

    def order_devices(self) -> None:
        """Put `devices` in (card, device) order (after an attach, or on loading a file saved before they were)."""
        self.devices = dict(sorted(self.devices.items()))

    def state_at(self, now: float) -> str:
        if self.state == "pending" and now >= self.running_at:
            self.state = "running"
        return self.state


_OCTET_HEX: Final = [f"{octet:02x}" for octet in range(256)]  # a MAC's octets, formatted once


class MetadataView:
    """One ENI's metadata entry and when it holds: for its `version`, on (card, device), from `since` until `until`."""

    __slots__ = ("version", "card", "device", "since", "until", "entry")

    def __init__(self, version: int, card: int, device: int, since: float, until: float, entry: MetadataEni) -> None:
        self.version = version
        self.card = card
        self.device = device
        self.since = since
        self.until = until
        self.entry = entry

    def holds(self, version: int, card: int, device: int, now: float) -> bool:
        same = self.version == version and self.card == card and self.device == device
        return same and self.since <= now < self.until


class SimCloud:
    """Every resource of one simulated account and region, plus its throttling buckets and trail.

    Clients (`SimEc2`) act on it under one re-entrant lock, so the daemon may call from many threads.
    """

    def __init__(self, clock: Clock, rng: random.Random | None = None, config: SimConfig | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random(0)
        self.config = config or SimConfig()
        self.lock = threading.RLock()
        self.throttler = Throttler(
            enabled=self.config.throttling, scale=self.config.throttle_scale, overrides=self.config.throttle_overrides
        )
        self.trail = CloudTrail(
            self.config.account_id, self.config.region, self.config.record_read_only, epoch=clock.epoch
        )
        self.vpcs: dict[str, VpcState] = {}
        self.subnets: dict[str, SubnetState] = {}
        self.enis: dict[str, EniState] = {}
        self.instances: dict[str, InstanceState] = {}
        self.attachments: dict[str, str] = {}  # attachment id → ENI id
        self._pending_detaches: list[tuple[float, str]] = []
        # Fault injection: action → [(code, message, remaining)]; denied actions; extra latency.
        self.faults: dict[str, list[list[object]]] = {}
        self.denied: set[str] = set()
        self.extra_latency: dict[str, float] = {}
        # Called (under the lock) after every successful mutating call: the daemon marks the account changed.
        self.on_change: Callable[[SimCloud], None] | None = None
        # Called (outside the lock) before such a call returns: the daemon waits until the change is durable.
        self.after_change: Callable[[], None] | None = None
        # ENI id → its last metadata entry and when that holds (not persisted: `persist.load` clears them)
        self.metadata_views: dict[str, MetadataView] = {}
        # each instance's last metadata view, handed out again while its ENI entries are the same (not persisted)
        self.instance_views: dict[str, InstanceMetadata] = {}

    # --- ids and randomness ---------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(68):017x}"

    def new_mac(self) -> str:
        rng = self.rng
        return "02:" + ":".join([_OCTET_HEX[draw_below(rng, 256)] for _ in range(5)])

    def lognormal(self, median: float, sigma: float) -> float:
        return median if sigma <= 0 else median * math.exp(gauss_draw(self.rng, 0.0, sigma))

    def metadata_delay(self) -> float:
        low, high = self.config.metadata_delay_bounds
        return min(high, max(low, self.lognormal(self.config.metadata_delay_median, self.config.metadata_sigma)))

    # --- time-driven transitions ----------------------------------------------------------------
    def schedule_detach(self, eni_id: str, done_at: float) -> None:
        heapq.heappush(self._pending_detaches, (done_at, eni_id))

    def settle(self) -> None:
        """Finish detaches whose delay has passed (the ENI becomes `available`)."""
        now = self.clock.now()
        while self._pending_detaches and self._pending_detaches[0][0] <= now:
            _, eni_id = heapq.heappop(self._pending_detaches)
            eni = self.enis.get(eni_id)
            if eni is None or eni.attachment is None or eni.attachment.detach_done_at is None:
                continue
            self.finish_detach(eni)

    def finish_detach(self, eni: EniState) -> None:
        att = eni.attachment
        assert att is not None
        instance = self.instances.get(att.instance_id)
        if instance is not None:
            instance.devices.pop((att.card_index, att.device_index), None)
        self.attachments.pop(att.attachment_id, None)
        eni.attachment = None

    # --- helpers for scenarios and tests ------------------------------------------------------
    def subnet_pool(self, subnet_id: str) -> SubnetAddresses:
        return self.subnets[subnet_id].pool

    def use_by_others(self, subnet_id: str, count: int) -> int:
        """Mark up to `count` addresses of a subnet as taken by someone else; returns how many were taken."""
        with self.lock:
            subnet = self.subnets[subnet_id]
            count = min(count, subnet.pool.free_count)
            taken = subnet.pool.take_addresses(count) or []
            subnet.external.extend(taken)
            return len(taken)

    def release_by_others(self, subnet_id: str, count: int) -> int:
        """Give back up to `count` of the addresses others took."""
        with self.lock:
            subnet = self.subnets[subnet_id]
            count = min(count, len(subnet.external))
            returned = [subnet.external.pop() for _ in range(count)]
            subnet.pool.give_back(returned)
            return count

    def fail_next(self, action: str, code: str, count: int = 1, message: str | None = None) -> None:
        """Make the next `count` calls of `action` fail with `code` (fault injection)."""
        with self.lock:
            self.faults.setdefault(action, []).append([code, message or f"Injected fault: {code}", count])

    def deny(self, action: str, denied: bool = True) -> None:
        """Answer `action` with UnauthorizedOperation (a missing IAM permission)."""
        with self.lock:
            (self.denied.add if denied else self.denied.discard)(action)

    def clear_faults(self) -> None:
        """Forget every injected failure, denial and extra latency: the API behaves normally again."""
        with self.lock:
            self.faults.clear()
            self.denied.clear()
            self.extra_latency.clear()

    def add_latency(self, action: str, seconds: float) -> None:
        """Add `seconds` to every call of `action` (fault injection: a slow API)."""
        with self.lock:
            self.extra_latency[action] = seconds
