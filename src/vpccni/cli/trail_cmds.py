"""`vpccni trail`: read CloudTrail logs, explain what ipamd did to the VPC, and replay them as a scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, err_console, fail, print_json

trail_app = typer.Typer(
    name="trail",
    help="Read CloudTrail logs (S3 files, lookup-events output, JSON lines): analyse what the CNI did, replay it.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(trail_app, name="trail")

PathsArg = Annotated[
    list[str],
    typer.Argument(
        help="CloudTrail inputs: .json or .json.gz log files, AWSLogs/... directories, lookup-events output, "
        "JSON lines (vpccni's --trail); - reads standard input.",
        show_default=False,
    ),
]
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _time_flag(value: str | None, flag: str) -> float | None:
    from vpccni.trail.normalise import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        fail(f"{flag} {value!r}: not a time; use ISO 8601 UTC, e.g. 2026-01-01T00:05:00Z")


def _analyse(paths: list[str], window: Any, quiet: bool) -> Any:
    """Read and analyse with a progress bar on stderr; bad input exits 2 with one line."""
    from vpccni.trail import TrailReadError, analyse
    from vpccni.trail.readers import expand

    try:
        files = expand(paths)
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} files"))
        with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True, disable=quiet) as progress:
            task = progress.add_task("reading CloudTrail", total=len(files))

            def on_file(path: str) -> None:
                progress.update(task, advance=1, description=f"reading {Path(path).name if path != '-' else 'stdin'}")

            analysis = analyse(paths, window, on_file)
    except TrailReadError as exc:
        fail(str(exc))
    for warning in analysis.stats.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return analysis


@trail_app.command("analyze")
def analyze_cmd(
    paths: PathsArg,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", help="Only calls whose userAgent contains this (e.g. amazon-vpc-cni-k8s), or a family."
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this UTC time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only events at or before this UTC time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML timeline report here.")] = None,
) -> None:
    """Reconstruct ENIs, addresses and prefixes per instance from the trail, attribute calls to agents, and
    diagnose subnet exhaustion, throttling, ENI and address churn, leaked ENIs and warm-pool hoarding."""
    from vpccni.trail import Window

    window = Window(agent, _time_flag(since, "--since"), _time_flag(until, "--until"))
    if window.since is not None and window.until is not None and window.since > window.until:
        fail(f"--since {since} is after --until {until}")
    analysis = _analyse(paths, window, as_json)
    if report is not None:
        from vpccni.trail.report import render_report

        title = "CloudTrail analysis: " + ", ".join(Path(p).name if p != "-" else "stdin" for p in paths)
        try:
            report.write_text(render_report(analysis, title), encoding="utf-8")
        except OSError as exc:
            fail(f"--report {report}: cannot write: {exc.strerror}", 1)
    data = analysis.to_json()
    if as_json:
        print_json(data)
        return
    _print_summary(data)
    if report is not None:
        console.print(f"report: {report}", highlight=False)


def _print_summary(data: dict[str, Any]) -> None:
    span = data["time_range"]
    console.print(
        f"{data['events']} events ({data['ec2_events']} EC2 analysed, {data['non_ec2_skipped']} other services "
        f"skipped, {data['unparsed']} unparsed) from {span['start']} to {span['end']}",
        highlight=False,
    )
    if data["findings"]:
        console.print(f"[bold]findings ({len(data['findings'])})[/]")
        for f in data["findings"]:
            style = _SEVERITY_STYLE.get(f["severity"], "")
            console.print(f"[{style}]{f['severity']}[/] [bold]{f['kind']}[/] {f['subject']}", highlight=False)
            console.print(f"  {f['message']}", highlight=False, soft_wrap=False)
            console.print(f"  [dim]→ {f['advice']}[/]", highlight=False)
    else:
        console.print("findings: none", highlight=False)
    instances = Table(title="instances (at the end of the trail)")
    for column in ("instance", "type", "ENIs", "addresses", "prefixes", "ENIs +/−", "addresses +/−", "last seen"):
        instances.add_column(column, overflow="fold")
    for r in data["instances"]:
        instances.add_row(
            r["instance_id"],
            r["instance_type"] or "?",
            str(r["enis_end"]),
            str(r["ips_held_end"]),
            str(r["prefixes_held_end"]),
            f"{r['enis_created']} / {r['enis_deleted']}",
            f"{r['ips_assigned']} / {r['ips_unassigned']}",
            str(r["last_seen"]),
        )
    console.print(instances)
    subnets = Table(title="subnets")
    for column in ("subnet", "CIDR", "ENIs created", "exhaustion errors", "first exhaustion"):
        subnets.add_column(column)
    for s in data["subnets"]:
        subnets.add_row(
            s["subnet_id"],
            s["cidr"] or "?",
            str(s["enis_created"]),
            str(s["exhaustion_errors"]),
            s["first_exhaustion"] or "—",
        )
    console.print(subnets)
    agents = ", ".join(f"{k}: {v}" for k, v in data["agents"].items()) or "none"
    throttled = ", ".join(f"{k}: {v}" for k, v in data["throttling"].items()) or "none"
    console.print(f"agents: {agents}\nthrottled: {throttled}", highlight=False)


@trail_app.command("replay")
def replay_cmd(
    paths: PathsArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Scenario YAML to write.", show_default=False)],
    instance_type: Annotated[
        str | None,
        typer.Option(
            "--instance-type", help="Node type when the trail has no RunInstances/DescribeInstances response."
        ),
    ] = None,
    subnet_cidr: Annotated[
        list[str] | None,
        typer.Option(
            "--subnet-cidr",
            help="CIDR of a subnet the trail shows none for: CIDR (one subnet) or SUBNET=CIDR, repeatable.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Scenario name (default: from the file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write a cluster scenario that reproduces the trail: subnets and others' usage, node groups with their
    type, launch times and the ipamd settings the allocations imply, and the pod demand over time."""
    from vpccni.trail.replay import ReplayError, ReplayOptions, default_name, parse_subnet_cidr_flags, replay_scenario

    try:
        cidrs, default_cidr = parse_subnet_cidr_flags(subnet_cidr or [])
    except ReplayError as exc:
        fail(str(exc))
    analysis = _analyse(paths, None, as_json)
    options = ReplayOptions(instance_type, cidrs, default_cidr, name or default_name(paths))
    source = ", ".join(Path(p).name if p != "-" else "standard input" for p in paths)
    try:
        text = replay_scenario(analysis, options, source)
    except ReplayError as exc:
        fail(str(exc))
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--output {output}: cannot write: {exc.strerror}", 1)
    kinds = sorted({f.kind for f in analysis.findings})
    if as_json:
        print_json({"output": str(output), "name": options.name, "findings": kinds})
        return
    console.print(
        f"scenario written to {output} (findings in the trail: {', '.join(kinds) or 'none'}); "
        f"run it with `vpccni simulate {output}`",
        highlight=False,
    )
