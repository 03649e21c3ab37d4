"""`NodeIpam`: one node's IP address manager — node init, the pool-manager cycle, reconcile, pods.

The same engine runs in the daemon (real clock) and in the simulators (virtual clock). It talks to the
cloud only through `Ec2Api`, reads time only from the injected clock, randomness only from the
injected RNG, and reports metrics to an injected sink. Section numbers refer to the ipamd spec.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from vpccni import catalog
from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock, utc_iso
from vpccni.cloud.errors import (
    AddressLimitError,
    Ec2Error,
    InsufficientAddressesError,
    NotFoundError,
    eni_id_from_not_found,
)
from vpccni.cloud.records import InstanceMetadata, MetadataEni, NetworkInterface
from vpccni.ipam import adaptive, policy
from vpccni.ipam.checkpoint import CheckpointStore, MemoryCheckpointStore, StoreCheckpoint, parse
from vpccni.ipam.config import EniConfig, IpamConfig, effective_max_eni
from vpccni.ipam.datastore import Assignment, Cidr, Datastore, DatastoreError, Eni, IpamKey, PodMetadata, Stats
from vpccni.ipam.metrics import CountingMetrics, MetricsSink
from vpccni.ipam.timing import POOL_HALF_CYCLE, RECONCILE_INTERVAL

log = logging.getLogger("vpccni.ipam")
T = TypeVar("T")

INSUFFICIENT_CIDR_BACKOFF = 120.0
DECREASE_INTERVAL = 30.0
RECONCILE_COOLDOWN = 60.0
ENI_MIN_AGE = 60.0
LEAKED_ENI_AGE = 300.0
DETACH_WAIT = 2.0
DESCRIPTION_PREFIX = "aws-K8S-"
TAG_INSTANCE = "node.k8s.amazonaws.com/instance_id"
TAG_CREATED = "node.k8s.amazonaws.com/createdAt"
TAG_NO_MANAGE = "node.k8s.amazonaws.com/no_manage"
TAG_CLUSTER = "cluster.k8s.amazonaws.com/name"
TAG_SUBNET_ROLE = "kubernetes.io/role/cni"


class IpamInitError(Exception):
    pass


@dataclass(frozen=True)
class Release:
    eni_id: str
    address: str
    device_number: int
    route_table_id: int
    interfaces_count: int


class NodeIpam:
    def __init__(
        self,
        ec2: Ec2Api,
        instance_id: str,
        config: IpamConfig,
        clock: Clock,
        rng: random.Random,
        *,
        max_pods: int | None = None,
        checkpoint_store: CheckpointStore | None = None,
        metrics: MetricsSink | None = None,
        eni_config: EniConfig | None = None,
        pod_alive: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.ec2 = ec2
        self.instance_id = instance_id
        self.cfg = config
        self.clock = clock
        self.rng = rng
        self.max_pods_input = max_pods
        self.checkpoint_store = checkpoint_store or MemoryCheckpointStore()
        self.metrics: MetricsSink = metrics or CountingMetrics()
        self.eni_config = eni_config
        self.pod_alive = pod_alive or (lambda namespace, name: True)
        self.terminating = False
        self.unschedulable = False
        self.last_insufficient: float | None = None
        self.last_decrease: float | None = None
        self.last_pool_action = clock.now()
        self.reconcile_cooldown: dict[str, float] = {}
        self.ds = Datastore(False, config.ip_cooldown_period, StoreCheckpoint(self.checkpoint_store))
        self.initialized = False
        # WARM_POOL_POLICY=adaptive: what the node has seen, and the last decision (for metrics/introspection)
        self.observed: adaptive.Observations | None = adaptive.Observations() if config.adaptive else None
        self.adaptive_decision: adaptive.Decision | None = None
        self._unserved: dict[str, float] = {}  # pods refused an address, so their retries count once

    # --- EC2 calls, counted like the reference ------------------------------------------------------
    def _ec2(self, action: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.metrics.inc("awscni_ec2api_req_count", fn=action)
        start = self.clock.now()
        try:
            result = call(*args, **kwargs)
        except Ec2Error as exc:
            self.metrics.inc("awscni_ec2api_error_count", fn=action)
            self.metrics.inc("awscni_aws_api_error_count", api=action, error=exc.code)
            self.metrics.observe(
                "awscni_aws_api_latency_ms",
                (self.clock.now() - start) * 1000,
                api=action,
                error="true",
                status=exc.code,
            )
            raise
        self.metrics.observe(
            "awscni_aws_api_latency_ms", (self.clock.now() - start) * 1000, api=action, error="false", status="200"
        )
        return result

    def _error(self, fn: str) -> None:
        self.metrics.inc("awscni_ipamd_error_count", fn=fn)

    def _retry(self, attempts: int, base: float, jitter: float, call: Callable[[], T]) -> T:
        """The reference's ENI-lifecycle retry loops (§11.3): back-off base × 2^try, cap 60 s, + jitter."""
        for attempt in range(attempts):
            try:
                return call()
            except NotFoundError:
                raise
            except Ec2Error:
                if attempt == attempts - 1:
                    raise
                delay = min(base * 2**attempt, 60.0)
                self.clock.sleep(delay * (1 + self.rng.random() * jitter))
        raise AssertionError("unreachable")

    # --- node init (§5.3) ---------------------------------------------------------------------------
    def init(self) -> None:
        meta = self._metadata()
        if meta is None:
            raise IpamInitError("instance metadata unavailable")
        try:
            self.limits = catalog.get(meta.instance_type)
        except catalog.UnknownInstanceType:
            raise IpamInitError(f"vpc ip resource(eni ip limit): unknown instance type: {meta.instance_type}") from None
        self.instance_type = meta.instance_type
        self.prefix_mode = self.cfg.enable_prefix_delegation and self.limits.supports_prefix_delegation
        self.ds.prefix_mode = self.prefix_mode
        self.ip_limit = self.limits.ipv4_per_eni
        self.p = self.ip_limit - 1 if self.prefix_mode else 0
        self.m = 16 * self.p if self.prefix_mode else self.ip_limit - 1
        self.slots = self.p if self.prefix_mode else self.m  # CIDR entries one ENI holds
        self.max_eni = effective_max_eni(self.cfg, self.limits.max_enis)
        self.max_pods = self.max_pods_input or self.limits.eni_max_pods or 110
        primary = next(e for e in meta.enis if e.device_number == 0 and e.network_card == 0)
        self.primary_eni_id = primary.eni_id
        self.primary_ip = primary.local_ipv4s[0] if primary.local_ipv4s else ""
        self.primary_subnet = primary.subnet_id
        self.primary_groups = tuple(sorted(primary.security_group_ids))
        self.vpc_id = primary.vpc_id
        self.vpc_cidrs = primary.vpc_cidrs
        self.az = meta.availability_zone
        self.unmanaged = 0
        described = self._describe_all([e.eni_id for e in meta.enis])
        for entry in meta.enis:
            eni = described.get(entry.eni_id)
            if entry.network_card != 0 or not self._managed(entry, eni):
                self.unmanaged += 1
                continue
            self._tag_if_needed(entry.eni_id, eni.tags if eni else {})
            self._setup_eni(entry)
        self._restore_checkpoint()
        self._mode_toggle_cleanup()
        self._report_limits()
        if not self.cfg.provisioning_disabled:
            stats = self.ds.stats(self.clock.now())
            if self.observed is not None:
                self.observed.prime(self.m, self.clock.now())
                self._adaptive_cycle(during_init=True)
            elif self._pool_too_low(stats):
                self._increase(stats, during_init=True)
        self.initialized = True

    def _metadata(self) -> InstanceMetadata | None:
        try:
            return self.ec2.instance_metadata(self.instance_id)
        except Ec2Error:
            return None

    def _describe_all(self, eni_ids: Sequence[str]) -> dict[str, NetworkInterface]:
        ids = list(eni_ids)
        for attempt in range(12):
            try:
                return {
                    e.eni_id: e
                    for e in self._ec2("DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, ids)
                }
            except NotFoundError as exc:
                missing = eni_id_from_not_found(exc.message)
                if missing in ids:
                    ids.remove(missing)
            except Ec2Error:
                self.clock.sleep((attempt + 1) * 0.01)
        return {}

    def _managed(self, entry: MetadataEni, eni: NetworkInterface | None) -> bool:
        if entry.eni_id == self.primary_eni_id:
            return True
        tags = eni.tags if eni else {}
        if TAG_NO_MANAGE in tags:
            return tags[TAG_NO_MANAGE] != "true"
        if tags.get(TAG_INSTANCE) == self.instance_id:
            return True
        return self.cfg.manage_untagged_eni

    def _wanted_tags(self, created: bool) -> dict[str, str]:
        tags = {TAG_INSTANCE: self.instance_id}
        if self.cfg.cluster_name:
            tags[TAG_CLUSTER] = self.cfg.cluster_name
            tags["eks:eni:owner"] = "amazon-vpc-cni"
        tags.update(self.cfg.additional_eni_tags)
        if created:
            tags[TAG_CREATED] = utc_iso(self.clock.now(), self.clock.epoch)
        return tags

    def _tag_if_needed(self, eni_id: str, current: dict[str, str]) -> None:
        if self.cfg.provisioning_disabled:
            return
        missing = {k: v for k, v in self._wanted_tags(False).items() if current.get(k) != v}
        if missing:
            try:
                self._retry(5, 0.5, 0.3, lambda: self._ec2("CreateTags", self.ec2.create_tags, [eni_id], missing))
            except Ec2Error as exc:
                log.warning("tagging %s failed: %s", eni_id, exc)

    def _setup_eni(self, entry: MetadataEni) -> Eni:
        eni = self.ds.enis.get(entry.eni_id)
        if eni is None:
            eni = self.ds.add_eni(
                entry.eni_id,
                entry.device_number,
                entry.eni_id == self.primary_eni_id,
                self.clock.now(),
                subnet_id=entry.subnet_id,
            )
            self.metrics.set("awscni_assigned_ip_per_eni", 0, eni=entry.eni_id)
        for address in entry.local_ipv4s[1:]:
            self._add_cidr(eni, f"{address}/32")
        for prefix in entry.ipv4_prefixes:
            self._add_cidr(eni, prefix)
        return eni

    def _add_cidr(self, eni: Eni, cidr: str) -> bool:
        try:
            self.ds.add_cidr(eni.eni_id, cidr)
            return True
        except DatastoreError:
            return False

    def _restore_checkpoint(self) -> None:
        text = self.checkpoint_store.read()
        if text is None:
            return
        unplaced = []
        for key, metadata, address, assigned_time in parse(text):
            if (metadata.namespace or metadata.name) and not self.pod_alive(metadata.namespace, metadata.name):
                continue
            if not self.ds.restore(key, metadata, address, assigned_time):
                unplaced.append((key, metadata, address, assigned_time))
        if unplaced and self._load_cidrs_metadata_lacks():
            for key, metadata, address, assigned_time in unplaced:
                self.ds.restore(key, metadata, address, assigned_time)
        self.ds.checkpoint.save(self.ds)

    def _load_cidrs_metadata_lacks(self) -> bool:
        """EC2 as tie-breaker for a restart right after an Assign: metadata may not list the new addresses yet.

        The reference drops such pods as stale (its metadata-lag quirk); a pod keeping its address across
        an ipamd restart matters more, so vpccni asks EC2 once before dropping anything.
        """
        try:
            described = self._describe_all(list(self.ds.enis))
        except Ec2Error:
            return False
        for eni in self.ds.ordered_enis():
            found = described.get(eni.eni_id)
            if found is None:
                continue
            for cidr in (*(f"{ip}/32" for ip in found.secondary_ips), *found.ipv4_prefixes):
                if cidr not in eni.cidrs:
                    self._add_cidr(eni, cidr)
        return True

    def _mode_toggle_cleanup(self) -> None:
        if self.cfg.provisioning_disabled:
            return
        for eni in self.ds.ordered_enis():
            stale = [c for c in eni.cidrs.values() if c.is_prefix != self.prefix_mode and c.assigned == 0]
            if not stale:
                continue
            for cidr in stale:
                self.ds.del_cidr(eni.eni_id, cidr.cidr)
            self._unassign(eni.eni_id, [c.cidr for c in stale])

    def _report_limits(self) -> None:
        self.metrics.set("awscni_eni_max", self.max_eni - self.unmanaged)
        self.metrics.set("awscni_ip_max", self.m * (self.max_eni - self.unmanaged))
        self.report_gauges()

    def report_gauges(self) -> None:
        """Set the datastore gauges from the current state (the daemon also calls this before a scrape)."""
        self.metrics.set("awscni_eni_allocated", len(self.ds.enis))
        self.metrics.set("awscni_total_ip_addresses", self.ds.total)
        self.metrics.set("awscni_assigned_ip_addresses", self.ds.assigned)
        self.metrics.set("awscni_total_ipv4_prefixes", self.ds.allocated_prefix)

    # --- pool decisions (§3) ------------------------------------------------------------------------
    def stats(self) -> Stats:
        return self.ds.stats(self.clock.now())

    def _pool_too_low(self, stats: Stats) -> bool:
        return policy.pool_too_low(stats, self.cfg, self.prefix_mode, self.m, self.max_pods)

    def cycle(self) -> None:
        """One pool-manager pass (§3.6)."""
        if self.cfg.provisioning_disabled:
            return
        if self.observed is not None:
            self._adaptive_cycle()
            return
        stats = self.ds.stats(self.clock.now())
        scaled_down = False
        if self._pool_too_low(stats):
            self._increase(stats)
        elif policy.pool_too_high(stats, self.cfg, self.prefix_mode) and (
            self.last_decrease is None or self.clock.now() - self.last_decrease > DECREASE_INTERVAL
        ):
            self._decrease(stats)
            scaled_down = True
        if policy.should_try_free_eni(stats, self.cfg, self.prefix_mode, self.m, self._idle_eni_exists()):
            self._try_free_eni()
        if scaled_down:
            self.last_decrease = self.last_pool_action = self.clock.now()
        self.report_gauges()

    def _idle_eni_exists(self) -> bool:
        return any(
            not e.is_primary and not e.is_trunk and not e.is_efa and e.assigned == 0 for e in self.ds.enis.values()
        )

    # --- the adaptive warm pool (WARM_POOL_POLICY=adaptive; decisions in ipam/adaptive.py) ----------
    @staticmethod
    def _demand_id(key: IpamKey, metadata: PodMetadata | None) -> str:
        if metadata is not None and metadata.name:
            return f"{metadata.namespace}/{metadata.name}"
        return key.container_id

    def _note_demand(self, key: IpamKey, metadata: PodMetadata | None) -> None:
        """Count a pod's first request for an address; a refused pod's retries are the same demand."""
        assert self.observed is not None
        now = self.clock.now()
        demand = self._demand_id(key, metadata)
        if self._unserved.pop(demand, None) is not None:
            return
        for stale in [d for d, t in self._unserved.items() if now - t > adaptive.RATE_WINDOW]:
            del self._unserved[stale]
        self.observed.arrival(now, adaptive.refill_seconds(self.observed, not self._room_on_enis()))

    def _room_on_enis(self) -> int:
        """Addresses the attached ENIs can still take without a new ENI."""
        unit = policy.PREFIX_SIZE if self.prefix_mode else 1
        return sum(self.slots - len(e.cidrs) for e in self._candidates()) * unit

    def _pool_view(self, stats: Stats) -> adaptive.PoolView:
        return adaptive.PoolView(
            now=self.clock.now(),
            total=stats.total,
            assigned=stats.assigned,
            cooling=stats.cooldown,
            room_on_enis=self._room_on_enis(),
            eni_size=self.m,
            unit=policy.PREFIX_SIZE if self.prefix_mode else 1,
            max_pods=self.max_pods,
            minimum_total=self.cfg.minimum_ip_target,
            warm_floor=self.cfg.warm_ip_target,
        )

    def _adaptive_cycle(self, during_init: bool = False) -> None:
        """One pool-manager pass under the adaptive policy: decide from a view of the pool, then act."""
        obs = self.observed
        assert obs is not None
        now = self.clock.now()
        stats = self.ds.stats(now)
        view = self._pool_view(stats)
        decision = adaptive.decide(view, obs)
        may_release = self.last_decrease is None or now - self.last_decrease > DECREASE_INTERVAL
        backoff = self.last_insufficient is not None and now - self.last_insufficient <= INSUFFICIENT_CIDR_BACKOFF
        may_grow = not backoff and (view.room_on_enis > 0 or self._room_for_eni())
        if ((decision.grow and may_grow) or (decision.release and may_release)) and obs.subnet_check_due(now):
            self._read_subnet()  # only before acting: the read's rate stays bounded and its timing deterministic
            decision = adaptive.decide(view, obs)
        adaptive.note_surplus(obs, decision, view)
        self.adaptive_decision = decision
        self.metrics.set("awscni_adaptive_warm_target", decision.low)
        if decision.grow > 0:
            self._adaptive_grow(decision.grow, stats, during_init, decision.anticipating)
        elif decision.release > 0 and may_release:
            unit = policy.PREFIX_SIZE if self.prefix_mode else 1
            if decision.release >= unit:
                self._decrease(stats, over=decision.release // unit, enis=self._most_free_eni())
                self.last_decrease = self.last_pool_action = self.clock.now()
                obs.released(self.last_decrease)
        self._adaptive_free_enis()
        self.report_gauges()

    def _read_subnet(self) -> None:
        """The primary subnet's free count, for the policy's subnet awareness (a bounded-rate describe)."""
        assert self.observed is not None
        try:
            subnets = self._ec2("DescribeSubnets", self.ec2.describe_subnets, [self.primary_subnet])
        except Ec2Error as exc:
            log.info("adaptive pool: subnet %s not read: %s", self.primary_subnet, exc.code)
            self.observed.subnet_checked_at = self.clock.now()
            return
        for subnet in subnets:
            if subnet.subnet_id == self.primary_subnet:
                capacity = ipaddress.IPv4Network(subnet.cidr_block).num_addresses - 5
                self.observed.subnet(subnet.available_ip_address_count, capacity, self.clock.now())

    def _adaptive_grow(self, addresses: int, stats: Stats, during_init: bool, anticipated: bool) -> None:
        """Add `addresses`: top up ENIs with room, then create ENIs (a few per cycle for a large shortfall)."""
        obs = self.observed
        assert obs is not None
        if self.terminating or (self.unschedulable and not self.cfg.manage_enis_non_schedulable):
            return
        backoff_since = self.last_insufficient
        if backoff_since is not None and self.clock.now() - backoff_since <= INSUFFICIENT_CIDR_BACKOFF:
            return
        remaining, created = addresses, 0
        while remaining > 0:
            cidrs = policy.ceil16(remaining) if self.prefix_mode else remaining
            before, start = self.ds.total, self.clock.now()
            try:
                if self._add_to_existing(stats, want=cidrs, candidates=self._fewest_calls_first(cidrs)):
                    obs.latency("assign", self.clock.now() - start)
                elif self._room_for_eni() and created < adaptive.MAX_ENIS_PER_CYCLE:
                    created += 1
                    if not self._alloc_eni(stats, size=min(cidrs, self.slots, self.ip_limit - 1)):
                        break
                    obs.latency("eni", self.clock.now() - start)
                else:
                    break
            except InsufficientAddressesError:
                self.last_insufficient = self.clock.now()
                break
            except Ec2Error as exc:
                if during_init:
                    raise IpamInitError(f"pre-scaling failed: {exc}") from exc
                log.warning("adaptive increase failed: %s", exc)
                break
            got = self.ds.total - before
            if got <= 0:
                break
            remaining -= got
            self.last_pool_action = self.clock.now()
            obs.grew(self.last_pool_action, anticipated)
            stats = self.ds.stats(self.clock.now())

    def _fewest_calls_first(self, cidrs: int) -> list[Eni]:
        """ENIs with room in the order that needs fewest calls: one that takes it all, then the roomiest."""
        ordered = self._candidates()
        whole = [e for e in ordered if self.slots - len(e.cidrs) >= cidrs]
        rest = sorted((e for e in ordered if e not in whole), key=lambda e: -(self.slots - len(e.cidrs)))
        return whole[:1] + rest

    def _most_free_eni(self) -> list[Eni]:
        """The ENI holding most free CIDRs: a release is one call (the rest of a surplus waits its turn)."""

        def free(eni: Eni) -> int:
            return sum(1 for c in eni.mode_cidrs(self.prefix_mode) if c.assigned == 0)

        ordered = self.ds.ordered_enis()
        best = max(reversed(ordered), key=free, default=None)
        return [best] if best is not None else []

    def _adaptive_free_enis(self) -> None:
        """Free ENIs that have held no address for ENI_IDLE_HOLD (at once when the subnet is nearly full)."""
        obs = self.observed
        assert obs is not None
        if self.terminating or (self.unschedulable and not self.cfg.manage_enis_non_schedulable):
            return
        now = self.clock.now()
        critical = adaptive.subnet_fraction(obs) < adaptive.SUBNET_CRITICAL
        for eni in list(self.ds.enis.values()):
            if eni.is_primary or eni.is_trunk or eni.is_efa or eni.cidrs:
                obs.empty_since.pop(eni.eni_id, None)
                continue
            since = obs.empty_since.setdefault(eni.eni_id, now)
            if now - eni.created_at < ENI_MIN_AGE or (now - since < adaptive.eni_idle_hold(obs) and not critical):
                continue
            if obs.last_growth is not None and now - obs.last_growth < adaptive.SURPLUS_HOLD:
                continue
            del obs.empty_since[eni.eni_id]
            self.ds.remove_eni(eni.eni_id)
            self.metrics.set("awscni_assigned_ip_per_eni", float("nan"), eni=eni.eni_id)
            self._free_eni_in_ec2(eni.eni_id)
            return  # one ENI per cycle, as the reference frees them

    def _increase(self, stats: Stats, during_init: bool = False) -> None:
        """§3.7."""
        if self.terminating or (self.unschedulable and not self.cfg.manage_enis_non_schedulable):
            return
        now = self.clock.now()
        if self.last_insufficient is not None and now - self.last_insufficient <= INSUFFICIENT_CIDR_BACKOFF:
            return
        try:
            if self._add_to_existing(stats):
                self.last_pool_action = self.clock.now()
                return
        except InsufficientAddressesError:
            self.last_insufficient = self.clock.now()
            return
        except Ec2Error as exc:
            if during_init:
                raise IpamInitError(f"pre-scaling failed: {exc}") from exc
            log.warning("increase failed: %s", exc)
            return
        if self._room_for_eni():
            if self._alloc_eni(stats):
                self.last_pool_action = self.clock.now()
        else:
            log.debug("max ENI limit is already reached")

    def _room_for_eni(self) -> bool:
        return len(self.ds.enis) < self.max_eni - self.unmanaged

    def _candidates(self) -> list[Eni]:
        return [
            e
            for e in self.ds.ordered_enis()
            if not e.is_trunk
            and not e.excluded
            and not (self.cfg.custom_networking and e.is_primary)
            and len(e.cidrs) < self.slots
        ]

    def _add_to_existing(self, stats: Stats, want: int | None = None, candidates: list[Eni] | None = None) -> bool:
        """Top up the first ENI with room; True when one ENI got addresses or prefixes.

        `want` (CIDRs: addresses, or prefixes in PD mode) and the ENIs in order of preference come from the
        adaptive policy; without them the reference's policy and order decide.
        """
        if want is None and self.prefix_mode:
            want = policy.prefixes_wanted(stats, self.cfg)
        elif want is None:
            if self.cfg.defined and policy.target_state(stats, self.cfg, False).short == 0:
                return False
            want = policy.addresses_wanted(stats, self.cfg, self.m)
        for eni in self._candidates() if candidates is None else candidates:
            count = min(self.slots - len(eni.cidrs), want, self.ip_limit - 1)
            if count < 1:
                continue
            try:
                added = self._assign_with_fallback(eni, count)
            except InsufficientAddressesError as exc:
                self._error("increaseIPPoolAllocIPAddressesFailed")
                if self.cfg.enable_subnet_discovery:
                    log.info("no addresses for %s (%s); trying the next ENI", eni.eni_id, exc.code)
                    continue
                raise
            except Ec2Error:
                self._error("increaseIPPoolAllocIPAddressesFailed")
                raise
            for cidr in added:
                self._add_cidr(eni, cidr)
            return True
        return False  # no ENI had room, or (subnet discovery) every one failed: a new ENI is next

    def _assign_with_fallback(self, eni: Eni, count: int) -> list[str]:
        """Assign `count`; on an error other than limit-exceeded retry once with 1 (§3.7 steps 1–4)."""
        for attempt_count in (count, 1):
            try:
                result = self._ec2(
                    "AssignPrivateIpAddresses",
                    self.ec2.assign_private_ip_addresses,
                    eni.eni_id,
                    **(
                        {"ipv4_prefix_count": attempt_count}
                        if self.prefix_mode
                        else {"secondary_ip_count": attempt_count}
                    ),
                )
                return [f"{a}/32" for a in result.addresses] + list(result.prefixes)
            except AddressLimitError:
                return self._resync_eni(eni)
            except Ec2Error:
                if attempt_count == 1:
                    raise
        raise AssertionError("unreachable")

    def _resync_eni(self, eni: Eni) -> list[str]:
        (described,) = self._ec2("DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, [eni.eni_id])
        if self.prefix_mode:
            return list(described.ipv4_prefixes)
        return [f"{a}/32" for a in described.secondary_ips]

    # --- allocate an ENI (§3.7, §11.3, §11.4) -------------------------------------------------------
    def _subnets_for_new_eni(self) -> list[str]:
        if self.cfg.custom_networking and self.eni_config is not None:
            return [self.eni_config.subnet_id]
        if not self.cfg.enable_subnet_discovery:
            return [self.primary_subnet]
        subnets = self._ec2(
            "DescribeSubnets",
            self.ec2.describe_subnets,
            filters={"vpc-id": [self.vpc_id], "availability-zone": [self.az]},
        )
        candidates = [
            s
            for s in subnets
            if s.tags.get(TAG_SUBNET_ROLE) != "0"
            and (s.subnet_id == self.primary_subnet or TAG_SUBNET_ROLE in s.tags)
            and self._cluster_tag_matches(s.tags)
        ]
        candidates.sort(key=lambda s: -s.available_ip_address_count)
        return [s.subnet_id for s in candidates]

    def _cluster_tag_matches(self, tags: dict[str, str]) -> bool:
        prefix = "cni.networking.k8s.aws/cluster/"
        if not self.cfg.cluster_name or not any(k.startswith(prefix) for k in tags):
            return True
        return f"{prefix}{self.cfg.cluster_name}" in tags

    def _alloc_eni(self, stats: Stats, size: int | None = None) -> bool:
        """Create, attach and set up one ENI with `size` CIDRs (the reference's size when not given)."""
        if size is None:
            size = policy.new_eni_size(stats, self.cfg, self.prefix_mode, self.m, self.p, self.ip_limit)
        if size <= 0:
            return False
        groups = self.primary_groups
        if self.cfg.custom_networking and self.eni_config and self.eni_config.security_groups:
            groups = tuple(sorted(self.eni_config.security_groups))
        try:
            subnets = self._subnets_for_new_eni()
        except Ec2Error:
            self._error("increaseIPPoolAllocENI")
            return False
        created: NetworkInterface | None = None
        failure: Ec2Error | None = None
        for subnet_id in subnets:
            try:
                created = self._ec2(
                    "CreateNetworkInterface",
                    self.ec2.create_network_interface,
                    subnet_id,
                    description=f"{DESCRIPTION_PREFIX}{self.instance_id}",
                    groups=groups,
                    tags=self._wanted_tags(True),
                    **({"ipv4_prefix_count": size} if self.prefix_mode else {"secondary_ip_count": size}),
                )
                break
            except InsufficientAddressesError as exc:
                failure = exc
            except Ec2Error as exc:
                failure = exc
                break
        if created is None:
            self._error("increaseIPPoolAllocENI")
            if failure is None or isinstance(failure, InsufficientAddressesError):
                self._error("increaseIPPoolAllocIPAddressesFailed")
                self.last_insufficient = self.clock.now()
            return False
        attached = self._attach(created.eni_id)
        if attached is None:
            return False
        device, attachment_id = attached
        try:
            self._ec2(
                "ModifyNetworkInterfaceAttribute",
                self.ec2.modify_network_interface_attribute,
                created.eni_id,
                attachment_id=attachment_id,
                delete_on_termination=True,
            )
        except Ec2Error:
            self._error("increaseIPPoolAllocENI")
            self._free_eni_in_ec2(created.eni_id)
            return False
        entry = self._wait_for_attach(created.eni_id, size)
        if entry is None:
            self._error("increaseIPPoolwaitENIAttachedFailed")
            return False
        self._setup_eni(entry)
        return True

    def _attach(self, eni_id: str) -> tuple[int, str] | None:
        try:
            (me,) = self._ec2("DescribeInstances", self.ec2.describe_instances, [self.instance_id])
            used = {e.device_index for e in me.network_interfaces if e.network_card_index == 0}
            device = next(i for i in range(100) if i not in used)
            attachment_id = self._ec2(
                "AttachNetworkInterface", self.ec2.attach_network_interface, eni_id, self.instance_id, device, 0
            )
            return device, attachment_id
        except (Ec2Error, StopIteration):
            self._error("increaseIPPoolAllocENI")
            try:
                self._delete_eni(eni_id)
            except NotFoundError:
                pass
            except Ec2Error:
                self.metrics.inc("awscni_aws_utils_error_count", fn="AllocENIDeleteErr", error="delete")
            return None

    def _wait_for_attach(self, eni_id: str, wanted: int) -> MetadataEni | None:
        """Poll metadata until the ENI shows `wanted` addresses/prefixes (§11.3)."""
        last: MetadataEni | None = None
        for attempt in range(12):
            meta = self._metadata()
            last = next((e for e in meta.enis if e.eni_id == eni_id), None) if meta else None
            if last is not None:
                have = len(last.ipv4_prefixes) if self.prefix_mode else len(last.local_ipv4s) - 1
                if have >= wanted:
                    return last
            if attempt < 11:
                delay = min(0.1 * 2**attempt, 60.0)
                self.clock.sleep(delay * (1 + self.rng.random() * 0.15))
        if last is not None:
            have = len(last.ipv4_prefixes) if self.prefix_mode else len(last.local_ipv4s) - 1
            if (self.prefix_mode and have > 1) or (not self.prefix_mode and have >= 1):
                return last
        self.metrics.inc("awscni_aws_api_error_count", api="waitENIAttachedFailedToAssignIPs", error="timeout")
        return None

    # --- decrease and ENI free (§3.8, §3.9, §11.3) ----------------------------------------------
    def _decrease(self, stats: Stats, over: int | None = None, enis: list[Eni] | None = None) -> None:
        """Release `over` free CIDRs from the last ENIs (the reference's count and order when not given)."""
        if over is None:
            over = policy.release_count(stats, self.cfg, self.prefix_mode)
        now = self.clock.now()
        for eni in reversed(self.ds.ordered_enis()) if enis is None else enis:
            if over <= 0:
                break
            free = [c for c in reversed(list(eni.mode_cidrs(self.prefix_mode))) if c.assigned == 0][:over]
            if not free:
                continue
            released = []
            for cidr in free:
                try:
                    self.ds.del_cidr(eni.eni_id, cidr.cidr)
                except DatastoreError:
                    self._error("decreaseIPPool")
                    continue
                self.reconcile_cooldown[cidr.cidr] = now
                released.append(cidr.cidr)
            self._unassign(eni.eni_id, released)
            over -= len(released)

    def _unassign(self, eni_id: str, cidrs: list[str]) -> None:
        prefixes = [c for c in cidrs if not c.endswith("/32")]
        addresses = [c[:-3] for c in cidrs if c.endswith("/32")]
        try:
            if prefixes:
                self._ec2(
                    "UnassignPrivateIpAddresses", self.ec2.unassign_private_ip_addresses, eni_id, ipv4_prefixes=prefixes
                )
            if addresses:
                self._ec2(
                    "UnassignPrivateIpAddresses",
                    self.ec2.unassign_private_ip_addresses,
                    eni_id,
                    private_ip_addresses=addresses,
                )
        except Ec2Error as exc:
            log.warning("unassign on %s failed: %s", eni_id, exc)

    def _try_free_eni(self) -> None:
        if self.terminating or (self.unschedulable and not self.cfg.manage_enis_non_schedulable):
            return
        eni_id = self.removable_eni()
        if eni_id:
            self.ds.remove_eni(eni_id)
            self.metrics.set("awscni_assigned_ip_per_eni", float("nan"), eni=eni_id)
            self._free_eni_in_ec2(eni_id)

    def removable_eni(self) -> str:
        """The first ENI (highest device number) passing every check of §3.9, or ""."""
        now = self.clock.now()
        cfg = self.cfg
        for eni in reversed(self.ds.ordered_enis()):
            if eni.is_primary or eni.is_trunk or eni.is_efa:
                continue
            if now - eni.created_at < ENI_MIN_AGE or self.ds.cooling_on(eni, now) or eni.assigned:
                continue
            others = [o for o in self.ds.enis.values() if o is not eni and not o.excluded]
            mode = [c for o in others for c in o.mode_cidrs(self.prefix_mode)]
            if cfg.warm_ip_target and sum(c.size - c.assigned for c in mode) < self._rounded(cfg.warm_ip_target):
                continue
            if cfg.minimum_ip_target and sum(c.size for c in mode) < self._rounded(cfg.minimum_ip_target):
                continue
            if self.prefix_mode and cfg.warm_prefix_target:
                unused = sum(1 for o in others for c in o.cidrs.values() if c.assigned == 0)
                if unused < cfg.warm_prefix_target:
                    continue
            return eni.eni_id
        return ""

    def _rounded(self, value: int) -> int:
        return policy.ceil16(value) * 16 if self.prefix_mode else value

    def _free_eni_in_ec2(self, eni_id: str) -> None:
        try:
            (described,) = self._ec2("DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, [eni_id])
            if described.attachment is not None:
                attachment_id = described.attachment.attachment_id
                self._retry(
                    12,
                    0.2,
                    0.15,
                    lambda: self._ec2("DetachNetworkInterface", self.ec2.detach_network_interface, attachment_id),
                )
                self.clock.sleep(DETACH_WAIT)
            self._delete_eni(eni_id)
        except NotFoundError:
            pass
        except Ec2Error as exc:
            self._error("decreaseIPPoolFreeENIFailed")
            self.metrics.inc("awscni_aws_utils_error_count", fn="FreeENIDeleteErr", error=exc.code)

    def next_timer(self) -> float | None:
        """The earliest future instant at which a cycle could decide differently with nothing else changing.

        Back-offs, the decrease interval, address cooldowns, young ENIs and the reconcile cooldown are the
        engine's only clocks; a simulator may leave a node whose last cycle did nothing asleep until then.
        """
        now = self.clock.now()
        times = [self.ds.next_cooldown_end(now)]
        if self.last_insufficient is not None:
            times.append(self.last_insufficient + INSUFFICIENT_CIDR_BACKOFF + 1e-6)  # the back-off test is "<="
        if self.last_decrease is not None:
            times.append(self.last_decrease + DECREASE_INTERVAL + 1e-6)  # and the decrease test is ">"
        times += [e.created_at + ENI_MIN_AGE for e in self.ds.enis.values() if not e.is_primary]
        times += [t + RECONCILE_COOLDOWN for t in self.reconcile_cooldown.values()]
        if self.observed is not None:
            times += adaptive.timers(self.observed, now)
        future = [t for t in times if t is not None and t > now]
        return min(future) if future else None

    # --- reconcile (§5.5) ---------------------------------------------------------------------------
    def reconcile_due(self) -> bool:
        return self.clock.now() - self.last_pool_action > RECONCILE_INTERVAL

    def reconcile(self) -> None:
        meta = self._metadata()
        if meta is None:
            self._error("reconcileFailedGetENIs")
            return
        attached = [e for e in meta.enis if e.network_card == 0]
        unknown = [e for e in attached if e.eni_id not in self.ds.enis]
        described: dict[str, NetworkInterface] = {}
        if unknown:
            described = self._describe_all([e.eni_id for e in attached])
            if not described:
                return
        managed_ids = set()
        for entry in attached:
            if entry.eni_id in self.ds.enis:
                managed_ids.add(entry.eni_id)
                self._reconcile_addresses(self.ds.enis[entry.eni_id], entry)
                continue
            if not self._managed(entry, described.get(entry.eni_id)):
                continue
            managed_ids.add(entry.eni_id)
            eni = described.get(entry.eni_id)
            self._tag_if_needed(entry.eni_id, eni.tags if eni else {})
            self._setup_eni(entry)
            self.metrics.inc("awscni_reconcile_count", fn="eniReconcileAdd")
        for eni_id in [e for e in self.ds.enis if e not in managed_ids]:
            removed_ips = self.ds.enis[eni_id].assigned
            self.ds.remove_eni(eni_id, force=True)
            if removed_ips:
                self.metrics.inc("awscni_force_removed_enis")
                self.metrics.inc("awscni_force_removed_ips", removed_ips)
            self.metrics.inc("awscni_reconcile_count", fn="eniReconcileDel")
        self.last_pool_action = self.clock.now()
        self.report_gauges()

    def _reconcile_addresses(self, eni: Eni, entry: MetadataEni) -> None:
        now = self.clock.now()
        ds_ips = {c for c, v in eni.cidrs.items() if not v.is_prefix}
        meta_ips = [f"{a}/32" for a in entry.local_ipv4s[1:]]
        ds_prefixes = {c for c, v in eni.cidrs.items() if v.is_prefix}
        similar = (
            len(ds_ips) + 1 == len(entry.local_ipv4s)
            and all(a in ds_ips for a in meta_ips)
            and set(entry.ipv4_prefixes) == ds_prefixes
        )
        cooling = self.reconcile_cooldown
        if similar and (
            not cooling or (cooling.keys().isdisjoint(meta_ips) and cooling.keys().isdisjoint(ds_prefixes))
        ):
            # metadata agrees and none of it is cooling: nothing to add or delete (the loops below would only count)
            agreeing = len(meta_ips) + len(ds_prefixes)
            if agreeing:
                self.metrics.inc("awscni_reconcile_count", agreeing, fn="eniDataStorePoolReconcileAdd")
            return
        ips, prefixes, from_metadata = meta_ips, list(entry.ipv4_prefixes), True
        if not similar:
            try:
                (described,) = self._ec2(
                    "DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, [eni.eni_id]
                )
            except Ec2Error:
                return
            ips = [f"{a}/32" for a in described.secondary_ips]
            prefixes = list(described.ipv4_prefixes)
            from_metadata = False
        for listed, present in ((ips, ds_ips), (prefixes, ds_prefixes)):
            for cidr in listed:
                since = self.reconcile_cooldown.get(cidr)
                if since is not None:
                    if now - since < RECONCILE_COOLDOWN:
                        continue
                    if from_metadata and not self._still_on_eni(eni.eni_id, cidr):
                        continue
                    del self.reconcile_cooldown[cidr]
                if cidr not in present:
                    self._add_cidr(eni, cidr)
                self.metrics.inc("awscni_reconcile_count", fn="eniDataStorePoolReconcileAdd")
            for cidr in present - set(listed):
                self.ds.del_cidr(eni.eni_id, cidr, force=True)
                self.metrics.inc("awscni_reconcile_count", fn="eniIPPoolReconcileDel")

    def _still_on_eni(self, eni_id: str, cidr: str) -> bool:
        try:
            (described,) = self._ec2("DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, [eni_id])
        except Ec2Error:
            return False
        return cidr in described.ipv4_prefixes or cidr[:-3] in described.secondary_ips

    # --- pods (§7.3, §7.4) --------------------------------------------------------------------------
    def assign_pod(self, key: IpamKey, metadata: PodMetadata | None = None) -> Assignment:
        if self.observed is not None:
            self._note_demand(key, metadata)
        try:
            result = self.ds.assign(key, metadata or PodMetadata(), self.clock.now())
        except DatastoreError:
            self.metrics.inc("awscni_no_available_ip_addresses")
            if self.observed is not None:
                self._unserved[self._demand_id(key, metadata)] = self.clock.now()
            raise
        found = self.ds.lookup(key)
        if found is not None:
            self._report_pod_gauges(found[0], found[1])
        return result

    def release_pod(self, key: IpamKey) -> Release:
        eni, cidr, entry = self.ds.release(key, self.clock.now())
        self._report_pod_gauges(eni, cidr)
        if not self.prefix_mode and cidr.is_prefix:  # §9 DelNetwork side effect (Q7: never in PD mode)
            unused = [c.cidr for c in eni.cidrs.values() if c.is_prefix and c.assigned == 0]
            for prefix in unused:
                self.ds.del_cidr(eni.eni_id, prefix)
            self._unassign(eni.eni_id, unused)
        count = entry.metadata.interfaces_count if entry.metadata else 1
        return Release(eni.eni_id, entry.address, eni.device_number, eni.route_table_id, count or 1)

    def _report_pod_gauges(self, eni: Eni, cidr: Cidr) -> None:
        self.metrics.set("awscni_assigned_ip_addresses", self.ds.assigned)
        self.metrics.set("awscni_assigned_ip_per_eni", eni.assigned, eni=eni.eni_id)
        self.metrics.set("awscni_assigned_ip_per_cidr", cidr.assigned, cidr=cidr.cidr)

    # --- leaked ENIs (§6) ---------------------------------------------------------------------------
    def cleanup_leaked_enis(self) -> int:
        """Delete this VPC's detached aws-K8S- ENIs older than 5 minutes; returns how many were deleted."""
        if not self.cfg.leaked_eni_cleanup:
            return 0
        filters = {"tag-key": [TAG_INSTANCE], "status": ["available"], "vpc-id": [self.vpc_id]}
        if self.cfg.cluster_name:
            filters[f"tag:{TAG_CLUSTER}"] = [self.cfg.cluster_name]
        try:
            found = self._ec2(
                "DescribeNetworkInterfaces", self.ec2.describe_network_interfaces, filters=filters, max_results=1000
            )
        except Ec2Error:
            return 0
        deleted = 0
        now, epoch = self.clock.now(), self.clock.epoch
        for eni in found:
            if not eni.description.startswith(DESCRIPTION_PREFIX):
                continue
            created = eni.tags.get(TAG_CREATED)
            if created is None:
                self._ec2("CreateTags", self.ec2.create_tags, [eni.eni_id], {TAG_CREATED: utc_iso(now, epoch)})
                continue
            age = _age_seconds(created, now + epoch)
            if age is None:  # Q11: an unparsable createdAt is re-tagged, and the ENI still deleted
                self._ec2("CreateTags", self.ec2.create_tags, [eni.eni_id], {TAG_CREATED: utc_iso(now, epoch)})
            elif age < LEAKED_ENI_AGE:
                continue
            try:
                self._delete_eni(eni.eni_id)
                deleted += 1
            except Ec2Error as exc:
                self.metrics.inc("awscni_aws_utils_error_count", fn="cleanUpLeakedENIDeleteErr", error=exc.code)
        return deleted

    def _delete_eni(self, eni_id: str) -> None:
        def delete() -> None:
            self._ec2("DeleteNetworkInterface", self.ec2.delete_network_interface, eni_id)

        self._retry(12, 0.5, 0.15, delete)

    # --- the reference's main loop, one turn (§5.4) -------------------------------------------------
    def loop_once(self) -> None:
        """Wait 2.5 s, run a cycle, wait 2.5 s, reconcile if due: 5 s of the daemon's loop."""
        self.clock.sleep(POOL_HALF_CYCLE)
        self.cycle()
        self.clock.sleep(POOL_HALF_CYCLE)
        if self.reconcile_due():
            self.reconcile()


def _age_seconds(created: str, wall: float) -> float | None:
    """Seconds from a createdAt tag to `wall` (Unix time); None when the tag is not a time."""
    try:
        stamp = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return wall - stamp
