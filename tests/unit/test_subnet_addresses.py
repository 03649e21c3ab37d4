"""A subnet's free-address bookkeeping (cloud/sim/addresses.py): held in flat arrays since #14, it must draw the
same addresses as the list-and-dict set it replaced (the simulator's answers depend on every draw), keep its
counts true, and survive the account's pickling."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpccni.cloud.clock import VirtualClock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2, persist
from vpccni.cloud.sim.addresses import BLOCK, SubnetAddresses


def new_subnet(cidr: str, seed: int) -> SubnetAddresses:
    """A subnet's bookkeeping as the simulated EC2 makes it, drawing from a stream seeded with `seed`.

    Made through CreateSubnet, not by calling the class: compiled with mypyc, a class serializable for pickling
    is initialised only when compiled code constructs it."""
    cloud = SimCloud(VirtualClock(), random.Random(seed), SimConfig(latency=False))
    ec2 = SimEc2(cloud)
    vpc = ec2.create_vpc("10.0.0.0/8")
    subnet = ec2.create_subnet(vpc.vpc_id, cidr, "us-west-2a")
    cloud.rng.seed(seed)  # the draws below start where the reference's do
    return cloud.subnets[subnet.subnet_id].pool


class ListAndDictSet:
    """The former _IndexedSet, kept here as the specification of the draw order: swap-with-last removal."""

    def __init__(self, items: list[int]) -> None:
        self.items = list(items)
        self.pos = {value: i for i, value in enumerate(items)}

    def add(self, value: int) -> None:
        if value not in self.pos:
            self.pos[value] = len(self.items)
            self.items.append(value)

    def remove(self, value: int) -> None:
        i = self.pos.pop(value)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def choice(self, rng: random.Random) -> int:
        return self.items[rng.randrange(len(self.items))]


class ReferenceSubnet:
    """SubnetAddresses' random policy over the former set: what each draw must return."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.rng = rng
        self.size = size
        self.free = ListAndDictSet(list(range(4, size - 1)))
        self.block_free = [BLOCK] * (size // BLOCK)
        self.block_free[0] -= 4
        self.block_free[-1] -= 1
        self.full = ListAndDictSet([b for b, n in enumerate(self.block_free) if n == BLOCK])

    def _take(self, offset: int) -> None:
        self.free.remove(offset)
        block = offset // BLOCK
        if self.block_free[block] == BLOCK:
            self.full.remove(block)
        self.block_free[block] -= 1

    def take_addresses(self, count: int) -> list[int] | None:
        if count > len(self.free.items):
            return None
        taken = []
        for _ in range(count):
            offset = self.free.choice(self.rng)
            self._take(offset)
            taken.append(offset)
        return taken

    def take_blocks(self, count: int) -> list[int] | None:
        if count > len(self.full.items):
            return None
        taken = []
        for _ in range(count):
            start = self.full.choice(self.rng) * BLOCK
            for offset in range(start, start + BLOCK):
                self._take(offset)
            taken.append(start)
        return taken

    def give_back(self, offsets: list[int]) -> None:
        for offset in offsets:
            self.free.add(offset)
            block = offset // BLOCK
            self.block_free[block] += 1
            if self.block_free[block] == BLOCK:
                self.full.add(block)


# (kind, amount, pick): take `amount` addresses or blocks, or give back `amount` of the held ones chosen by `pick`
STEPS = st.lists(
    st.tuples(st.sampled_from(["addresses", "blocks", "give_back"]), st.integers(1, 20), st.integers(0, 2**16)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from([24, 26, 28]), seed=st.integers(0, 2**32), steps=STEPS)
def test_draws_and_counts_match_the_former_set(prefix: int, seed: int, steps: list[tuple[str, int, int]]) -> None:
    subnet = new_subnet(f"10.1.0.0/{prefix}", seed)
    reference = ReferenceSubnet(subnet.size, random.Random(seed))
    held: list[int] = []
    for kind, amount, pick in steps:
        if kind == "addresses":
            got, want = subnet.take_addresses(amount), reference.take_addresses(amount)
            assert got == want
            held += got or []
        elif kind == "blocks":
            got, want = subnet.take_blocks(amount), reference.take_blocks(amount)
            assert got == want
            held += [start + i for start in got or [] for i in range(BLOCK)]
        elif held:
            chosen = random.Random(pick).sample(held, min(amount, len(held)))
            subnet.give_back(chosen)
            reference.give_back(chosen)
            held = [offset for offset in held if offset not in set(chosen)]
        assert len(set(held)) == len(held)  # no address handed out twice
        assert subnet.free_count == len(reference.free.items) == subnet.usable - len(held)
        assert subnet.free_blocks == len(reference.full.items)
        assert not any(offset in subnet._free for offset in held)


def test_give_back_refuses_free_reserved_and_outside_offsets() -> None:
    subnet = new_subnet("10.1.0.0/28", 1)
    taken = subnet.take_addresses(3)
    assert taken is not None
    for offset in (0, 15, 99, -3, next(o for o in range(4, 15) if o not in taken)):
        with pytest.raises(ValueError, match="not in use"):
            subnet.give_back([offset])
    subnet.give_back(taken)
    assert subnet.free_count == subnet.usable == 11


def test_pickled_subnet_draws_on_where_it_left_off() -> None:
    subnet = new_subnet("10.2.0.0/22", 5)
    subnet.take_addresses(40)
    copy = pickle.loads(pickle.dumps(subnet, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy.free_count == subnet.free_count and copy.free_blocks == subnet.free_blocks
    assert copy.take_addresses(25) == subnet.take_addresses(25)
    assert copy.take_blocks(3) == subnet.take_blocks(3)


def test_a_state_file_of_the_former_format_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "sim-cloud.state"
    path.write_bytes(pickle.dumps({"format": "vpccni-sim-cloud/1", "state": {}}))
    with pytest.raises(ValueError, match=r"another vpccni version \(vpccni-sim-cloud/1, this one reads"):
        persist.load(object(), str(path))  # type: ignore[arg-type]  # refused before the account is touched
    path.write_bytes(pickle.dumps(["something else"]))
    with pytest.raises(ValueError, match="not a vpccni-sim-cloud/2 file"):
        persist.load(object(), str(path))  # type: ignore[arg-type]
