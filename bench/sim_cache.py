"""Why simulated events per second fall as the cluster grows: the nodes' heap against the machine's cache.

For each size it runs the benchmark's churn (`vpccni.cluster.churn`, as `bench/sim_scale.py`) in a fresh
process and prints:
- the steady rate: events per second after the first virtual hour (start-up, ENI creation, is left out), so
  every size is measured on the same mix of events;
- the live heap per node: bytes traced by `tracemalloc` after an hour and a half, less the heap before the
  cluster was built, over the node count (a second, slower run: tracing costs time, not answers);
- the nodes' heap: that times the node count, the memory a run's events wander through;
- the cost of one random read at that working set on this machine: a chain of dependent reads through an
  `array` of that size in random order, less the same chain through 64 KiB (the interpreter's own cost).

Above about 2,000 nodes the churn's ENI demand outruns one account's EC2 limits: throttled calls and their
retries (cheap events) then change the mix, so keep the sizes below that to compare like with like.

Instructions per event hardly change with the node count (see the closing notes of issue #14: within 8 % from
100 to 1,000 nodes). When the steady rate falls where the random-read cost rises, the run is bound by where its
data lives, not by what it computes. It never fails on the figures.

    python bench/sim_cache.py [--nodes 50 100 300 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from array import array
from typing import Any

WARM_UP_HOURS = 1.0  # start-up: every node creates its ENIs; its events differ from the steady churn's
STEADY_EVENTS = 150_000  # at least this many events after the warm-up, at every size
EVENTS_PER_NODE_HOUR = 200  # the churn's steady rate per node (bench/sim_scale.py: ~4.8 M events, 1,000 nodes, 24 h)
HEAP_HOURS = 1.5  # the traced run: past the warm-up, so the pools and pods are at their steady size
LINE = 64  # bytes per cache line: the chain reads one array element per line
BASELINE_KIB = 64  # a chain this small stays in the first-level cache: its cost is the interpreter's


def steady_rate(nodes: int) -> dict[str, Any]:
    """Events per second after the warm-up hour, in this process."""
    from vpccni.cluster import ClusterSimulation
    from vpccni.cluster.churn import churn_scenario
    from vpccni.cluster.progress import RunProgress
    from vpccni.cluster.scenario import Scenario

    hours = WARM_UP_HOURS + max(1, math.ceil(STEADY_EVENTS / (EVENTS_PER_NODE_HOUR * nodes)))
    warm: list[RunProgress] = []
    last: list[RunProgress] = []

    def note(p: RunProgress) -> None:
        if not warm and p.virtual_seconds >= WARM_UP_HOURS * 3600:
            warm.append(p)
        last[:] = [p]

    sim = ClusterSimulation(Scenario.model_validate(churn_scenario(nodes, hours)), trail="none", progress=note)
    sim.run()
    first, end = warm[0], last[0]
    events = end.events - first.events
    wall = end.wall_seconds - first.wall_seconds
    return {"nodes": nodes, "virtual_hours": hours, "steady_events": events, "steady_events_per_s": events / wall}


def heap_per_node(nodes: int) -> float:
    """Bytes of live heap per node after HEAP_HOURS of churn (tracemalloc, everything the run allocated)."""
    import gc
    import tracemalloc

    from vpccni.cluster import ClusterSimulation
    from vpccni.cluster.churn import churn_scenario
    from vpccni.cluster.scenario import Scenario

    spec = Scenario.model_validate(churn_scenario(nodes, HEAP_HOURS))
    tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    sim = ClusterSimulation(spec, trail="none")
    sim.run()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / nodes


def read_chain(working_set: int) -> array[int]:
    """`working_set` bytes holding one cycle through all its cache lines in random order: the first word of each
    line is the index of the next line's first word, so each read depends on the one before."""
    lines = max(2, working_set // LINE)
    stride = LINE // array("q").itemsize
    order = list(range(lines))
    random.Random(1).shuffle(order)
    chain = array("q", bytes(lines * LINE))
    for here, there in zip(order, order[1:] + order[:1], strict=True):
        chain[here * stride] = there * stride
    return chain


def read_cost_ns(working_set: int, reads: int = 2_000_000) -> float:
    """Nanoseconds per dependent read through `working_set` bytes in random order (one read per cache line)."""
    chain = read_chain(working_set)
    at = 0
    start = time.perf_counter()
    for _ in range(reads):
        at = chain[at]
    return (time.perf_counter() - start) / reads * 1e9


def child(args: list[str]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter, so each size's heap and cache are its own."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout))


def measure(sizes: list[int]) -> dict[str, Any]:
    base = child(["--read-cost", str(BASELINE_KIB * 1024)])["ns"]
    rows = []
    for nodes in sizes:
        print(f"  {nodes} nodes ...", file=sys.stderr, flush=True)
        rate = child(["--rate", str(nodes)])
        per_node = child(["--heap", str(nodes)])["bytes_per_node"]
        heap = per_node * nodes
        read = child(["--read-cost", str(int(heap))])["ns"]
        rows.append(
            {
                **rate,
                "steady_events_per_s": round(rate["steady_events_per_s"], 1),
                "heap_kib_per_node": round(per_node / 1024, 1),
                "nodes_heap_mib": round(heap / 2**20, 1),
                "random_read_ns": round(read - base, 1),
            }
        )
    smallest = rows[0]["steady_events_per_s"]
    for row in rows:
        row["rate_vs_smallest"] = round(row["steady_events_per_s"] / smallest, 3)
    return {"runs": rows, "interpreter_read_ns": round(base, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="*", default=[50, 100, 300, 1000], help="sizes, smallest first")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--heap", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--read-cost", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate or args.heap or args.read_cost:
        import logging

        logging.disable(logging.WARNING)  # throttled calls log; the parent reads only the JSON line
        if args.rate:
            print(json.dumps(steady_rate(args.rate)))
        elif args.heap:
            print(json.dumps({"bytes_per_node": heap_per_node(args.heap)}))
        else:
            print(json.dumps({"ns": read_cost_ns(args.read_cost)}))
        return
    result = measure(sorted(args.nodes))
    if args.json:
        print(json.dumps(result))
        return
    header = ("nodes", 6), ("heap/node", 10), ("nodes heap", 11), ("steady events/s", 16), ("vs smallest", 12)
    print(" ".join(f"{name:>{width}}" for name, width in (*header, ("random read", 12))))
    for r in result["runs"]:
        print(
            f"{r['nodes']:>6} {r['heap_kib_per_node']:>7} KiB {r['nodes_heap_mib']:>7} MiB "
            f"{r['steady_events_per_s']:>16,.0f} {r['rate_vs_smallest']:>12.0%} {r['random_read_ns']:>9} ns"
        )
    print(f"(random read: the cost above the interpreter's own {result['interpreter_read_ns']} ns per read)")


if __name__ == "__main__":
    main()
