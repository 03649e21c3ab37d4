"""`vpccni simulate`: run a cluster scenario file on virtual time and summarise each run."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.log_digest import digested_warnings
from vpccni.cli.output import console, err_console, fail, print_json, writable_file, write_or_fail

if TYPE_CHECKING:  # the simulator is imported when the command runs, not when the CLI starts
    from vpccni.cluster import ClusterSimulation
    from vpccni.cluster.progress import StopRequest

DETAILS = ("nodes", "series")


@app.command("simulate")
def simulate_cmd(
    scenario_file: Annotated[
        Path | None, typer.Argument(help="Scenario YAML, e.g. scenarios/scale-out.yaml.", show_default=False)
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run (a list for several).")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    trail: Annotated[
        Path | None,
        typer.Option(
            "--trail",
            help="Write the CloudTrail log (JSON lines, every call) here; with several runs one file each, "
            "named PATH-RUN.jsonl.",
        ),
    ] = None,
    only: Annotated[str | None, typer.Option("--run", help="Simulate only the run of this name.")] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a field: PATH=VALUE with a dotted path, list items by name "
            "(node_groups.workers.ipamd.WARM_IP_TARGET=2, autoscaler.scan_interval=5); repeatable.",
        ),
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option("--detail", help="With --json, add 'nodes' (each node's final state) or 'series' (samples)."),
    ] = None,
    schema: Annotated[bool, typer.Option("--schema", help="Print the scenario JSON Schema and exit.")] = False,
) -> None:
    """Simulate a whole cluster: node groups, scheduler, cluster autoscaler and one ipamd engine per node,
    over one simulated VPC, then print what happened (pods, nodes, addresses, EC2 calls and errors) and how
    efficiently addresses were used (idle addresses over time, pod IP waits, mutating EC2 calls)."""
    from vpccni.cluster import ClusterSimulation, ScenarioError, load_scenario, run_scenario
    from vpccni.cluster.expect import check, unknown_keys
    from vpccni.cluster.progress import RunProgress, StopRequest
    from vpccni.cluster.schema_doc import scenario_schema

    if schema:
        print_json(scenario_schema())
        return
    if scenario_file is None:
        fail("name a scenario file (or --schema); see 'vpccni simulate --help'")
    details = list(detail or [])
    for name in details:
        if name not in DETAILS:
            fail(f"--detail {name!r}: expected one of {', '.join(DETAILS)}")
    report_path = writable_file(report, "--report") if report is not None else None
    trail_path = writable_file(trail, "--trail") if trail is not None else None
    try:
        scenario = load_scenario(scenario_file, overrides or ())
    except ScenarioError as exc:
        fail(str(exc))
    runs = scenario.run_specs()
    if only is not None:
        runs = [run for run in runs if run.name == only]
        if not runs:
            fail(f"--run {only!r}: {scenario_file} has the runs " + ", ".join(r.name for r in scenario.run_specs()))
    for run in runs:
        if not run.expect:
            continue
        try:  # the summary's shape, from a simulation that has not run: a misspelt key is caught up front
            shape = ClusterSimulation(scenario.for_run(run), seed=seed, trail="none").summary()
        except ScenarioError as exc:
            fail(f"{scenario_file}: {exc}")
        wrong = unknown_keys(run.expect, shape)
        if wrong:
            fail(f"{scenario_file}: run {run.name!r} expects unknown summary keys: {', '.join(wrong)}")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[t]}"), TimeElapsedColumn())
    stop = StopRequest()
    with (
        Progress(*columns, console=err_console, transient=True, disable=as_json) as progress,
        _trail_files(trail_path, [run.name for run in runs]) as trail_files,
        _ctrl_c_stops(stop),
        digested_warnings(lambda line: err_console.print(line, markup=False, highlight=False)),
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
                scenario,
                seed,
                runs=runs,
                progress=advance,
                stop=stop,
                trail="memory" if trail_files is None else "none",
                trail_of=None if trail_files is None else (lambda run: trail_files[run.name]),
            )
        except ScenarioError as exc:
            fail(f"{scenario_file}: {exc}")
    for run, (_, summary) in zip(runs, results, strict=False):
        done = not summary.get("stopped_early")
        summary["expected"] = bool(run.expect) and seed is None
        summary["expectations_unmet"] = check(summary, run.expect) if summary["expected"] and done else []
        for warning in summary["warnings"]:
            err_console.print(f"[yellow]warning:[/] {run.name}: {warning}", highlight=False)
    if report_path is not None:
        from vpccni.report import render_html

        write_or_fail(
            report_path, "--report", lambda p: p.write_text(render_html(scenario.name, results), encoding="utf-8")
        )
    summaries = [_with_details(sim, summary, details) for sim, summary in results]
    if as_json:
        print_json(summaries[0] if len(summaries) == 1 else summaries)
    else:
        _print(summaries)
        if report_path is not None:
            console.print(f"report: {report_path}")
    if stop.requested:
        err_console.print("interrupted: the summary above is of the simulated time before Ctrl-C", highlight=False)
        raise typer.Exit(130)
    if any(s["expectations_unmet"] for s in summaries):
        raise typer.Exit(1)


@contextmanager
def _trail_files(path: Path | None, runs: list[str]) -> Iterator[dict[str, TextIO] | None]:
    """A CloudTrail JSON-lines file per run, open for the run to stream its log into: PATH itself for one
    run, PATH-RUN.jsonl for several (nothing when not asked for)."""
    if path is None:
        yield None
        return
    targets = {run: path if len(runs) == 1 else path.with_name(f"{path.stem}-{run}{path.suffix}") for run in runs}
    with ExitStack() as stack:
        files: dict[str, TextIO] = {}
        for run, target in targets.items():
            try:
                files[run] = stack.enter_context(target.open("w", encoding="utf-8"))
            except OSError as exc:
                fail(f"--trail {target}: {exc.strerror or exc}", code=1)
        yield files


def _with_details(sim: ClusterSimulation, summary: dict[str, Any], details: list[str]) -> dict[str, Any]:
    out = dict(summary)
    if "nodes" in details:
        out["nodes"] = sim.node_details()
    if "series" in details:
        out["series"] = json.loads(json.dumps(sim.samples))
    return out


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
        table.add_column(summary["name"])  # wraps at spaces, never inside a word
    rows = [
        ("virtual time", lambda s: f"{s['virtual_seconds'] / 60:.0f} min"),
        ("nodes final / max", lambda s: f"{s['nodes_final']} / {s['nodes_max']}"),
        ("pods running", lambda s: str(s["pods_running"])),
        ("pods unschedulable", lambda s: str(s["pods_pending_unschedulable"])),
        ("pods waiting for an address", lambda s: str(s["pods_waiting_for_ip"])),
        ("ENIs / secondary IPs / prefixes", lambda s: f"{s['enis']} / {s['secondary_ips']} / {s['prefixes']}"),
        ("addresses assigned / idle", lambda s: f"{s['assigned_ips']} / {s['idle_ips']}"),
        ("idle addresses mean / max", lambda s: f"{s['idle_ips_mean']} / {s['idle_ips_max']}"),
        ("subnet free (lowest)", lambda s: ", ".join(f"{k}: {v}" for k, v in s["subnet_free_min"].items())),
        ("subnet used (highest)", lambda s: ", ".join(f"{k}: {v}" for k, v in s["subnet_used_max"].items())),
        ("EC2 calls", lambda s: str(sum(s["ec2_calls"].values()))),
        ("EC2 calls mutating / throttled", lambda s: f"{s['ec2_mutating_calls']} / {s['throttled_calls']}"),
        ("EC2 errors", lambda s: str(sum(s["errors"].values())) + (" (below)" if s["errors"] else "")),
        ("autoscaler up / down / errors", lambda s: "{scale_ups} / {scale_downs} / {errors}".format(**s["autoscaler"])),
        ("pod start p50 / p99 / max", _starts),
        (
            "pod IP wait p50 / p90 / p99 / max",
            lambda s: "{p50} / {p90} / {p99} / {max} s".format(**s["ip_wait_seconds"]),
        ),
        ("pods never got an address", lambda s: str(s["pods_never_got_ip"])),
        ("what held pods back", lambda s: "; ".join(limit["message"] for limit in s["binding_limits"]) or "nothing"),
    ]
    if any(s["expected"] for s in summaries):
        rows.append(("expected outcome", _expected))
    for label, value in rows:
        table.add_row(label, *(value(s) for s in summaries))
    console.print(table)
    for s in summaries:  # error codes are long single words: on their own lines, never cut
        if s["errors"]:
            codes = ", ".join(f"{code} {count}" for code, count in s["errors"].items())
            console.print(f"EC2 errors in {s['name']}: {codes}", highlight=False)


def _starts(s: dict[str, Any]) -> str:
    text = "{p50} / {p99} / {max} s".format(**s["pod_start_seconds"])
    never = s["pods_never_started"]
    return f"{text} ({never} never started)" if never else text


def _expected(s: dict[str, Any]) -> str:
    if not s["expected"]:
        return "-"
    if s.get("stopped_early"):
        return "not checked: stopped early"
    return "not met: " + "; ".join(s["expectations_unmet"]) if s["expectations_unmet"] else "met"
