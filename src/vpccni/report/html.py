"""A self-contained HTML report: figures embedded as data URIs, the summary table, autoscaler events."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from vpccni.report import figures, page

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
img{display:block;margin:1em 0;max-width:100%} .events{max-height:16em;overflow:auto}
"""


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return html.escape(", ".join(f"{k}: {v}" for k, v in value.items()) or "—")
    return html.escape(str(value))


def _summary_table(summaries: Sequence[dict[str, Any]]) -> str:
    keys = [k for k in summaries[0] if k not in ("events", "node_steps")]
    head = "".join(f"<th>{html.escape(s['name'])}</th>" for s in summaries)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>" + "".join(f"<td>{_cell(s.get(k))}</td>" for s in summaries) + "</tr>"
        for k in keys
    )
    return f"<table><tr><th>summary</th>{head}</tr>{rows}</table>"


def render_html(title: str, runs: Sequence[tuple[Any, dict[str, Any]]]) -> str:
    """`runs`: (ClusterSimulation, summary) pairs, as `vpccni.cluster.run_scenario` returns them."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{page.SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _summary_table([summary for _, summary in runs]),
    ]
    for sim, summary in runs:
        samples, events = sim.samples, sim.autoscaler.log.events
        parts.append(f"<h2>Run: {html.escape(summary['name'])}</h2>")
        parts.append(page.img(figures.nodes(samples, events), "nodes over time"))
        parts.append(page.img(figures.pods(samples), "pods by phase over time"))
        parts.append(page.img(figures.subnets(samples, sim.subnet_sizes), "subnet addresses used and free"))
        parts.append(page.img(figures.idle(samples), "idle addresses per node"))
        idle = sim.idle
        parts.append(
            page.img(
                figures.idle_total(idle.timeline, summary["virtual_seconds"], summary["idle_ips_mean"]),
                "idle addresses, cluster total over time",
            )
        )
        parts.append(
            page.img(figures.ip_wait_cdf(sim.ip_waits.waits, summary["pods_never_got_ip"]), "pod IP wait distribution")
        )
        parts.append(page.img(figures.ec2(samples), "EC2 calls and errors over time"))
        parts.append(page.img(figures.cluster_metrics(samples), "cluster metrics: ENIs, addresses, ipamd errors"))
        rows = "".join(
            f"<tr><td>{e['t']}</td><td>{html.escape(str(e['event']))}</td>"
            f"<td>{html.escape(json.dumps({k: v for k, v in e.items() if k not in ('t', 'event')}))}</td></tr>"
            for e in events
        )
        parts.append(
            "<h3>Autoscaler events</h3><div class='events'><table><tr><th>t (s)</th><th>event</th><th>details</th>"
            f"</tr>{rows or '<tr><td colspan=3>none</td></tr>'}</table></div>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
