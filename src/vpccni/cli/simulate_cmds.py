"""`vpccni simulate`: run a cluster scenario file on virtual time and summarise each run."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, err_console, fail, print_json, writable_file

if TYPE_CHECKING:  # the simulator is imported when the command runs, not when the CLI starts
    from vpccni.cluster.progress import StopRequest


@app.command("simulate")
def simulate_cmd(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML, e.g. scenarios/scale-out.yaml.")],
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run (a list for several).")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    trail: Annotated[Path | None, typer.Option("--trail", help="Write the CloudTrail log (JSON lines) here.")] = None,
    only: Annotated[str | None, typer.Option("--run", help="Simulate only the run of this name.")] = None,
) -> None:
    """Simulate a whole cluster: node groups, scheduler, cluster autoscaler and one ipamd engine per node,
    over one simulated VPC, then print what happened (pods, nodes, addresses, EC2 calls and errors) and how
    efficiently addresses were used (idle addresses over time, pod IP waits, mutating EC2 calls)."""
    from vpccni.cluster import ScenarioError, load_scenario, run_scenario
    from vpccni.cluster.expect import check
    from vpccni.cluster.progress import RunProgress, StopRequest

    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        fail(str(exc))
    runs = scenario.run_specs()
    if only is not None:
        runs = [run for run in runs if run.name == only]
        if not runs:
            fail(f"--run {only!r}: {scenario_file} has the runs " + ", ".join(r.name for r in scenario.run_specs()))
    trail_path = writable_file(trail, "--trail") if trail is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[t]}"), TimeElapsedColumn())
    stop = StopRequest()
    with (
        Progress(*columns, console=err_console, transient=True, disable=as_json) as progress,
        _stream(trail_path) as trail_out,
        _ctrl_c_stops(stop),
    ):
        tasks: dict[str, Any] = {}

        def advance(p: RunProgress) -> None:
            if p.run not in tasks:
                tasks[p.run] = progress.add_task(p.run, total=p.duration, t="")
            shown = (
                f"{p.virtual_seconds / 60:.0f}/{p.duration / 60:.0f} virtual min, {p.events_per_second:,.0f} events/s"
            )
            progress.update(tasks[p.run], completed=p.virtual_seconds, t=shown)

        try:
            results = run_scenario(
                scenario, seed, runs=runs, progress=advance, stop=stop, trail=trail_out if trail_out else "none"
            )
        except ScenarioError as exc:
            fail(f"{scenario_file}: {exc}")
    for run, (_, summary) in zip(runs, results, strict=False):
        done = not summary.get("stopped_early")
        summary["expectations_unmet"] = check(summary, run.expect) if run.expect and seed is None and done else []
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
    if stop.requested:
        err_console.print("interrupted: the summary above is of the simulated time before Ctrl-C", highlight=False)
        raise typer.Exit(130)
    if any(s["expectations_unmet"] for s in summaries):
        raise typer.Exit(1)


@contextmanager
def _stream(path: Path | None) -> Iterator[TextIO | None]:
    """The --trail file, open for the run to stream its log into (nothing when not asked for)."""
    if path is None:
        yield None
        return
    try:
        out = path.open("w", encoding="utf-8")
    except OSError as exc:
        fail(f"--trail {path}: {exc.strerror or exc}", code=1)
    with out:
        yield out


@contextmanager
def _ctrl_c_stops(stop: StopRequest) -> Iterator[None]:
    """The first Ctrl-C ends the run in progress between two events (its summary so far is printed);
    a second one interrupts at once."""

    def first(signum: int, frame: object) -> None:
        stop.request()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        previous = signal.signal(signal.SIGINT, first)
    except ValueError:  # not the main thread (e.g. a test runner's worker): Ctrl-C is not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
        ("expected outcome", _outcome),
    ]
    for label, value in rows:
        table.add_row(label, *(value(s) for s in summaries))
    console.print(table)


def _outcome(summary: dict[str, Any]) -> str:
    if summary.get("stopped_early"):
        return "not checked: stopped early"
    unmet = summary["expectations_unmet"]
    return "not met: " + "; ".join(unmet) if unmet else "met"
