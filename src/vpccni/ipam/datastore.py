"""The per-node datastore: ENIs, their /32s and /28 prefixes, and which pod holds which address (ipamd spec §7).

Orders are vpccni's deterministic choice (spec §0.3): ENIs by device number, CIDRs in the order added,
lowest free address inside a CIDR. Time comes in as arguments; nothing here reads a clock.
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from vpccni.cloud.records import dotted_quad

MIGRATED_NETWORK: Final = "_migrated-from-cri"
MIGRATED_IFNAME: Final = "unknown"


class DatastoreError(Exception):
    """An error with the reference's exact message."""


class NoAvailableAddress(DatastoreError):
    def __init__(self) -> None:
        super().__init__("AssignPodIPv4Address: no available IP/Prefix addresses")


class UnknownPod(DatastoreError):
    def __init__(self) -> None:
        super().__init__("datastore: unknown pod")


def parse_cidr(cidr: str) -> tuple[str, int, int]:
    """(canonical text, prefix length, network address as int) of an IPv4 CIDR; ValueError if invalid.

    The datastore parses every /32 and /28 it is given. The plain form (ASCII digits, no leading zeros, host
    bits clear) is read in one pass over its characters, about 10x faster compiled than the regular expression
    it replaces; anything else goes through `ipaddress`, which gives the canonical text or the exact error.
    """
    plain = _plain_cidr(cidr)
    if plain is not None:
        return cidr, plain[0], plain[1]
    net = ipaddress.IPv4Network(cidr)
    return str(net), net.prefixlen, int(net.network_address)


def _plain_cidr(cidr: str) -> tuple[int, int] | None:
    """(prefix length, address) of "a.b.c.d/n" written plainly with its host bits clear, else None."""
    value = 0  # the octets read so far
    number = 0  # the digits of the current octet or of the prefix length
    digits = 0
    octets = 0
    for char in cidr:
        code = ord(char)
        if 48 <= code <= 57:  # an ASCII digit
            if digits == 1 and number == 0:
                return None  # a leading zero
            number = number * 10 + code - 48
            digits += 1
            if digits > 3:
                return None
        elif (code == 46 and octets < 3) or (code == 47 and octets == 3):  # "." between octets, "/" after the 4th
            if digits == 0 or number > 255:
                return None
            value = (value << 8) | number
            number = digits = 0
            octets += 1
        else:
            return None
    if octets != 4 or digits == 0 or number > 32:
        return None
    if value & ((1 << (32 - number)) - 1):
        return None  # host bits set: ipaddress says so
    return number, value


@dataclass(frozen=True, slots=True)
class IpamKey:
    """The CNI primary key: (network name, container id, interface name)."""

    network_name: str
    container_id: str
    if_name: str
    # hashed once: a pod's key is looked up and indexed several times per ADD and DEL
    _hash: int = field(init=False, repr=False, compare=False)

    def __init__(self, network_name: str, container_id: str, if_name: str) -> None:
        object.__setattr__(self, "network_name", network_name)
        object.__setattr__(self, "container_id", container_id)
        object.__setattr__(self, "if_name", if_name)
        object.__setattr__(self, "_hash", hash((network_name, container_id, if_name)))

    # written out like __init__ (compiled): the datastore looks a key up on every pod ADD and DEL
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IpamKey):
            return NotImplemented
        return (
            self.network_name == other.network_name
            and self.container_id == other.container_id
            and self.if_name == other.if_name
        )

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[IpamKey], tuple[str, str, str]]:
        """Pickled by its fields: another process hashes strings differently, so it hashes the key again."""
        return IpamKey, (self.network_name, self.container_id, self.if_name)


@dataclass(frozen=True, slots=True)
class PodMetadata:
    namespace: str = ""
    name: str = ""
    interfaces_count: int = 1

    def __init__(self, namespace: str = "", name: str = "", interfaces_count: int = 1) -> None:
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "interfaces_count", interfaces_count)


@dataclass(slots=True)
class AddressEntry:
    address: str
    key: IpamKey | None = None
    metadata: PodMetadata | None = None
    assigned_time: float = 0.0
    unassigned_time: float | None = None


@dataclass(slots=True)
class Cidr:
    cidr: str
    is_prefix: bool
    base: int
    size: int
    entries: dict[int, AddressEntry] = field(default_factory=dict)  # offset → entry, created on first use
    assigned: int = 0
    # No address of this CIDR is free before this time: every one was assigned or cooling when a pod last
    # looked (the earliest cooldown end, or inf). A pod waiting for an address retries every ~10 s and would
    # otherwise walk every address each time. Freeing any address resets it (Datastore._clear).
    no_free_before: float = field(default=-math.inf, compare=False, repr=False)

    def __init__(
        self,
        cidr: str,
        is_prefix: bool,
        base: int,
        size: int,
        entries: dict[int, AddressEntry] | None = None,
        assigned: int = 0,
        no_free_before: float = -math.inf,
    ) -> None:
        self.cidr = cidr
        self.is_prefix = is_prefix
        self.base = base
        self.size = size
        self.entries = {} if entries is None else entries
        self.assigned = assigned
        self.no_free_before = no_free_before

    @classmethod
    def parse(cls, cidr: str) -> Cidr:
        text, prefixlen, base = parse_cidr(cidr)
        return cls(text, prefixlen < 32, base, 1 << (32 - prefixlen))

    def address(self, offset: int) -> str:
        return dotted_quad(self.base + offset)


@dataclass
class Eni:
    eni_id: str
    device_number: int
    is_primary: bool
    created_at: float
    subnet_id: str = ""
    excluded: bool = False
    is_trunk: bool = False
    is_efa: bool = False
    cidrs: dict[str, Cidr] = field(default_factory=dict)
    assigned: int = 0  # Σ of its CIDRs' assigned, kept by the Datastore (the pool cycle reads it for every ENI)
    cidrs_version: int = 0  # moved by the Datastore whenever `cidrs` gains or loses one (reconcile compares it)

    @property
    def route_table_id(self) -> int:
        return 254 if self.device_number == 0 else self.device_number + 1

    def mode_cidrs(self, prefix_mode: bool) -> Iterator[Cidr]:
        return (c for c in self.cidrs.values() if c.is_prefix == prefix_mode)


@dataclass(frozen=True)
class Stats:
    """Pool stats over non-excluded ENIs and CIDRs of the current mode (ipamd spec §3.1)."""

    total: int
    assigned: int
    cooldown: int
    total_prefixes: int
    free_prefixes: int

    def __init__(self, total: int, assigned: int, cooldown: int, total_prefixes: int, free_prefixes: int) -> None:
        object.__setattr__(self, "total", total)
        object.__setattr__(self, "assigned", assigned)
        object.__setattr__(self, "cooldown", cooldown)
        object.__setattr__(self, "total_prefixes", total_prefixes)
        object.__setattr__(self, "free_prefixes", free_prefixes)

    @property
    def avail(self) -> int:
        return self.total - self.assigned


@dataclass(frozen=True)
class Assignment:
    address: str
    eni_id: str
    device_number: int
    route_table_id: int

    def __init__(self, address: str, eni_id: str, device_number: int, route_table_id: int) -> None:
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "eni_id", eni_id)
        object.__setattr__(self, "device_number", device_number)
        object.__setattr__(self, "route_table_id", route_table_id)


class CheckpointSink(Protocol):
    def save(self, datastore: Datastore) -> None: ...


class NullCheckpoint:
    def save(self, datastore: Datastore) -> None:
        return None


class Datastore:
    def __init__(self, prefix_mode: bool, cooldown_period: float, checkpoint: CheckpointSink | None = None) -> None:
        self.prefix_mode = prefix_mode
        self.cooldown_period = cooldown_period
        self.checkpoint: CheckpointSink = checkpoint or NullCheckpoint()
        self.enis: dict[str, Eni] = {}
        self.total = 0  # Σ sizes of every CIDR added (reference counter; Q8 double-subtracts on forced removal)
        self.assigned = 0
        self.allocated_prefix = 0
        self.force_removed_enis = 0
        self.force_removed_ips = 0
        self.no_available_ip = 0
        self._by_key: dict[IpamKey, tuple[Eni, Cidr, int]] = {}
        self._migrated = 0  # keys of _by_key in the migrated form: while none, lookup need not try that form
        self._ordered: list[Eni] | None = None
        # Releases in time order, so stats need not visit every address to count the cooling ones.
        self._released: deque[tuple[float, Eni, Cidr, AddressEntry]] = deque()
        # stats() without the cooling count, valid until the next change: (prefix mode, total, assigned,
        # total prefixes, free prefixes). A pool cycle reads it every 5 s; it changes far less often.
        self._counted: tuple[bool, int, int, int, int] | None = None
        # _cooling(now) for every `now` in [from, until) while nothing changes: (from, until, records). A pool
        # cycle, its timers and the ENI checks ask several times between two changes.
        self._cooling_memo: tuple[float, float, list[tuple[float, Eni, Cidr, AddressEntry]]] | None = None
        # how many of that list stats() counts: (the list it was counted from, prefix mode, count)
        self._cooldown_counted: tuple[list[tuple[float, Eni, Cidr, AddressEntry]], bool, int] | None = None
        # No address is free before this time in this mode (every CIDR full or cooling when a pod last looked):
        # (prefix mode, time). Pods waiting for an address retry every ~10 s; see Cidr.no_free_before.
        self._none_free: tuple[bool, float] | None = None

    # --- ENIs and CIDRs -------------------------------------------------------------------------
    def ordered_enis(self) -> list[Eni]:
        if self._ordered is None:
            self._ordered = sorted(self.enis.values(), key=lambda e: e.device_number)
        return self._ordered

    def add_eni(self, eni_id: str, device_number: int, is_primary: bool, now: float, **extra: object) -> Eni:
        if eni_id in self.enis:
            raise DatastoreError("data store: duplicate ENI")
        eni = Eni(eni_id, device_number, is_primary, now, **extra)  # type: ignore[arg-type]
        self.enis[eni_id] = eni
        self._counted = None
        self._ordered = None
        self._changed()
        return eni

    def add_cidr(self, eni_id: str, cidr: str) -> Cidr:
        eni = self.enis.get(eni_id)
        if eni is None:
            raise DatastoreError("add ENI's IP to datastore: unknown ENI")
        parsed = Cidr.parse(cidr)
        if any(parsed.cidr in e.cidrs for e in self.enis.values()):
            raise DatastoreError("datastore: IP already in data store")
        eni.cidrs[parsed.cidr] = parsed
        eni.cidrs_version += 1
        self._counted = None
        self._changed()
        self.total += parsed.size
        if parsed.is_prefix:
            self.allocated_prefix += 1
        return parsed

    def del_cidr(self, eni_id: str, cidr: str, force: bool = False) -> None:
        eni = self.enis.get(eni_id)
        if eni is None:
            raise DatastoreError("datastore: unknown ENI")
        entry = eni.cidrs.get(parse_cidr(cidr)[0])
        if entry is None:
            raise DatastoreError("datastore: unknown IP")
        self._counted = None
        self._changed()
        if entry.assigned:
            if not force:
                raise DatastoreError("datastore: IP is used and can not be deleted")
            self._unassign_all(eni, entry)
            self.checkpoint.save(self)
        del eni.cidrs[entry.cidr]
        eni.cidrs_version += 1
        self.total -= entry.size
        if entry.is_prefix:
            self.allocated_prefix -= 1

    def remove_eni(self, eni_id: str, force: bool = False) -> None:
        eni = self.enis.get(eni_id)
        if eni is None:
            raise DatastoreError("datastore: unknown ENI")
        self._counted = None
        self._changed()
        if eni.assigned:
            if not force:
                raise DatastoreError("datastore: ENI is used and can not be deleted")
            self.force_removed_enis += 1
            for cidr in eni.cidrs.values():
                self._unassign_all(eni, cidr)
                self.total -= cidr.size  # quirk Q8: subtracted here and again below
            self.checkpoint.save(self)
        for cidr in eni.cidrs.values():
            self.total -= cidr.size
            if cidr.is_prefix:
                self.allocated_prefix -= 1
        del self.enis[eni_id]
        self._ordered = None

    def _unassign_all(self, eni: Eni, cidr: Cidr) -> None:
        eni.assigned -= cidr.assigned
        for entry in cidr.entries.values():
            if entry.key is not None:
                self._unindex(entry.key)
                entry.key = None
                entry.metadata = None
                self.assigned -= 1
                self.force_removed_ips += 1
        cidr.assigned = 0

    # --- stats ----------------------------------------------------------------------------------
    def stats(self, now: float) -> Stats:
        counted = self._counted
        if counted is None or counted[0] != self.prefix_mode:
            counted = self._counted = self._count()
        _, total, assigned, total_prefixes, free_prefixes = counted
        cooling = self._cooling(now)
        memo = self._cooldown_counted
        if memo is not None and memo[0] is cooling and memo[1] == self.prefix_mode:
            cooldown = memo[2]
        else:
            cooldown = 0
            for record in cooling:
                if not record[1].excluded and record[2].is_prefix == self.prefix_mode:
                    cooldown += 1
            self._cooldown_counted = (cooling, self.prefix_mode, cooldown)
        return Stats(total, assigned, cooldown, total_prefixes, free_prefixes)

    def _count(self) -> tuple[bool, int, int, int, int]:
        total = assigned = total_prefixes = free_prefixes = 0
        for eni in self.enis.values():
            for cidr in eni.cidrs.values():
                if cidr.is_prefix:
                    total_prefixes += 1
                    if cidr.assigned == 0:
                        free_prefixes += 1
                if eni.excluded or cidr.is_prefix != self.prefix_mode:
                    continue
                total += cidr.size
                assigned += cidr.assigned
        return self.prefix_mode, total, assigned, total_prefixes, free_prefixes

    def _changed(self) -> None:
        """An address, CIDR or ENI changed: what was remembered of the cooling and free addresses is forgotten."""
        self._cooling_memo = None
        self._none_free = None

    def _assigned_changed(self, eni: Eni, cidr: Cidr, delta: int) -> None:
        """Keep the ENI's count and the cached pool counts in step with one address (un)assigned in `cidr`."""
        eni.assigned += delta
        self._changed()
        counted = self._counted
        if counted is None:
            return
        mode, total, assigned, total_prefixes, free_prefixes = counted
        if not eni.excluded and cidr.is_prefix == mode:
            assigned += delta
        if cidr.is_prefix and cidr.assigned == (1 if delta > 0 else 0):  # the prefix went from free to used or back
            free_prefixes -= delta
        self._counted = (mode, total, assigned, total_prefixes, free_prefixes)

    def _cooling(self, now: float) -> list[tuple[float, Eni, Cidr, AddressEntry]]:
        """Addresses released less than the cooldown period ago, still free and still in the datastore
        (read-only: the list is remembered until the first of them cools down or something changes)."""
        memo = self._cooling_memo
        if memo is not None and memo[0] <= now < memo[1]:
            return memo[2]
        released = self._released
        period = self.cooldown_period
        while released and now - released[0][0] >= period:
            released.popleft()
        cooling = [
            record
            for record in released
            if now - record[0] < period
            and record[3].key is None
            and record[3].unassigned_time == record[0]
            and self.enis.get(record[1].eni_id) is record[1]
            and record[1].cidrs.get(record[2].cidr) is record[2]
        ]
        # Later, until a change: a record too old stays too old, one leaves the list when it cools down
        until = min(record[0] for record in cooling) + period if cooling else math.inf
        self._cooling_memo = (now, until, cooling)
        return cooling

    # --- pods -----------------------------------------------------------------------------------
    def assign(self, key: IpamKey, metadata: PodMetadata, now: float) -> Assignment:
        held = self._by_key.get(key)
        if held is not None:
            eni, cidr, offset = held
            return Assignment(cidr.address(offset), eni.eni_id, eni.device_number, eni.route_table_id)
        none_free = self._none_free
        if none_free is not None and none_free[0] == self.prefix_mode and now < none_free[1]:
            self.no_available_ip += 1
            raise NoAvailableAddress()
        first_free = math.inf
        for eni in self.ordered_enis():
            if eni.excluded:
                continue
            for cidr in eni.cidrs.values():
                if cidr.is_prefix != self.prefix_mode or cidr.assigned >= cidr.size:
                    continue  # a full CIDR frees an address only through _clear, which forgets _none_free
                if now < cidr.no_free_before:
                    first_free = min(first_free, cidr.no_free_before)
                    continue
                free = self._lowest_free(cidr, now)
                if free is None:
                    first_free = min(first_free, cidr.no_free_before)
                    continue
                offset = free
                entry = cidr.entries.get(offset)
                if entry is None:
                    entry = cidr.entries[offset] = AddressEntry(cidr.address(offset))
                entry.key, entry.metadata, entry.assigned_time = key, metadata, now
                cidr.assigned += 1
                self.assigned += 1
                self._assigned_changed(eni, cidr, 1)
                self._index(key, eni, cidr, offset)
                try:
                    self.checkpoint.save(self)
                except Exception:
                    self._clear(eni, cidr, offset, entry)
                    raise
                return Assignment(entry.address, eni.eni_id, eni.device_number, eni.route_table_id)
        self._none_free = (self.prefix_mode, first_free)
        self.no_available_ip += 1
        raise NoAvailableAddress()

    def _lowest_free(self, cidr: Cidr, now: float) -> int | None:
        """The lowest offset neither assigned nor cooling; when there is none, notes when the first cools down."""
        period = self.cooldown_period
        first_free = math.inf
        for offset in range(cidr.size):
            entry = cidr.entries.get(offset)
            if entry is None:
                return offset
            if entry.key is None:
                released = entry.unassigned_time
                if released is None or now - released >= period:
                    return offset
                first_free = min(first_free, released + period)
        cidr.no_free_before = first_free
        return None

    def _index(self, key: IpamKey, eni: Eni, cidr: Cidr, offset: int) -> None:
        if key.network_name == MIGRATED_NETWORK and key not in self._by_key:
            self._migrated += 1
        self._by_key[key] = (eni, cidr, offset)

    def _unindex(self, key: IpamKey) -> None:
        del self._by_key[key]
        if key.network_name == MIGRATED_NETWORK:
            self._migrated -= 1

    def _clear(self, eni: Eni, cidr: Cidr, offset: int, entry: AddressEntry) -> None:
        assert entry.key is not None
        self._unindex(entry.key)
        entry.key = None
        entry.metadata = None
        cidr.no_free_before = -math.inf
        cidr.assigned -= 1
        self.assigned -= 1
        self._assigned_changed(eni, cidr, -1)

    def lookup(self, key: IpamKey) -> tuple[Eni, Cidr, AddressEntry] | None:
        held = self._by_key.get(key)
        if held is None and self._migrated:
            held = self._by_key.get(IpamKey(MIGRATED_NETWORK, key.container_id, MIGRATED_IFNAME))
        if held is None:
            return None
        eni, cidr, offset = held
        return eni, cidr, cidr.entries[offset]

    def release(self, key: IpamKey, now: float) -> tuple[Eni, Cidr, AddressEntry]:
        """Free a pod's address; it then cools for the cooldown period before another pod may get it."""
        found = self.lookup(key)
        if found is None:
            raise UnknownPod()
        eni, cidr, entry = found
        held_key, metadata = entry.key, entry.metadata
        assert held_key is not None
        offset = self._by_key[held_key][2]
        self._clear(eni, cidr, offset, entry)
        try:
            self.checkpoint.save(self)
        except Exception:
            entry.key, entry.metadata = held_key, metadata
            cidr.assigned += 1
            self.assigned += 1
            self._assigned_changed(eni, cidr, 1)
            self._index(held_key, eni, cidr, offset)
            raise
        entry.unassigned_time = now
        self._released.append((now, eni, cidr, entry))
        self._changed()
        entry.metadata = metadata  # kept for the reply's interfaces count; key is cleared
        return eni, cidr, entry

    def unassign_now(self, key: IpamKey) -> None:
        """Take an assignment back as if it never happened: no cooldown, since no pod ever used the address
        (its reply was never sent). The checkpoint hears of it like any change."""
        held = self._by_key.get(key)
        if held is None:
            raise UnknownPod()
        eni, cidr, offset = held
        self._clear(eni, cidr, offset, cidr.entries[offset])
        self.checkpoint.save(self)

    def restore(self, key: IpamKey, metadata: PodMetadata, address: str, assigned_time: float) -> bool:
        """Re-assign a checkpointed pod to its address; False if the address is in no known CIDR."""
        value = int(ipaddress.IPv4Address(address))
        for eni in self.enis.values():
            for cidr in eni.cidrs.values():
                if cidr.base <= value < cidr.base + cidr.size:
                    offset = value - cidr.base
                    entry = cidr.entries.get(offset)
                    if entry is not None and entry.key is not None:
                        raise DatastoreError("datastore: IP already in data store")
                    entry = cidr.entries.setdefault(offset, AddressEntry(address))
                    entry.key, entry.metadata, entry.assigned_time = key, metadata, assigned_time
                    cidr.assigned += 1
                    self.assigned += 1
                    self._assigned_changed(eni, cidr, 1)
                    self._index(key, eni, cidr, offset)
                    return True
        return False

    def next_cooldown_end(self, now: float) -> float | None:
        """When the first address still cooling at `now` becomes free again (None if none is cooling)."""
        cooling = self._cooling(now)
        return cooling[0][0] + self.cooldown_period if cooling else None

    def allocations(self) -> list[tuple[IpamKey, PodMetadata | None, str, float]]:
        out = []
        for key, (_, cidr, offset) in self._by_key.items():
            entry = cidr.entries[offset]
            out.append((key, entry.metadata, entry.address, entry.assigned_time))
        return out

    def cooling_on(self, eni: Eni, now: float) -> bool:
        return any(record[1] is eni for record in self._cooling(now))
