"""Free-address bookkeeping of one subnet: O(1)/O(log n) per call whatever the subnet size.

Addresses are offsets from the subnet's network address. Single addresses and aligned /28 blocks are
drawn either at random (default: realistic fragmentation) or lowest-first (hand-checkable tests).
An indexable set gives O(1) random choice and removal; lazy min-heaps give lowest-first; a per-block
free count tells which /28 blocks are wholly free.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from array import array
from typing import Final, Literal

from mypy_extensions import mypyc_attr

from vpccni.cloud.records import dotted_quad
from vpccni.cloud.sim.draws import draw_below

BLOCK: Final = 16
RESERVED_LOW: Final = 4  # network, router, DNS, reserved; plus the broadcast address
Policy = Literal["random", "lowest"]


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
class _IndexedSet:
    """A set of ints in [0, universe) with O(1) add, remove and uniform random choice.

    Two flat arrays, not a list and a dict of Python ints: a /16 subnet's free addresses take 0.5 MiB instead
    of about 6, and each take or give-back touches two machine words instead of a dict entry and an int object.
    """

    def __init__(self, items: list[int], universe: int) -> None:
        self._items = array("l", items)  # the members, in the order random choice indexes them
        self._pos = array("l", [-1]) * universe  # each value's index in _items, -1 when absent
        for i, value in enumerate(items):
            self._pos[value] = i

    def __contains__(self, value: int) -> bool:
        return 0 <= value < len(self._pos) and self._pos[value] >= 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, value: int) -> None:
        if self._pos[value] < 0:
            self._pos[value] = len(self._items)
            self._items.append(value)

    def remove(self, value: int) -> None:
        i = self._pos[value]
        if i < 0:
            raise KeyError(value)
        self._pos[value] = -1
        last = self._items.pop()
        if i < len(self._items):
            self._items[i] = last
            self._pos[last] = i

    def choice(self, rng: random.Random) -> int:
        return self._items[draw_below(rng, len(self._items))]


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
class _LowestFirst:
    """Lazy min-heap over an _IndexedSet: the smallest member in O(log n) amortised."""

    def __init__(self, members: _IndexedSet, items: list[int]) -> None:
        self._members = members
        self._heap = sorted(items)

    def push(self, value: int) -> None:
        heapq.heappush(self._heap, value)

    def smallest(self) -> int:
        while self._heap[0] not in self._members:
            heapq.heappop(self._heap)
        return self._heap[0]


def parse_subnet_cidr(cidr: str) -> ipaddress.IPv4Network:
    """A subnet CIDR as EC2 accepts it (/16 to /28); ValueError with a message naming the problem."""
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise ValueError(f"{cidr!r} is not a CIDR: {exc}") from None
    if not 16 <= network.prefixlen <= 28:
        raise ValueError(f"{cidr}: EC2 subnets are /16 to /28")
    return network


@mypyc_attr(serializable=True)  # pickled with the account (persist.py)
class SubnetAddresses:
    """Which addresses and /28 blocks of one subnet are free."""

    def __init__(self, cidr: str, rng: random.Random, policy: Policy = "random") -> None:
        network = ipaddress.IPv4Network(cidr)
        if network.prefixlen > 28:
            raise ValueError(f"subnet {cidr} is smaller than a /28")
        self.network = network
        self.base = int(network.network_address)
        self.size = network.num_addresses
        self._rng = rng
        self._policy: Policy = policy
        usable = list(range(RESERVED_LOW, self.size - 1))
        self.usable = len(usable)
        self.min_free = len(usable)  # low-water mark of free_count since creation
        self._free = _IndexedSet(usable, self.size)
        self._free_lowest = _LowestFirst(self._free, usable) if policy == "lowest" else None
        blocks = self.size // BLOCK
        self._block_free = [BLOCK] * blocks
        self._block_free[0] -= RESERVED_LOW
        self._block_free[-1] -= 1
        full = [b for b in range(blocks) if self._block_free[b] == BLOCK]
        self._full_blocks = _IndexedSet(full, blocks)
        self._full_lowest = _LowestFirst(self._full_blocks, full) if policy == "lowest" else None

    # --- queries --------------------------------------------------------------------------------
    @property
    def free_count(self) -> int:
        return len(self._free)

    @property
    def free_blocks(self) -> int:
        return len(self._full_blocks)

    def is_reserved(self, offset: int) -> bool:
        return offset < RESERVED_LOW or offset == self.size - 1

    def offset(self, address: str) -> int:
        return int(ipaddress.IPv4Address(address)) - self.base

    def address(self, offset: int) -> str:
        return dotted_quad(self.base + offset)  # the metadata view renders every address it lists

    def prefix(self, block_offset: int) -> str:
        return f"{self.address(block_offset)}/28"

    # --- taking and giving back -----------------------------------------------------------------
    def take_addresses(self, count: int) -> list[int] | None:
        """`count` free addresses, or None (and nothing taken) when fewer are free."""
        if count > len(self._free):
            return None
        taken = []
        for _ in range(count):
            offset = self._free_lowest.smallest() if self._free_lowest else self._free.choice(self._rng)
            self._take(offset)
            taken.append(offset)
        return taken

    def take_specific(self, offsets: list[int]) -> bool:
        """Take exactly these addresses, all or none."""
        if len(set(offsets)) != len(offsets) or any(o not in self._free for o in offsets):
            return False
        for offset in offsets:
            self._take(offset)
        return True

    def take_blocks(self, count: int) -> list[int] | None:
        """`count` wholly free aligned /28 blocks (offsets of their first address), or None."""
        if count > len(self._full_blocks):
            return None
        taken = []
        for _ in range(count):
            block = self._full_lowest.smallest() if self._full_lowest else self._full_blocks.choice(self._rng)
            start = block * BLOCK
            for offset in range(start, start + BLOCK):
                self._take(offset)
            taken.append(start)
        return taken

    def give_back(self, offsets: list[int]) -> None:
        for offset in offsets:
            if offset in self._free or self.is_reserved(offset) or not 0 <= offset < self.size:
                raise ValueError(f"address offset {offset} is not in use")
        for offset in offsets:
            self._free.add(offset)
            if self._free_lowest:
                self._free_lowest.push(offset)
            block = offset // BLOCK
            self._block_free[block] += 1
            if self._block_free[block] == BLOCK:
                self._full_blocks.add(block)
                if self._full_lowest:
                    self._full_lowest.push(block)

    def _take(self, offset: int) -> None:
        self._free.remove(offset)
        self.min_free = min(self.min_free, len(self._free))
        block = offset // BLOCK
        if self._block_free[block] == BLOCK:
            self._full_blocks.remove(block)
        self._block_free[block] -= 1
