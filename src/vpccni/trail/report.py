"""`trail analyze --report`: one self-contained HTML page, the trail's story on a timeline.

Addresses and ENIs held per instance, errors and throttles per minute (findings marked where they began),
then the findings, instances and subnets as tables. Figures are matplotlib PNGs embedded as data URIs.
"""

from __future__ import annotations

import html
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  - the backend must be chosen first

from vpccni.report import page  # noqa: E402
from vpccni.trail.analysis import Analysis  # noqa: E402
from vpccni.trail.timeline import PREFIX_SIZE, Timeline  # noqa: E402

MAX_LINES = 20  # instances drawn one by one; more are summed into "others"
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
img{display:block;margin:1em 0;max-width:100%} .critical{color:#b00020;font-weight:bold} .warning{color:#a15c00}
"""


def _mark_findings(ax: Any, analysis: Analysis, start: float) -> None:
    """A line where each kind of finding first began, its kinds written once per moment."""
    colours = {"critical": "tab:red", "warning": "tab:orange"}
    moments: dict[float, list[str]] = {}
    severity: dict[float, str] = {}
    for finding in analysis.findings:
        if finding.at is None or any(finding.kind in kinds for kinds in moments.values()):
            continue
        minute = round((finding.at - start) / 60, 2)
        moments.setdefault(minute, []).append(finding.kind)
        severity.setdefault(minute, finding.severity)
    for minute, kinds in moments.items():
        ax.axvline(minute, color=colours.get(severity[minute], "grey"), alpha=0.5, lw=1)
        ax.annotate(
            ", ".join(kinds),
            (minute, 0.98),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
        )


def held_figure(analysis: Analysis, column: int, title: str, ylabel: str) -> bytes:
    """column 1: ENIs, 2: addresses (secondary addresses plus 16 per prefix)."""
    timeline = analysis.timeline
    start, end = timeline.start or 0.0, timeline.end or 0.0
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ranked = sorted(
        timeline.instances.values(), key=lambda i: (-max((p[2] for p in i.series), default=0), i.instance_id)
    )
    for instance in ranked[:MAX_LINES]:
        if not instance.series:
            continue
        xs = [(p[0] - start) / 60 for p in instance.series] + [(end - start) / 60]
        ys = [_value(p, column) for p in instance.series]
        ax.step(xs, [*ys, ys[-1]], where="post", label=instance.instance_id, lw=1.2)
    if len(ranked) > MAX_LINES:
        ax.plot([], [], " ", label=f"+{len(ranked) - MAX_LINES} more instances")
    _mark_findings(ax, analysis, start)
    ax.set(title=title, xlabel="minutes from the first event", ylabel=ylabel)
    if ranked:
        ax.legend(fontsize=6, loc="upper left", ncol=2)
    return page.png(fig)


def _value(point: tuple[float, int, int, int], column: int) -> int:
    return point[1] if column == 1 else point[2] + PREFIX_SIZE * point[3]


def errors_figure(analysis: Analysis) -> bytes:
    timeline: Timeline = analysis.timeline
    start = timeline.start or 0.0
    first = int(start // 60)
    last = int((timeline.end or start) // 60)
    minutes = list(range(first, last + 1))
    xs = [m - first for m in minutes]
    errors = [timeline.errors_by_minute.get(m, 0) - timeline.throttles_by_minute.get(m, 0) for m in minutes]
    throttles = [timeline.throttles_by_minute.get(m, 0) for m in minutes]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(xs, errors, width=1.0, align="edge", label="errors (not throttling)", color="tab:red")
    ax.bar(xs, throttles, width=1.0, align="edge", bottom=errors, label="throttled", color="tab:purple")
    _mark_findings(ax, analysis, first * 60)
    ax.set(title="Failed EC2 calls per minute", xlabel="minutes from the first event", ylabel="calls")
    ax.legend(fontsize=7, loc="upper left")
    return page.png(fig)


def _table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        cells = [f"<td>{html.escape(str(v))}</td>" for v in row]
        if classes and classes[index]:  # the first cell carries the row's class (the severity)
            cells[0] = f"<td class='{html.escape(classes[index])}'>{html.escape(str(row[0]))}</td>"
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        body.append(f"<tr><td colspan={len(header)}>none</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_report(analysis: Analysis, title: str) -> str:
    data = analysis.to_json()
    findings = data["findings"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{page.SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{data['events']} events read, {data['ec2_events']} EC2 events analysed from "
        f"{html.escape(str(data['time_range']['start']))} to {html.escape(str(data['time_range']['end']))}; "
        f"agents: {html.escape(', '.join(f'{k} {v}' for k, v in data['agents'].items()) or 'none')}.</p>",
        "<h2>Findings</h2>",
        _table(
            ["severity", "kind", "subject", "what happened", "what to look at"],
            [[f["severity"], f["kind"], f["subject"], f["message"], f["advice"]] for f in findings],
            [f["severity"] for f in findings],
        ),
        "<h2>Timeline</h2>",
        page.img(held_figure(analysis, 2, "Addresses held per instance", "addresses"), "addresses held per instance"),
        page.img(held_figure(analysis, 1, "ENIs attached per instance", "ENIs"), "ENIs per instance"),
        page.img(errors_figure(analysis), "errors and throttles per minute"),
        "<h2>Instances</h2>",
        _table(
            [
                "instance",
                "type",
                "ENIs",
                "addresses",
                "prefixes",
                "ENIs +/−",
                "addresses +/−",
                "first seen",
                "last seen",
            ],
            [
                [
                    r["instance_id"],
                    r["instance_type"] or "?",
                    r["enis_end"],
                    r["ips_held_end"],
                    r["prefixes_held_end"],
                    f"{r['enis_created']} / {r['enis_deleted']}",
                    f"{r['ips_assigned']} / {r['ips_unassigned']}",
                    r["first_seen"],
                    r["last_seen"],
                ]
                for r in data["instances"]
            ],
        ),
        "<h2>Subnets</h2>",
        _table(
            ["subnet", "CIDR", "ENIs created", "exhaustion errors", "first exhaustion"],
            [
                [
                    s["subnet_id"],
                    s["cidr"] or "?",
                    s["enis_created"],
                    s["exhaustion_errors"],
                    s["first_exhaustion"] or "—",
                ]
                for s in data["subnets"]
            ],
        ),
        "<h2>Calls by action</h2>",
        _table(
            ["action", "ok", "errors"],
            [
                [name, entry["ok"], ", ".join(f"{c}: {n}" for c, n in entry["errors"].items()) or "—"]
                for name, entry in data["by_action"].items()
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)
