"""`vpccni simulate`: run a cluster scenario file on virtual time and summarise each run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, err_console, fail, print_json


@app.command("simulate")
def simulate_cmd(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML, e.g. scenarios/scale-out.yaml.")],
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run (a list for several).")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    trail: Annotated[Path | None, typer.Option("--trail", help="Write the CloudTrail log (JSON lines) here.")] = None,
) -> None:
    """Simulate a whole cluster: node groups, scheduler, cluster autoscaler and one ipamd engine per node,
    over one simulated VPC, then print what happened (pods, nodes, addresses, EC2 calls and errors) and how
    efficiently addresses were used (idle addresses over time, pod IP waits, mutating EC2 calls)."""
    from vpccni.cluster import ClusterSimulation, ScenarioError, load_scenario
    from vpccni.cluster.expect import check

    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        fail(str(exc))
    results: list[tuple[ClusterSimulation, dict[str, Any]]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[t]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=as_json) as progress:
        for run in scenario.run_specs():
            variant = scenario.for_run(run)
            task = progress.add_task(run.name, total=variant.duration, t="")

            def advance(t: float, task: Any = task, end: float = variant.duration) -> None:
                progress.update(task, completed=t, t=f"{t / 60:.0f}/{end / 60:.0f} virtual min")

            try:
                sim = ClusterSimulation(variant, seed=seed, progress=advance)
            except ScenarioError as exc:
                fail(f"{scenario_file}: {exc}")
            summary = sim.run()
            summary["expectations_unmet"] = check(summary, run.expect) if run.expect and seed is None else []
            results.append((sim, summary))
    if trail is not None:
        results[-1][0].cloud.trail.write_jsonl(str(trail))
    if report is not None:
        from vpccni.report import render_html

        report.write_text(render_html(scenario.name, results), encoding="utf-8")
    summaries = [summary for _, summary in results]
    if as_json:
        print_json(summaries[0] if len(summaries) == 1 else summaries)
    else:
        _print(summaries)
        if report is not None:
            console.print(f"report: {report}")
    if any(s["expectations_unmet"] for s in summaries):
        raise typer.Exit(1)


def _print(summaries: list[dict[str, Any]]) -> None:
    table = Table(title="cluster simulation", show_lines=False)
    table.add_column("")
    for summary in summaries:
        table.add_column(summary["name"], overflow="fold")
    rows = [
        ("virtual time", lambda s: f"{s['virtual_seconds'] / 60:.0f} min"),
        ("nodes final / max", lambda s: f"{s['nodes_final']} / {s['nodes_max']}"),
        ("pods running", lambda s: str(s["pods_running"])),
        ("pods unschedulable", lambda s: str(s["pods_pending_unschedulable"])),
        ("pods waiting for an address", lambda s: str(s["pods_waiting_for_ip"])),
        ("ENIs / secondary IPs / prefixes", lambda s: f"{s['enis']} / {s['secondary_ips']} / {s['prefixes']}"),
        ("addresses assigned / idle", lambda s: f"{s['assigned_ips']} / {s['idle_ips']}"),
        ("subnet free (lowest)", lambda s: ", ".join(f"{k}: {v}" for k, v in s["subnet_free_min"].items())),
        ("EC2 calls", lambda s: str(sum(s["ec2_calls"].values()))),
        ("EC2 errors", lambda s: ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "none"),
        ("autoscaler up / down / errors", lambda s: "{scale_ups} / {scale_downs} / {errors}".format(**s["autoscaler"])),
        ("pod start p50 / p99 / max", lambda s: "{p50} / {p99} / {max} s".format(**s["pod_start_seconds"])),
        ("pods created / deleted", lambda s: f"{s['pods_created']} / {s['pods_deleted']}"),
        ("idle addresses mean / max", lambda s: f"{s['idle_ips_mean']:.1f} / {s['idle_ips_max']}"),
        (
            "IP wait p50 / p90 / p99 / max",
            lambda s: "{p50} / {p90} / {p99} / {max} s".format(**s["ip_wait_seconds"]),
        ),
        ("pods that never got an address", lambda s: str(s["pods_never_got_ip"])),
        ("EC2 mutating calls / throttled", lambda s: f"{s['ec2_mutating_calls']} / {s['throttled_calls']}"),
        ("subnet used (highest)", lambda s: ", ".join(f"{k}: {v}" for k, v in s["subnet_used_max"].items())),
        ("autoscaler back-offs", lambda s: str(s["autoscaler_backoffs"])),
        (
            "expected outcome",
            lambda s: "not met: " + "; ".join(s["expectations_unmet"]) if s["expectations_unmet"] else "met",
        ),
    ]
    for label, value in rows:
        table.add_row(label, *(value(s) for s in summaries))
    console.print(table)
