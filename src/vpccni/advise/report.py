"""The advise report: one self-contained HTML page (figures as base64 PNG, nothing to fetch).

Per node group the Pareto scatter (idle addresses against p99 wait, colour = EC2 mutating calls, the
default and the recommendation marked, infeasible candidates greyed), then subnet use over time under
the default and the recommended settings, the forecast table and the snippets to apply.
"""

from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  - the backend must be chosen first

from vpccni.advise.advisor import Advice, GroupAdvice  # noqa: E402
from vpccni.advise.wording import dry_sentence, lift  # noqa: E402
from vpccni.report import page  # noqa: E402

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
img{display:block;margin:1em 0;max-width:100%} pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
.ok{color:#1a7f37} .bad{color:#b42318}
"""


def pareto_scatter(group: GroupAdvice, pick_label: str, max_wait: float) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.axhline(max_wait, color="tab:orange", lw=1, alpha=0.7, label=f"--max-wait {max_wait:g} s")
    feasible = [(c, e) for c, e in group.scored if e.feasible]
    infeasible = [(c, e) for c, e in group.scored if not e.feasible]
    if infeasible:
        ax.scatter(
            [e.objectives[0] for _, e in infeasible],
            [e.objectives[1] for _, e in infeasible],
            marker="x",
            color="0.6",
            label="breaks a constraint",
        )
    if feasible:
        points = ax.scatter(
            [e.objectives[0] for _, e in feasible],
            [e.objectives[1] for _, e in feasible],
            c=[e.objectives[2] for _, e in feasible],
            cmap="viridis",
            s=50,
            label="feasible",
        )
        fig.colorbar(points, ax=ax, label="EC2 mutating calls")
    front = sorted(group.front, key=lambda s: s[1].objectives[0])
    if front:
        ax.plot(
            [e.objectives[0] for _, e in front],
            [e.objectives[1] for _, e in front],
            color="tab:red",
            lw=1,
            ls="--",
            label="Pareto front",
        )
    for candidate, evaluation in group.scored:
        if candidate.is_default:
            ax.scatter(*evaluation.objectives[:2], marker="s", s=140, facecolors="none", edgecolors="black", lw=1.5)
            ax.annotate("default", evaluation.objectives[:2], textcoords="offset points", xytext=(8, 6), fontsize=8)
        if candidate.label == pick_label:
            ax.scatter(*evaluation.objectives[:2], marker="*", s=260, color="tab:red", zorder=5, label="recommended")
    ax.set(
        title=f"{group.name}: idle addresses vs p99 wait for an address",
        xlabel="idle addresses (time-weighted mean, cluster)",
        ylabel="p99 wait for an address (s)",
    )
    ax.legend(fontsize=7, loc="upper right")
    return page.png(fig)


def subnet_use(advice: Advice) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    styles = {"default": "--", "recommended": "-"}
    for which, series in advice.series.items():
        minutes = [t / 60 for t in series["t"]]
        for subnet, used in series["subnet_used"].items():
            ax.step(minutes, used, where="post", ls=styles.get(which, "-"), label=f"{subnet} ({which})")
    for forecast in advice.forecast.values():
        ax.axhline(forecast.capacity, color="black", lw=0.8, alpha=0.5)
        ax.annotate(
            f"{forecast.name} capacity", (0, forecast.capacity), fontsize=7, xytext=(2, 2), textcoords="offset points"
        )
    ax.set(title="Subnet addresses in use (others' included)", xlabel="minutes", ylabel="addresses")
    ax.legend(fontsize=7, loc="lower right")
    return page.png(fig)


def _settings(env: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items()) or "default"


def _candidates_table(group: GroupAdvice, pick_label: str) -> str:
    front = {c for c, _ in group.front}
    rows = []
    for candidate, evaluation in group.scored:
        idle, wait, calls = evaluation.objectives
        mark = "recommended" if candidate.label == pick_label else ("front" if candidate in front else "")
        broken = ", ".join(evaluation.violations) or "none"
        rows.append(
            f"<tr><td>{mark}</td><td>{html.escape(candidate.label)}</td><td>{idle:.1f}</td><td>{wait:.1f}</td>"
            f"<td>{calls:.0f}</td><td>{html.escape(broken)}</td></tr>"
        )
    head = (
        "<tr><th></th><th>settings</th><th>idle IPs</th><th>p99 wait (s)</th><th>EC2 mutating</th><th>broken</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _forecast_table(advice: Advice) -> str:
    rows = []
    for f in advice.forecast.values():
        rows.append(
            f"<tr><td>{html.escape(f.name)}</td><td>{f.capacity}</td><td>{f.peak_used_default}</td>"
            f"<td>{f.peak_used_recommended}</td><td>{f.headroom_default}</td><td>{f.headroom_recommended}</td>"
            f"<td>{_multiple(f.dry_default.multiple)}</td><td>{_multiple(f.dry_recommended.multiple)}</td>"
            f"<td>/{f.prefix_length_for_growth}</td></tr>"
        )
    head = (
        "<tr><th>subnet</th><th>capacity</th><th>peak used (default)</th><th>peak used (recommended)</th>"
        "<th>headroom (default)</th><th>headroom (recommended)</th><th>runs dry at (default)</th>"
        f"<th>runs dry at (recommended)</th><th>prefix for {advice.options.growth:g}× peak</th></tr>"
    )
    sentences = "".join(
        "<li>" + html.escape(dry_sentence(f.name, f.dry_recommended)) + " with the recommended settings</li>"
        for f in advice.forecast.values()
    )
    return f"<table>{head}{''.join(rows)}</table><ul>{sentences}</ul>"


def _multiple(value: float | None) -> str:
    return "—" if value is None else f"{value:g}×"


def render_report(advice: Advice) -> str:
    picks = advice.picks
    nitro = all(g.supports_prefix_delegation for g in advice.groups.values())
    smallest = min((f.prefix_length_for_growth for f in advice.forecast.values()), default=None)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>vpccni advise: {html.escape(advice.scenario)}</title><style>{STYLE}</style>",
        f"<script>{page.SCRIPT}</script></head><body>",
        f"<h1>vpccni advise: {html.escape(advice.scenario)}</h1>",
        f"<p>{advice.runs} runs simulated, {advice.cached} from the cache; seeds {', '.join(map(str, advice.seeds))}; "
        f"constraints: no exhaustion errors, no throttling, every pod gets an address, p99 wait ≤ "
        f"{advice.options.max_wait:g} s, on every seed.</p>",
    ]
    if advice.feasible:
        settings = "; ".join(f"{g}: {c.label}" for g, c in picks.items())
        parts.append(f"<p class='ok'><b>Recommended</b> {html.escape(settings)}. ")
        parts.append(f"Versus the default: {html.escape(advice.comparison())}.</p>")
    else:
        for name in advice.groups:
            binding = advice.binding_constraint(name)
            if binding is not None:
                reason = lift(binding, advice.options.max_wait, smallest, nitro)
                parts.append(
                    f"<p class='bad'><b>No setting for {html.escape(name)} meets every constraint</b>; "
                    f"binding: {html.escape(binding)}: {html.escape(reason)}.</p>"
                )
    if advice.single is not None:
        cost = html.escape(advice.single_cost() or "")
        parts.append(f"<p>Groups differ; one setting for all: {html.escape(advice.single[0].label)} ({cost}).</p>")
    for name, group in advice.groups.items():
        label = picks[name].label
        parts.append(f"<h2>Node group {html.escape(name)} ({html.escape(group.instance_type)})</h2>")
        parts.append(page.img(pareto_scatter(group, label, advice.options.max_wait), f"Pareto scatter for {name}"))
        parts.append(_candidates_table(group, label))
    parts.append("<h2>Subnets</h2>")
    parts.append(page.img(subnet_use(advice), "subnet addresses in use, default vs recommended"))
    parts.append(_forecast_table(advice))
    parts.append("<h2>Apply</h2>")
    titles = {
        "kubectl": "kubectl",
        "daemonset_patch": "DaemonSet patch",
        "helm_values": "Helm values",
        "eks_addon": "EKS add-on configuration_values",
    }
    for key, title in titles.items():
        parts.append(f"<h3>{title}</h3><pre>{html.escape(advice.apply[key])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
