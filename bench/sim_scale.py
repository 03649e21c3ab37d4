"""Cluster simulator at scale: N nodes and 24 virtual hours of pod churn (deployments scaling up and
down, about 1,000 pod events per node per day; the workload is `vpccni.cluster.churn`). Prints simulated
events per second, wall time, peak memory and the growth factor per 10× nodes.

Targets (issue #14): 1,000 nodes × 24 h in ≤ 60 s with a peak RSS ≤ 1 GiB, events/s at 1,000 nodes at
least 90 % of events/s at 100 nodes; 5,000 nodes (`--nodes 5000`, not run by default) within 4 GiB.
It never fails on time: on a shared machine compare the ratios measured in the same run.

Each size runs in a fresh process so peak memory is that size's own. No CloudTrail log is kept.

The engine and simulator run compiled (`make native`, see vpccni/native.py) when the build is current. The
baseline they replace, the same modules as pure Python (`VPCCNI_PURE_PYTHON=1`), runs in the same invocation at
`--baseline-nodes` (default: the smallest size; 0 skips it), and the speed-up is printed beside it; both must
report the same events and pods, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from typing import Any

PROGRESS_SECONDS = 30.0  # a size still running says where it is this often (stderr)


def run_one(nodes: int, hours: float) -> dict[str, Any]:
    from vpccni.cluster import ClusterSimulation
    from vpccni.cluster.churn import churn_scenario
    from vpccni.cluster.progress import RunProgress
    from vpccni.cluster.scenario import Scenario

    last = [0.0]

    def report(p: RunProgress) -> None:
        if p.wall_seconds - last[0] >= PROGRESS_SECONDS:
            last[0] = p.wall_seconds
            print(
                f"  {nodes} nodes: {p.virtual_seconds / 3600:.1f} h of {p.duration / 3600:g} h simulated, "
                f"{p.events} events ({p.events_per_second:,.0f}/s), {p.wall_seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    spec = Scenario.model_validate(churn_scenario(nodes, hours))
    start = time.perf_counter()
    sim = ClusterSimulation(spec, trail="none", progress=report)
    summary = sim.run()
    wall = time.perf_counter() - start
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    import vpccni.ipam.node
    from vpccni.native import compiled_in_use

    return {
        "nodes": nodes,
        "engine": "compiled" if compiled_in_use(vpccni.ipam.node) else "pure-python",
        "virtual_hours": hours,
        "wall_s": round(wall, 2),
        "events": summary["events"],
        "events_per_s": round(summary["events"] / wall, 1),
        "pods_created": summary["pods_created"],
        "pods_running": summary["pods_running"],
        "node_steps": summary["node_steps"],
        "peak_rss_mib": peak,
        "peak_mib": peak,  # the key's earlier name
    }


def growth(results: list[dict[str, Any]]) -> dict[str, float]:
    """Wall time and events per 10× nodes between the smallest and the largest size (linear = 10×)."""
    first, last = results[0], results[-1]
    if last["nodes"] <= first["nodes"]:
        return {}
    decades = math.log10(last["nodes"] / first["nodes"])
    return {
        "growth_wall_per_10x_nodes": round((last["wall_s"] / first["wall_s"]) ** (1 / decades), 2),
        "event_growth_per_10x_nodes": round((last["events"] / first["events"]) ** (1 / decades), 2),
        "events_per_s_largest_vs_smallest": round(last["events_per_s"] / first["events_per_s"], 3),
    }


def measure(nodes: int, hours: float, pure: bool) -> dict[str, Any]:
    env = {**os.environ, "VPCCNI_PURE_PYTHON": "1" if pure else "0"}
    with subprocess.Popen(
        [sys.executable, __file__, "--one", str(nodes), "--hours", str(hours)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        for line in child.stderr:  # progress lines go on; the engines' log lines (throttled calls) are dropped
            if line.startswith("  "):
                print(line, end="", file=sys.stderr, flush=True)
        result = child.stdout.read()
    if child.returncode:
        raise SystemExit(f"the {nodes}-node run failed (exit {child.returncode})")
    return dict(json.loads(result))


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['nodes']:>5} nodes × {r['virtual_hours']:g} h ({r['engine']}): {r['wall_s']:>7} s wall, "
        f"{r['events']:>9} events ({r['events_per_s']:>8}/s), {r['pods_created']:>8} pods created, "
        f"{r['node_steps']:>8} node steps, peak {r['peak_rss_mib']} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="*", default=[100, 300, 1000], help="sizes (add 5000 by hand)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument(
        "--baseline-nodes", type=int, help="size of the same-run pure-Python baseline (default: smallest; 0: none)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.hours)))
        return
    results = []
    for nodes in args.nodes:
        results.append(measure(nodes, args.hours, pure=False))
        if not args.json:
            print(line(results[-1]), flush=True)
    ratios: dict[str, Any] = growth(results)
    baseline_nodes = min(args.nodes) if args.baseline_nodes is None else args.baseline_nodes
    if baseline_nodes and results[0]["engine"] == "compiled":
        pure = measure(baseline_nodes, args.hours, pure=True)
        compiled = next((r for r in results if r["nodes"] == baseline_nodes), None) or measure(
            baseline_nodes, args.hours, pure=False
        )
        if (pure["events"], pure["pods_created"]) != (compiled["events"], compiled["pods_created"]):
            raise SystemExit(f"compiled and pure-Python runs disagree: {compiled} against {pure}")
        ratios["baseline"] = pure
        ratios["speedup_vs_pure_python"] = round(pure["wall_s"] / compiled["wall_s"], 2)
        if not args.json:
            print(line(pure))
            print(f"compiled vs pure Python at {baseline_nodes} nodes: {ratios['speedup_vs_pure_python']}× faster")
    if args.json:
        print(json.dumps({"runs": results, **ratios}))
    elif "growth_wall_per_10x_nodes" in ratios:
        print(
            f"growth per 10× nodes: wall {ratios['growth_wall_per_10x_nodes']}×, "
            f"events {ratios['event_growth_per_10x_nodes']}× (linear = 10×); events/s at the largest size "
            f"{ratios['events_per_s_largest_vs_smallest']:.0%} of the smallest's (target ≥ 90 %); "
            "target 1,000 nodes × 24 h ≤ 60 s, ≤ 1 GiB"
        )


if __name__ == "__main__":
    main()
