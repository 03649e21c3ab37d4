"""Invariants of the reconstruction: whatever a node did, in whatever order the records arrive, the
analysis ends where a straightforward model of the same calls ends."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trail.builders import Trail
from vpccni.trail import analyse

NODE = "i-0ddd000000000004d"
SUBNET = "subnet-0f0e0d0c0b0a09080"
PRIMARY = "eni-0prim00000000000d1"

ops = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.integers(1, 4)),
        st.tuples(st.just("unassign"), st.integers(1, 3)),
        st.tuples(st.just("new-eni"), st.integers(0, 5)),
        st.tuples(st.just("drop-eni"), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.randoms(use_true_random=False))
def test_held_addresses_match_a_model_in_any_arrival_order(steps: list[tuple[str, int]], rng: object) -> None:
    trail = Trail()
    trail.run_instance(0, NODE, "m5.large", SUBNET, PRIMARY)
    enis: dict[str, list[str]] = {PRIMARY: []}
    assigned = unassigned = created = deleted = 0
    at = 10.0
    for kind, n in steps:
        at += 10
        if kind == "assign":
            target = sorted(enis)[-1]
            enis[target] += trail.assign(at, NODE, target, n)
            assigned += n
        elif kind == "unassign":
            target = max(enis, key=lambda e: len(enis[e]))
            gone, enis[target] = enis[target][:n], enis[target][n:]
            if gone:
                trail.unassign(at, NODE, target, gone)
                unassigned += len(gone)
        elif kind == "new-eni":
            eni = f"eni-0n{int(at):016d}"
            record = trail.create_eni(at, NODE, SUBNET, eni, n)
            trail.attach(at + 1, NODE, eni, len(enis))
            listed = record["responseElements"]["networkInterface"]["privateIpAddressesSet"]["item"]
            enis[eni] = [a["privateIpAddress"] for a in listed if not a["primary"]]
            created += 1
            assigned += n
        elif len(enis) > 1:
            eni = sorted(enis)[-1]
            trail.detach(at, NODE, eni)
            trail.delete(at + 2, NODE, eni)
            del enis[eni]
            deleted += 1
    rng.shuffle(trail.records)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as scratch:
        half = max(1, len(trail.records) // 2)  # two files, the first never empty
        first, second = Trail(), Trail()
        first.records, second.records = trail.records[:half], trail.records[half:]
        paths = [str(first.write_lines(Path(scratch) / "a.jsonl"))]
        if second.records:
            paths.append(str(second.write_records(Path(scratch) / "b.json")))
        row = analyse(paths).to_json()["instances"][0]
    assert row["instance_id"] == NODE
    assert row["enis_end"] == len(enis)
    assert row["ips_held_end"] == sum(len(a) for a in enis.values())
    assert (row["ips_assigned"], row["ips_unassigned"]) == (assigned, unassigned)
    assert (row["enis_created"], row["enis_deleted"]) == (created, deleted)
