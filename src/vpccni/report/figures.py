"""One matplotlib figure per question a user asks of a run, returned as PNG bytes.

Reads only what the simulation recorded (samples, autoscaler events); computes nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  - the backend must be chosen first

from vpccni.report import page  # noqa: E402

Samples = Sequence[dict[str, Any]]


def _minutes(samples: Samples) -> list[float]:
    return [s["t"] / 60 for s in samples]


def _events(ax: Any, events: Sequence[dict[str, Any]]) -> None:
    colours = {
        "scale-up": "tab:green",
        "scale-down": "tab:red",
        "error": "tab:orange",
        "outage": "black",
        "backoff": "tab:purple",
    }
    seen = set()
    for event in events:
        kind = str(event["event"])
        if kind not in colours:
            continue
        label = kind if kind not in seen else None
        seen.add(kind)
        ax.axvline(float(event["t"]) / 60, color=colours[kind], alpha=0.35, lw=1, label=label)


def nodes(samples: Samples, events: Sequence[dict[str, Any]]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.step(_minutes(samples), [s["nodes"] for s in samples], where="post", label="nodes")
    ax.step(_minutes(samples), [s["nodes_ready"] for s in samples], where="post", label="ready", ls="--")
    _events(ax, events)
    ax.set(title="Nodes over time (autoscaler events marked)", xlabel="minutes", ylabel="nodes")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def pods(samples: Samples) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3))
    for phase in ("running", "waiting_for_ip", "unschedulable", "pending"):
        ax.plot(_minutes(samples), [s["pods"][phase] for s in samples], label=phase.replace("_", " "))
    ax.set(title="Pods by phase (pending: not yet seen by the scheduler)", xlabel="minutes", ylabel="pods")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def subnets(samples: Samples, sizes: dict[str, int]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3))
    for name in samples[0]["subnet_free"] if samples else []:
        free = [s["subnet_free"][name] for s in samples]
        ax.plot(_minutes(samples), free, label=f"{name} free")
        ax.plot(_minutes(samples), [sizes[name] - f for f in free], ls="--", label=f"{name} used")
    ax.set(title="Subnet addresses", xlabel="minutes", ylabel="addresses")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def idle(samples: Samples) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3))
    names = sorted({n for s in samples for n in s["idle_ips"]})
    for name in names[:20]:
        ax.step(_minutes(samples), [s["idle_ips"].get(name, 0) for s in samples], where="post", label=name)
    ax.set(title="Idle addresses per node (warm pool)", xlabel="minutes", ylabel="addresses")
    if names:
        ax.legend(fontsize=6, loc="upper left", ncol=2)
    return page.png(fig)


def ec2(samples: Samples) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(_minutes(samples), [s["ec2_calls"] for s in samples], label="EC2 calls (cumulative)")
    ax.plot(_minutes(samples), [s["ec2_errors"] for s in samples], label="EC2 errors (cumulative)", color="tab:red")
    ax.set(title="EC2 calls and errors", xlabel="minutes", ylabel="count")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def idle_total(timeline: Sequence[tuple[float, int]], end: float, mean: float) -> bytes:
    """The exact cluster total of idle addresses (every change, not samples) with its time-weighted mean."""
    fig, ax = plt.subplots(figsize=(7, 3))
    times = [t / 60 for t, _ in timeline] + [end / 60]
    values = [v for _, v in timeline] + [timeline[-1][1] if timeline else 0]
    ax.step(times, values, where="post", label="idle addresses, all nodes")
    ax.axhline(mean, color="tab:red", ls="--", lw=1, label=f"time-weighted mean {mean:.1f}")
    ax.set(title="Idle addresses held for pods (cluster total)", xlabel="minutes", ylabel="addresses")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def ip_wait_cdf(waits: Sequence[float], never: int) -> bytes:
    """Share of pods that had their address within x seconds of being bound to a node."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ordered = sorted(waits)
    if ordered:
        share = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.step(ordered, share, where="post", label=f"{len(ordered)} pods")
        ax.set_xscale("symlog", linthresh=1.0)
    title = "Pod IP wait: bound to a node → address (CDF)"
    if never:
        title += f"; {never} pods never got one"
    ax.set(title=title, xlabel="seconds", ylabel="share of pods", ylim=(0, 1.02))
    if ordered:
        ax.legend(fontsize=7, loc="lower right")
    return page.png(fig)


def cluster_metrics(samples: Samples) -> bytes:
    """The CNI metrics helper's dashboard for the run: the cluster's ENIs and addresses, and ipamd errors."""
    rows = [s for s in samples if "cluster_metrics" in s]
    minutes = _minutes(rows)
    fig, (enis, addresses, errors) = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True)

    def series(name: str) -> list[float]:
        return [float(s["cluster_metrics"][name]) for s in rows]

    enis.step(minutes, series("eniMaxAvailable"), where="post", ls="--", label="max ENIs (eniMaxAvailable)")
    enis.step(minutes, series("eniAllocated"), where="post", label="ENIs allocated (eniAllocated)")
    enis.set(title="Cluster metrics (the CNI metrics helper's figures)", ylabel="ENIs")
    addresses.step(minutes, series("totalIPAddresses"), where="post", label="addresses (totalIPAddresses)")
    addresses.step(minutes, series("assignIPAddresses"), where="post", label="assigned to pods (assignIPAddresses)")
    addresses.set(ylabel="addresses")
    errors.bar(minutes, series("ipamdErr"), width=0.8 * (minutes[1] - minutes[0]) if len(minutes) > 1 else 0.5)
    errors.set(ylabel="ipamd errors\nper sample", xlabel="minutes")
    for ax in (enis, addresses):
        ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)
