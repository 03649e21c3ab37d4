"""IP efficiency on the standard traces: the reference default, the adaptive warm pool and a grid of
static settings, each over several seeds, measured in the same run.

For every trace in scenarios/traces/ it prints a table (idle addresses, pod IP-wait p99, mutating EC2
calls, throttled calls, exhaustion errors; means over seeds), marks the static settings on the Pareto
front (idle, p99 wait, EC2 calls: lower is better), and the verdict for the adaptive policy against the
default: idle ratio, p99 delta, EC2-call ratio, and which static settings dominate it (better or equal
on all three, better on one). It never fails on the figures.

    python bench/ip_efficiency.py [--quick] [--json] [--seeds N] [--trace NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.cluster.scenario import RunSpec, Scenario

TRACES = Path(__file__).resolve().parent.parent / "scenarios" / "traces"
EXHAUSTION = ("InsufficientFreeAddressesInSubnet", "InsufficientCidrBlocks")
OBJECTIVES = ("idle_ips_mean", "ip_wait_p99", "ec2_mutating_calls")

DEFAULT = "reference-default"
ADAPTIVE = "adaptive"


def grid(quick: bool) -> dict[str, dict[str, str]]:
    """The static settings compared with the default and the adaptive policy."""
    settings: dict[str, dict[str, str]] = {
        DEFAULT: {},
        ADAPTIVE: {"WARM_POOL_POLICY": "adaptive"},
        "WARM_ENI_TARGET=0": {"WARM_ENI_TARGET": "0"},
    }
    warm_ips = (1, 3) if quick else (1, 2, 3, 5, 8)
    minimums = (0, 10) if quick else (0, 5, 10, 20)
    for warm in warm_ips:
        for minimum in minimums:
            env = {"WARM_IP_TARGET": str(warm)}
            if minimum:
                env["MINIMUM_IP_TARGET"] = str(minimum)
            settings[f"WARM_IP_TARGET={warm},MINIMUM_IP_TARGET={minimum}"] = env
    settings["PD,WARM_PREFIX_TARGET=1"] = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}
    if not quick:
        settings["PD,WARM_IP_TARGET=5"] = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_IP_TARGET": "5"}
    return settings


def measure(scenario: Scenario, name: str, env: dict[str, str], seed: int) -> dict[str, float]:
    variant = scenario.for_run(RunSpec(name=name, ipamd=env))
    summary = ClusterSimulation(variant, seed=seed).run()
    return {
        "idle_ips_mean": float(summary["idle_ips_mean"]),
        "ip_wait_p99": float(summary["ip_wait_seconds"]["p99"]),
        "ec2_mutating_calls": float(summary["ec2_mutating_calls"]),
        "throttled_calls": float(summary["throttled_calls"]),
        "exhaustion_errors": float(sum(summary["errors"].get(code, 0) for code in EXHAUSTION)),
        "pods_never_got_ip": float(summary["pods_never_got_ip"]),
    }


def mean_over(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.fmean(r[key] for r in runs), 3) for key in runs[0]}


def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    return all(a[k] <= b[k] for k in OBJECTIVES) and any(a[k] < b[k] for k in OBJECTIVES)


def pareto(results: dict[str, dict[str, float]], names: list[str]) -> list[str]:
    return [n for n in names if not any(dominates(results[o], results[n]) for o in names if o != n)]


def verdict(results: dict[str, dict[str, float]]) -> dict[str, Any]:
    default, ours = results[DEFAULT], results[ADAPTIVE]
    statics = [n for n in results if n not in (DEFAULT, ADAPTIVE)]
    return {
        "idle_ratio_vs_default": round(ours["idle_ips_mean"] / default["idle_ips_mean"], 3)
        if default["idle_ips_mean"]
        else None,
        "p99_wait_delta_s": round(ours["ip_wait_p99"] - default["ip_wait_p99"], 3),
        "mutating_ratio_vs_default": round(ours["ec2_mutating_calls"] / default["ec2_mutating_calls"], 3)
        if default["ec2_mutating_calls"]
        else None,
        "exhaustion_where_default_has_none": default["exhaustion_errors"] == 0 and ours["exhaustion_errors"] > 0,
        "dominated_by_static": [n for n in statics if dominates(results[n], ours)],
    }


def print_table(trace: str, results: dict[str, dict[str, float]], front: list[str], seconds: float) -> None:
    print(f"\n== {trace}  ({len(results)} settings, {seconds:.1f} s)")
    header = f"{'setting':44} {'idle mean':>9} {'p99 wait':>9} {'EC2 mut':>8} {'thrott':>7} {'exhaust':>8}  front"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        mark = "*" if name in front else ""
        print(
            f"{name:44} {r['idle_ips_mean']:9.1f} {r['ip_wait_p99']:9.2f} {r['ec2_mutating_calls']:8.0f} "
            f"{r['throttled_calls']:7.0f} {r['exhaustion_errors']:8.0f}  {mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed and a small grid")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per setting (default 3, --quick 1)")
    parser.add_argument("--trace", action="append", help="only this trace (file stem); repeatable")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    settings = grid(args.quick)
    paths = sorted(TRACES.glob("*.yaml"))
    if args.trace:
        paths = [p for p in paths if p.stem in args.trace]
    if not paths:
        sys.exit(f"no traces in {TRACES}")
    out: dict[str, Any] = {"verdicts": {}}
    for path in paths:
        scenario = load_scenario(path)
        started = time.perf_counter()
        results = {
            name: mean_over([measure(scenario, name, env, scenario.seed + s) for s in range(seeds)])
            for name, env in settings.items()
        }
        statics = [n for n in results if n != ADAPTIVE]
        front = pareto(results, statics)
        out[path.stem] = results
        out["verdicts"][path.stem] = verdict(results)
        if not args.json:
            print_table(path.stem, results, front, time.perf_counter() - started)
            v = out["verdicts"][path.stem]
            print(
                f"adaptive vs default: idle x{v['idle_ratio_vs_default']}, p99 wait {v['p99_wait_delta_s']:+.2f} s, "
                f"EC2 calls x{v['mutating_ratio_vs_default']}, dominated by: {v['dominated_by_static'] or 'none'}"
            )
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
