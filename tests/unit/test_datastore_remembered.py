"""What the datastore remembers between calls (which CIDRs have nothing free before when, the cooling list) never
changes an answer: after any sequence of assigns, releases, CIDR and ENI changes and clock steps, each assign
gets the address a walk over every entry would pick, and stats/next_cooldown_end match a count from scratch."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vpccni.ipam.datastore import Datastore, IpamKey, NoAvailableAddress, PodMetadata

PERIOD = 30.0


def _key(n: int) -> IpamKey:
    return IpamKey("aws-cni", f"sandbox-{n}", "eth0")


def _expected_address(ds: Datastore, now: float) -> str | None:
    """The reference's choice, read off the entries: first ENI by device, first CIDR, lowest free offset."""
    for eni in sorted(ds.enis.values(), key=lambda e: e.device_number):
        if eni.excluded:
            continue
        for cidr in eni.cidrs.values():
            if cidr.is_prefix != ds.prefix_mode:
                continue
            for offset in range(cidr.size):
                entry = cidr.entries.get(offset)
                if entry is None or (
                    entry.key is None and (entry.unassigned_time is None or now - entry.unassigned_time >= PERIOD)
                ):
                    return cidr.address(offset)
    return None


def _cooling_from_scratch(ds: Datastore, now: float) -> tuple[int, float | None]:
    """Cooling addresses of the current mode and when the first cools down, from every entry."""
    count, ends = 0, []
    for eni in ds.enis.values():
        for cidr in eni.cidrs.values():
            for entry in cidr.entries.values():
                released = entry.unassigned_time
                if entry.key is None and released is not None and now - released < PERIOD:
                    ends.append(released + PERIOD)
                    if not eni.excluded and cidr.is_prefix == ds.prefix_mode:
                        count += 1
    return count, (min(ends) if ends else None)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.integers(0, 30)),
        st.tuples(st.just("release"), st.integers(0, 30)),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 1.0, 5.0, 10.0, 29.0, 30.0, 31.0])),
        st.tuples(st.just("add_cidr"), st.integers(0, 2)),
        st.tuples(st.just("del_cidr"), st.integers(0, 2)),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_remembered_answers_equal_a_walk_over_every_entry(ops: list[tuple[str, float]]) -> None:
    ds = Datastore(False, PERIOD)
    ds.add_eni("eni-0", 0, True, 0.0)
    ds.add_cidr("eni-0", "10.0.0.1/32")
    ds.add_eni("eni-1", 1, False, 0.0)
    ds.add_cidr("eni-1", "10.0.1.1/32")
    ds.add_cidr("eni-1", "10.0.1.2/32")
    added = 0
    now = 0.0
    for op, arg in ops:
        if op == "wait":
            now += arg
        elif op == "assign":
            wanted = _expected_address(ds, now)
            held = ds.lookup(_key(int(arg)))
            try:
                got = ds.assign(_key(int(arg)), PodMetadata(), now).address
            except NoAvailableAddress:
                got = None
            assert got == (held[2].address if held is not None else wanted)
        elif op == "release":
            if ds.lookup(_key(int(arg))) is not None:
                ds.release(_key(int(arg)), now)
        elif op == "add_cidr":
            added += 1
            ds.add_cidr(f"eni-{int(arg) % 2}", f"10.0.2.{added}/32")
        elif op == "del_cidr":
            eni = ds.enis[f"eni-{int(arg) % 2}"]
            free = [c.cidr for c in eni.cidrs.values() if c.assigned == 0]
            if free:
                ds.del_cidr(eni.eni_id, free[0])
        count, first_end = _cooling_from_scratch(ds, now)
        assert ds.stats(now).cooldown == count
        end = ds.next_cooldown_end(now)
        assert (end is None) == (first_end is None)
        if end is not None and first_end is not None:
            assert math.isclose(end, first_end)
