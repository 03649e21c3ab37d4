"""`NodeIpam`: one node's IP address manager — node init, the pool-manager cycle, reconcile, pods.

The same engine runs in the daemon (real clock) and in the simulators (virtual clock). It reads time
only from the injected clock, randomness only from the injected RNG, and reports metrics to an
injected sink. Section numbers refer to the ipamd spec.

Every pool change is decide, act, apply: the engine decides from its datastore (pure `policy` and
`adaptive` functions), `EniLifecycle` performs the EC2 calls (`lifecycle.py`), and the engine applies
their result to the datastore, re-validated against what changed meanwhile. A caller that serialises
the engine with a lock (the daemon) passes it as `lock`: the engine lets go of it for each act step,
so AddNetwork and DelNetwork are served from the pool while an ENI is created. Without a lock (the
simulators) the steps run back to back, in the same order and at the same virtual instants as before.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Protocol

from vpccni import catalog
from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock
from vpccni.cloud.errors import Ec2Error, InsufficientAddressesError
from vpccni.cloud.records import InstanceMetadata, MetadataEni, NetworkInterface
from vpccni.ipam import adaptive, policy, recovery
from vpccni.ipam.checkpoint import CheckpointError, CheckpointStore, MemoryCheckpointStore, StoreCheckpoint, parse
from vpccni.ipam.config import EniConfig, IpamConfig
from vpccni.ipam.datastore import (
    Assignment,
    CheckpointSink,
    Cidr,
    Datastore,
    DatastoreError,
    Eni,
    IpamKey,
    PodMetadata,
    Stats,
)
from vpccni.ipam.facts import InstanceFacts, IpamInitError
from vpccni.ipam.lifecycle import TAG_INSTANCE, TAG_NO_MANAGE, EniLifecycle
from vpccni.ipam.metrics import CountingMetrics, MetricsSink
from vpccni.ipam.timing import POOL_HALF_CYCLE, RECONCILE_INTERVAL


class ReleasableLock(Protocol):
    """The caller's request lock (the daemon's `threading.Lock`): injected, so the engine imports no threads."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


log = logging.getLogger("vpccni.ipam")

INSUFFICIENT_CIDR_BACKOFF: Final = 120.0
DECREASE_INTERVAL: Final = 30.0
RECONCILE_COOLDOWN: Final = 60.0
ENI_MIN_AGE: Final = 60.0
WAITING_FRESH: Final = 30.0  # a refused pod retries within 15 s (kubelet): older refusals are pods that went away

__all__ = ["INSUFFICIENT_CIDR_BACKOFF", "IpamInitError", "NodeIpam", "Release"]


class Unlocked:
    """`with`: the lock let go for the block, taken back after it, also on an exception (a class, not a
    generator context manager: the simulator enters one for each EC2 call)."""

    __slots__ = ("lock",)

    def __init__(self, lock: ReleasableLock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        self.lock.release()

    def __exit__(self, *exc: object) -> None:
        self.lock.acquire()


class NoLock:
    """`with` that does nothing: the engine runs without a caller's lock (the simulators)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NO_LOCK: Final = NoLock()


@dataclass(frozen=True)
class Release:
    eni_id: str
    address: str
    device_number: int
    route_table_id: int
    interfaces_count: int

    def __init__(
        self,
        eni_id: str,
        address: str,
        device_number: int,
        route_table_id: int,
        interfaces_count: int,
    ) -> None:
        object.__setattr__(self, "eni_id", eni_id)
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "device_number", device_number)
        object.__setattr__(self, "route_table_id", route_table_id)
        object.__setattr__(self, "interfaces_count", interfaces_count)


class _Agreement:
    """An ENI's metadata entry and datastore CIDRs that a reconcile found in agreement, with what it derived.

    The simulated metadata hands back the same entry object while the ENI is unchanged, and the datastore moves
    `Eni.cidrs_version` on every CIDR it adds or drops, so the next reconcile can tell nothing changed on either
    side without rebuilding the address texts and sets (a real IMDS read gives new entries: never reused).
    """

    __slots__ = ("entry", "eni", "version", "meta_ips", "ds_prefixes")

    def __init__(self, entry: MetadataEni, eni: Eni, version: int, meta_ips: list[str], ds_prefixes: set[str]) -> None:
        self.entry = entry
        self.eni = eni
        self.version = version
        self.meta_ips = meta_ips
        self.ds_prefixes = ds_prefixes


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
        checkpoint: CheckpointSink | None = None,
        lock: ReleasableLock | None = None,
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
        self.lock = lock  # held by every caller; released for EC2 calls (see the module docstring)
        self.lifecycle = EniLifecycle(ec2, instance_id, config, clock, rng, self.metrics)
        self.terminating = False
        self.unschedulable = False
        self.last_insufficient: float | None = None
        self.last_decrease: float | None = None
        self._gauges_reported: tuple[int, int, int, int] | None = None  # what report_gauges last set
        self.last_pool_action = clock.now()
        self.reconcile_cooldown: dict[str, float] = {}
        # per ENI, the last metadata entry its datastore CIDRs agreed with (see _reconcile_addresses)
        self._agreed: dict[str, _Agreement] = {}
        sink = checkpoint or StoreCheckpoint(self.checkpoint_store)
        self.ds = Datastore(False, config.ip_cooldown_period, sink)
        self.initialized = False
        self._facts: InstanceFacts | None = None
        # WARM_POOL_POLICY=adaptive: what the node has seen, and the last decision (for metrics/introspection)
        self.observed: adaptive.Observations | None = adaptive.Observations() if config.adaptive else None
        self.adaptive_decision: adaptive.Decision | None = None
        self._unserved: dict[str, float] = {}  # pods refused an address, so their retries count once

    # --- what init learned ----------------------------------------------------------------------------
    @property
    def facts(self) -> InstanceFacts:
        if self._facts is None:
            raise IpamInitError("node initialization has not run")
        return self._facts

    @property
    def limits(self) -> catalog.InstanceLimits:
        return self.facts.limits

    @property
    def prefix_mode(self) -> bool:
        return self.facts.prefix_mode

    @property
    def slots(self) -> int:
        return self.facts.cidr_slots_per_eni

    @property
    def max_pods(self) -> int:
        return self.facts.max_pods

    @property
    def primary_eni_id(self) -> str:
        return self.facts.primary_eni_id

    @property
    def primary_ip(self) -> str:
        return self.facts.primary_ip

    @property
    def vpc_cidrs(self) -> tuple[str, ...]:
        return self.facts.vpc_cidrs

    # --- acting on EC2 without the caller's lock ------------------------------------------------------
    def unlocked(self) -> Unlocked | NoLock:
        """EC2 calls, their back-off sleeps and checkpoint waits run here: without the engine lock, if any."""
        lock = self.lock
        return NO_LOCK if lock is None else Unlocked(lock)

    def _metadata(self) -> InstanceMetadata | None:
        with self.unlocked():
            return self.lifecycle.metadata()

    def _error(self, fn: str) -> None:
        self.metrics.inc("awscni_ipamd_error_count", 1.0, (("fn", fn),))

    # --- node init (§5.3) ---------------------------------------------------------------------------
    def init(self) -> None:
        meta = self._metadata()
        if meta is None:
            raise IpamInitError("instance metadata unavailable", transient=True)
        facts = self._facts = InstanceFacts.learn(meta, self.cfg, self.max_pods_input)
        self.ds.prefix_mode = facts.prefix_mode
        try:
            with self.unlocked():
                described = self.lifecycle.describe_all([e.eni_id for e in meta.enis])
        except Ec2Error as exc:
            raise IpamInitError(f"describing the attached ENIs failed: {exc}", transient=True) from exc
        unmanaged = 0
        for entry in meta.enis:
            eni = described.get(entry.eni_id)
            if entry.network_card != 0 or not self._managed(entry, eni):
                unmanaged += 1
                continue
            with self.unlocked():
                self.lifecycle.tag_if_needed(entry.eni_id, eni.tags if eni else {})
            self._setup_eni(entry)
        self._facts = replace(facts, unmanaged_enis=unmanaged)
        self._restore_checkpoint()
        self._mode_toggle_cleanup()
        self._report_limits()
        if not self.cfg.provisioning_disabled:
            stats = self.ds.stats(self.clock.now())
            if self.observed is not None:
                self.observed.prime(self.facts.addresses_per_eni, self.clock.now())
                self._adaptive_cycle(during_init=True)
            elif self._pool_too_low(stats):
                self._increase(stats, during_init=True)
        self.initialized = True

    def _managed(self, entry: MetadataEni, eni: NetworkInterface | None) -> bool:
        if entry.eni_id == self.facts.primary_eni_id:
            return True
        tags = eni.tags if eni else {}
        if TAG_NO_MANAGE in tags:
            return tags[TAG_NO_MANAGE] != "true"
        if tags.get(TAG_INSTANCE) == self.instance_id:
            return True
        return self.cfg.manage_untagged_eni

    def _setup_eni(self, entry: MetadataEni) -> Eni:
        eni = self.ds.enis.get(entry.eni_id)
        if eni is None:
            eni = self.ds.add_eni(
                entry.eni_id,
                entry.device_number,
                entry.eni_id == self.facts.primary_eni_id,
                self.clock.now(),
                subnet_id=entry.subnet_id,
            )
            self.metrics.set("awscni_assigned_ip_per_eni", 0, (("eni", entry.eni_id),))
        for address in entry.local_ipv4s[1:]:
            self._add_cidr(eni, f"{address}/32")
        for prefix in entry.ipv4_prefixes:
            self._add_cidr(eni, prefix)
        return eni

    def _add_cidr(self, eni: Eni, cidr: str) -> bool:
        try:
            self.ds.add_cidr(eni.eni_id, cidr)
            return True
        except DatastoreError as exc:  # already known (metadata listing it again) or the ENI went away
            log.debug("%s not added to %s: %s", cidr, eni.eni_id, exc)
            return False

    def _restore_checkpoint(self) -> None:
        text = self.checkpoint_store.read()
        if text is None:
            return
        damaged = False
        try:
            entries = parse(text)
        except CheckpointError as exc:
            damaged = True
            entries = recovery.salvage(text)
            log.error(
                "checkpoint unreadable, rebuilt from EC2: %s; %d allocations salvaged, every other address held back",
                exc,
                len(entries),
            )
        unplaced = []
        for key, metadata, address, assigned_time in entries:
            if (metadata.namespace or metadata.name) and not self.pod_alive(metadata.namespace, metadata.name):
                continue
            if not self._restore_one(key, metadata, address, assigned_time):
                unplaced.append((key, metadata, address, assigned_time))
        if unplaced and self._load_cidrs_metadata_lacks():
            for key, metadata, address, assigned_time in unplaced:
                self._restore_one(key, metadata, address, assigned_time)
        if damaged:
            self._hold_unknown_addresses()
        self.ds.checkpoint.save(self.ds)

    def _restore_one(self, key: IpamKey, metadata: PodMetadata, address: str, assigned_time: float) -> bool:
        try:
            return self.ds.restore(key, metadata, address, assigned_time)
        except DatastoreError:
            log.error("checkpoint lists %s twice; %s/%s does not get it", address, key.container_id, key.if_name)
            return True  # placed: its address has a holder already

    def _hold_unknown_addresses(self) -> None:
        """After a damaged checkpoint: every address no salvaged record holds gets a placeholder holder."""
        held = 0
        now = self.clock.now()
        for eni in self.ds.ordered_enis():
            for cidr in list(eni.cidrs.values()):
                for offset in range(cidr.size):
                    entry = cidr.entries.get(offset)
                    if entry is None or entry.key is None:
                        address = cidr.address(offset)
                        held += self.ds.restore(recovery.held_key(address), PodMetadata(), address, now)
        log.warning("%d addresses held back: their pods may be running; free them with CNI DEL or GC", held)

    def _load_cidrs_metadata_lacks(self) -> bool:
        """EC2 as tie-breaker for a restart right after an Assign: metadata may not list the new addresses yet.

        The reference drops such pods as stale (its metadata-lag quirk); a pod keeping its address across
        an ipamd restart matters more, so vpccni asks EC2 once before dropping anything.
        """
        try:
            with self.unlocked():
                described = self.lifecycle.describe_all(list(self.ds.enis))
        except Ec2Error as exc:
            log.warning("checkpointed pods outside the metadata's addresses are dropped: EC2 unreadable (%s)", exc)
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
        for eni in list(self.ds.ordered_enis()):
            stale = [c for c in eni.cidrs.values() if c.is_prefix != self.prefix_mode and c.assigned == 0]
            if not stale:
                continue
            for cidr in stale:
                self.ds.del_cidr(eni.eni_id, cidr.cidr)
            with self.unlocked():
                self.lifecycle.unassign(eni.eni_id, [c.cidr for c in stale])

    def _report_limits(self) -> None:
        facts = self.facts
        self.metrics.set("awscni_eni_max", facts.managed_eni_limit)
        self.metrics.set("awscni_ip_max", facts.addresses_per_eni * facts.managed_eni_limit)
        self.report_gauges()

    def report_gauges(self) -> None:
        """Set the datastore gauges from the current state (the daemon also calls this before a scrape).

        Every pool cycle calls this; values the sink already holds (`_gauges_reported`, kept equal to them by
        the one other writer, `_report_pod_gauges`) are not set again.
        """
        ds = self.ds
        gauges = (len(ds.enis), ds.total, ds.assigned, ds.allocated_prefix)
        if gauges == self._gauges_reported:
            return
        self._gauges_reported = gauges
        self.metrics.set("awscni_eni_allocated", gauges[0])
        self.metrics.set("awscni_total_ip_addresses", gauges[1])
        self.metrics.set("awscni_assigned_ip_addresses", gauges[2])
        self.metrics.set("awscni_total_ipv4_prefixes", gauges[3])

    # --- pool decisions (§3) ------------------------------------------------------------------------
    def stats(self) -> Stats:
        return self.ds.stats(self.clock.now())

    def _pool_too_low(self, stats: Stats) -> bool:
        return policy.pool_too_low(stats, self.cfg, self.prefix_mode, self.facts.addresses_per_eni, self.max_pods)

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
        addresses_per_eni = self.facts.addresses_per_eni
        if policy.should_try_free_eni(stats, self.cfg, self.prefix_mode, addresses_per_eni, self._idle_eni_exists()):
            self._try_free_eni()
        if scaled_down:
            self.last_decrease = self.last_pool_action = self.clock.now()
        self.report_gauges()

    def _idle_eni_exists(self) -> bool:
        return any(
            not e.is_primary and not e.is_trunk and not e.is_efa and e.assigned == 0 for e in self.ds.enis.values()
        )

    def _may_change_enis(self) -> bool:
        """Terminating, or cordoned without MANAGE_ENIS_NON_SCHEDULABLE: leave ENIs as they are."""
        return not (self.terminating or (self.unschedulable and not self.cfg.manage_enis_non_schedulable))

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
        return sum(self.slots - len(e.cidrs) for e in self._candidates()) * self.facts.address_unit

    def _pool_view(self, stats: Stats) -> adaptive.PoolView:
        now = self.clock.now()
        return adaptive.PoolView(
            now=now,
            total=stats.total,
            assigned=stats.assigned,
            cooling=stats.cooldown,
            room_on_enis=self._room_on_enis(),
            eni_size=self.facts.addresses_per_eni,
            unit=self.facts.address_unit,
            max_pods=self.max_pods,
            minimum_total=self.cfg.minimum_ip_target,
            warm_floor=self.cfg.warm_ip_target,
            waiting=sum(1 for t in self._unserved.values() if now - t <= WAITING_FRESH),
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
            unit = self.facts.address_unit
            if decision.release >= unit:
                self._decrease(stats, over=decision.release // unit, enis=self._most_free_eni())
                self.last_decrease = self.last_pool_action = self.clock.now()
                obs.released(self.last_decrease)
        self._adaptive_free_enis()
        self.report_gauges()

    def _read_subnet(self) -> None:
        """The primary subnet's free count, for the policy's subnet awareness (a bounded-rate describe)."""
        assert self.observed is not None
        subnet_id = self.facts.primary_subnet_id
        try:
            with self.unlocked():
                subnets = self.lifecycle.read_subnets(subnet_id)
        except Ec2Error as exc:
            log.info("adaptive pool: subnet %s not read: %s", subnet_id, exc.code)
            self.observed.subnet_checked_at = self.clock.now()
            return
        for subnet in subnets:
            if subnet.subnet_id == subnet_id:
                capacity = ipaddress.IPv4Network(subnet.cidr_block).num_addresses - 5
                self.observed.subnet(subnet.available_ip_address_count, capacity, self.clock.now())

    def _adaptive_grow(self, addresses: int, stats: Stats, during_init: bool, anticipated: bool) -> None:
        """Add `addresses`: top up ENIs with room, then create ENIs (a few per cycle for a large shortfall)."""
        obs = self.observed
        assert obs is not None
        if not self._may_change_enis():
            return
        backoff_since = self.last_insufficient
        if backoff_since is not None and self.clock.now() - backoff_since <= INSUFFICIENT_CIDR_BACKOFF:
            return
        remaining, created = addresses, 0
        facts = self.facts
        while remaining > 0:
            cidrs = policy.ceil16(remaining) if self.prefix_mode else remaining
            before, start = self.ds.total, self.clock.now()
            try:
                if self._add_to_existing(stats, want=cidrs, candidates=self._fewest_calls_first(cidrs)):
                    obs.latency("assign", self.clock.now() - start)
                elif self._room_for_eni() and created < adaptive.MAX_ENIS_PER_CYCLE:
                    created += 1
                    if not self._alloc_eni(stats, size=min(cidrs, self.slots, facts.ipv4_per_eni - 1)):
                        break
                    obs.latency("eni", self.clock.now() - start)
                else:
                    break
            except InsufficientAddressesError:
                self.last_insufficient = self.clock.now()
                break
            except Ec2Error as exc:
                if during_init:
                    raise IpamInitError(f"pre-scaling failed: {exc}", transient=True) from exc
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
        if not self._may_change_enis():
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
            self._free_eni(eni.eni_id)
            return  # one ENI per cycle, as the reference frees them

    # --- increase (§3.7) ------------------------------------------------------------------------------
    def _increase(self, stats: Stats, during_init: bool = False) -> None:
        if not self._may_change_enis():
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
                raise IpamInitError(f"pre-scaling failed: {exc}", transient=True) from exc
            log.warning("increase failed: %s", exc)
            return
        if self._room_for_eni():
            if self._alloc_eni(stats):
                self.last_pool_action = self.clock.now()
        else:
            log.debug("max ENI limit is already reached")

    def _room_for_eni(self) -> bool:
        return len(self.ds.enis) < self.facts.managed_eni_limit

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
        facts = self.facts
        if want is None and self.prefix_mode:
            want = policy.prefixes_wanted(stats, self.cfg)
        elif want is None:
            if self.cfg.defined and policy.target_state(stats, self.cfg, False).short == 0:
                return False
            want = policy.addresses_wanted(stats, self.cfg, facts.addresses_per_eni)
        for eni_id in [e.eni_id for e in (self._candidates() if candidates is None else candidates)]:
            eni = self.ds.enis.get(eni_id)
            if eni is None:
                continue
            count = min(self.slots - len(eni.cidrs), want, facts.ipv4_per_eni - 1)
            if count < 1:
                continue
            try:
                with self.unlocked():
                    added = self.lifecycle.assign(eni_id, count, self.prefix_mode)
            except InsufficientAddressesError as exc:
                self._error("increaseIPPoolAllocIPAddressesFailed")
                if self.cfg.enable_subnet_discovery:
                    log.info("no addresses for %s (%s); trying the next ENI", eni_id, exc.code)
                    continue
                raise
            except Ec2Error:
                self._error("increaseIPPoolAllocIPAddressesFailed")
                raise
            self._apply_assigned(eni_id, added)
            return True
        return False  # no ENI had room, or (subnet discovery) every one failed: a new ENI is next

    def _apply_assigned(self, eni_id: str, cidrs: list[str]) -> None:
        """Put CIDRs EC2 just assigned into the datastore; if their ENI left it meanwhile, give them back."""
        eni = self.ds.enis.get(eni_id)
        if eni is None:
            log.warning("%s left the datastore while EC2 assigned %s; unassigning them", eni_id, cidrs)
            with self.unlocked():
                self.lifecycle.unassign(eni_id, cidrs)
            return
        for cidr in cidrs:
            self._add_cidr(eni, cidr)

    def _alloc_eni(self, stats: Stats, size: int | None = None) -> bool:
        """Create, attach and set up one ENI with `size` CIDRs (the reference's size when not given)."""
        facts = self.facts
        if size is None:
            size = policy.new_eni_size(
                stats, self.cfg, self.prefix_mode, facts.addresses_per_eni, facts.prefixes_per_eni, facts.ipv4_per_eni
            )
        if size <= 0:
            return False
        with self.unlocked():
            allocation = self.lifecycle.allocate_eni(facts, self.eni_config, size)
        if allocation.insufficient_at is not None:
            self.last_insufficient = allocation.insufficient_at
        if allocation.entry is None:
            return False
        self._setup_eni(allocation.entry)
        return True

    # --- decrease and ENI free (§3.8, §3.9, §11.3) ----------------------------------------------
    def _decrease(self, stats: Stats, over: int | None = None, enis: list[Eni] | None = None) -> None:
        """Release `over` free CIDRs from the last ENIs (the reference's count and order when not given).

        The CIDRs leave the datastore under the lock, so no pod can be given one; EC2 hears of it after.
        """
        if over is None:
            over = policy.release_count(stats, self.cfg, self.prefix_mode)
        now = self.clock.now()
        releases: list[tuple[str, list[str]]] = []
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
                except DatastoreError as exc:
                    log.warning("decrease: %s stays on %s: %s", cidr.cidr, eni.eni_id, exc)
                    self._error("decreaseIPPool")
                    continue
                self.reconcile_cooldown[cidr.cidr] = now
                released.append(cidr.cidr)
            releases.append((eni.eni_id, released))
            over -= len(released)
        for eni_id, released in releases:
            with self.unlocked():
                self.lifecycle.unassign(eni_id, released)

    def _try_free_eni(self) -> None:
        if not self._may_change_enis():
            return
        eni_id = self.removable_eni()
        if eni_id:
            self._free_eni(eni_id)

    def _free_eni(self, eni_id: str) -> None:
        """Drop an ENI from the datastore (no pod can get its addresses from now on), then free it in EC2."""
        self.ds.remove_eni(eni_id)
        self.metrics.set("awscni_assigned_ip_per_eni", float("nan"), (("eni", eni_id),))
        with self.unlocked():
            self.lifecycle.free_eni(eni_id)

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
            times += [t + WAITING_FRESH + 1e-6 for t in self._unserved.values()]  # a refusal stops counting
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
            try:
                with self.unlocked():
                    described = self.lifecycle.describe_all([e.eni_id for e in attached])
            except Ec2Error as exc:
                log.warning("reconcile skipped: the attached ENIs could not be described: %s", exc)
                return
            if not described:
                return
        managed_ids = set()
        for entry in attached:
            if entry.eni_id in self.ds.enis:
                managed_ids.add(entry.eni_id)
                self._reconcile_addresses(entry)
                continue
            if not self._managed(entry, described.get(entry.eni_id)):
                continue
            managed_ids.add(entry.eni_id)
            eni = described.get(entry.eni_id)
            with self.unlocked():
                self.lifecycle.tag_if_needed(entry.eni_id, eni.tags if eni else {})
            self._setup_eni(entry)
            self.metrics.inc("awscni_reconcile_count", 1.0, (("fn", "eniReconcileAdd"),))
        for eni_id in [e for e in self._agreed if e not in self.ds.enis or e not in managed_ids]:
            del self._agreed[eni_id]  # ENIs gone or no longer managed: kept memory would grow with ENI churn
        for eni_id in [e for e in self.ds.enis if e not in managed_ids]:
            removed_ips = self.ds.enis[eni_id].assigned
            self.ds.remove_eni(eni_id, force=True)
            if removed_ips:
                self.metrics.inc("awscni_force_removed_enis")
                self.metrics.inc("awscni_force_removed_ips", removed_ips)
            self.metrics.inc("awscni_reconcile_count", 1.0, (("fn", "eniReconcileDel"),))
        self.last_pool_action = self.clock.now()
        self.report_gauges()

    def _reconcile_addresses(self, entry: MetadataEni) -> None:
        eni = self.ds.enis[entry.eni_id]
        now = self.clock.now()
        agreed = self._agreed.get(eni.eni_id)
        if agreed is not None and agreed.entry is entry and agreed.eni is eni and agreed.version == eni.cidrs_version:
            # the same metadata entry against the same datastore CIDRs: they agreed last time, so they still do
            similar, meta_ips, ds_prefixes = True, agreed.meta_ips, agreed.ds_prefixes
        else:
            ds_ips = {c for c, v in eni.cidrs.items() if not v.is_prefix}
            meta_ips = [f"{a}/32" for a in entry.local_ipv4s[1:]]
            ds_prefixes = {c for c, v in eni.cidrs.items() if v.is_prefix}
            similar = (
                len(ds_ips) + 1 == len(entry.local_ipv4s)
                and all(a in ds_ips for a in meta_ips)
                and set(entry.ipv4_prefixes) == ds_prefixes
            )
            if similar:
                self._agreed[eni.eni_id] = _Agreement(entry, eni, eni.cidrs_version, meta_ips, ds_prefixes)
        cooling = self.reconcile_cooldown
        if similar and (
            not cooling or (cooling.keys().isdisjoint(meta_ips) and cooling.keys().isdisjoint(ds_prefixes))
        ):
            # metadata agrees and none of it is cooling: nothing to add or delete (the loops below would only count)
            agreeing = len(meta_ips) + len(ds_prefixes)
            if agreeing:
                self.metrics.inc("awscni_reconcile_count", agreeing, (("fn", "eniDataStorePoolReconcileAdd"),))
            return
        ips, prefixes, from_metadata = meta_ips, list(entry.ipv4_prefixes), True
        if not similar:
            try:
                with self.unlocked():
                    described = self.lifecycle.describe_one(eni.eni_id)
            except Ec2Error as exc:
                log.info("reconcile: %s not described (%s); next time", eni.eni_id, exc.code)
                return
            ips = [f"{a}/32" for a in described.secondary_ips]
            prefixes = list(described.ipv4_prefixes)
            from_metadata = False
        cooled: dict[str, bool] = {}  # cooled-down CIDRs metadata lists: still on the ENI, says EC2?
        if from_metadata:
            for cidr in (*ips, *prefixes):
                since = self.reconcile_cooldown.get(cidr)
                if since is not None and now - since >= RECONCILE_COOLDOWN:
                    with self.unlocked():
                        cooled[cidr] = self.lifecycle.still_on_eni(eni.eni_id, cidr)
        # apply: what the datastore holds now (pods may have come and gone while EC2 was asked)
        if self.ds.enis.get(eni.eni_id) is not eni:
            return
        ds_ips = {c for c, v in eni.cidrs.items() if not v.is_prefix}
        ds_prefixes = {c for c, v in eni.cidrs.items() if v.is_prefix}
        for listed, present in ((ips, ds_ips), (prefixes, ds_prefixes)):
            for cidr in listed:
                since = self.reconcile_cooldown.get(cidr)
                if since is not None:
                    if now - since < RECONCILE_COOLDOWN:
                        continue
                    if from_metadata and not cooled.get(cidr, False):
                        continue
                    del self.reconcile_cooldown[cidr]
                if cidr not in present:
                    self._add_cidr(eni, cidr)
                self.metrics.inc("awscni_reconcile_count", 1.0, (("fn", "eniDataStorePoolReconcileAdd"),))
            for cidr in present - set(listed):
                self.ds.del_cidr(eni.eni_id, cidr, force=True)
                self.metrics.inc("awscni_reconcile_count", 1.0, (("fn", "eniIPPoolReconcileDel"),))

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
        count = entry.metadata.interfaces_count if entry.metadata else 1
        release = Release(eni.eni_id, entry.address, eni.device_number, eni.route_table_id, count or 1)
        if not self.prefix_mode and cidr.is_prefix:  # §9 DelNetwork side effect (Q7: never in PD mode)
            unused = [c.cidr for c in eni.cidrs.values() if c.is_prefix and c.assigned == 0]
            for prefix in unused:
                self.ds.del_cidr(eni.eni_id, prefix)
            with self.unlocked():
                self.lifecycle.unassign(eni.eni_id, unused)
        return release

    def take_back(self, key: IpamKey) -> None:
        """Undo an assignment whose reply cannot be sent (its checkpoint was not written): no cooldown."""
        found = self.ds.lookup(key)
        if found is None:
            return
        self.ds.unassign_now(key)
        self._report_pod_gauges(found[0], found[1])

    def give_back(self, key: IpamKey, metadata: PodMetadata | None, address: str, assigned_time: float) -> bool:
        """Undo a release whose reply cannot be sent; False when the address went elsewhere meanwhile."""
        try:
            restored = self.ds.restore(key, metadata or PodMetadata(), address, assigned_time)
        except DatastoreError:
            return False
        found = self.ds.lookup(key)
        if restored and found is not None:
            self._report_pod_gauges(found[0], found[1])
        return restored

    def _report_pod_gauges(self, eni: Eni, cidr: Cidr) -> None:
        assigned = self.ds.assigned
        self.metrics.set("awscni_assigned_ip_addresses", assigned)
        held = self._gauges_reported
        if held is not None:
            self._gauges_reported = (held[0], held[1], assigned, held[3])
        self.metrics.set("awscni_assigned_ip_per_eni", eni.assigned, (("eni", eni.eni_id),))
        self.metrics.set("awscni_assigned_ip_per_cidr", cidr.assigned, (("cidr", cidr.cidr),))

    # --- leaked ENIs (§6) ---------------------------------------------------------------------------
    def cleanup_leaked_enis(self) -> int:
        """Delete this VPC's detached aws-K8S- ENIs older than 5 minutes; returns how many were deleted."""
        if not self.cfg.leaked_eni_cleanup:
            return 0
        with self.unlocked():
            return self.lifecycle.cleanup_leaked(self.facts.vpc_id)

    def delete_orphaned_enis(self) -> int:
        """At a daemon's start: delete the detached ENIs a crash of this node's ipamd left behind."""
        if self.cfg.provisioning_disabled:
            return 0
        with self.unlocked():
            deleted = self.lifecycle.delete_own_orphans(self.facts.vpc_id)
        if deleted:
            log.warning("deleted %d ENIs a crash left detached", deleted)
        return deleted

    # --- the reference's main loop, one turn (§5.4) -------------------------------------------------
    def loop_once(self) -> None:
        """Wait 2.5 s, run a cycle, wait 2.5 s, reconcile if due: 5 s of the daemon's loop."""
        self.clock.sleep(POOL_HALF_CYCLE)
        self.cycle()
        self.clock.sleep(POOL_HALF_CYCLE)
        if self.reconcile_due():
            self.reconcile()
