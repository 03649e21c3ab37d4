"""`vpccni advise`: which warm-pool settings, and will the subnets run dry — a simulated sweep on Dask."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, err_console, fail, print_json, writable_file, write_or_fail


class _Bar:
    """The rich progress bar over runs; the total grows as each stage of the sweep is planned."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("runs", total=0)

    def planned(self, runs: int) -> None:
        total = self.progress.tasks[0].total or 0
        self.progress.update(self.task, total=total + runs)

    def finished(self, runs: int) -> None:
        self.progress.advance(self.task, runs)


@app.command("advise")
def advise_cmd(
    scenario_file: Annotated[
        Path, typer.Argument(help="Scenario YAML describing your cluster (its runs: are ignored).")
    ],
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds per candidate (the scenario's seed and the next ones).")
    ] = 3,
    max_wait: Annotated[
        float, typer.Option("--max-wait", help="Constraint: p99 seconds a pod waits for its address.")
    ] = 5.0,
    growth: Annotated[
        float, typer.Option("--growth", help="Forecast: the subnet prefix that holds this multiple of today's peak.")
    ] = 2.0,
    space: Annotated[
        Path | None,
        typer.Option("--space", help="YAML search space (candidates:, grid:, node_groups:) to replace the grid."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Local Dask worker processes (default: the core count).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers need vpccni)."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", help="Cache of finished runs (default $VPCCNI_CACHE_DIR or ~/.cache/vpccni/advise)."
        ),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Simulate every run; read and write no cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON for scripts.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
) -> None:
    """Simulate your cluster under many warm-pool settings (WARM_ENI_TARGET, WARM_IP_TARGET × MINIMUM_IP_TARGET,
    prefix delegation, the adaptive policy), keep the Pareto front of idle addresses, p99 wait for an address
    and EC2 calls among the settings that exhaust nothing, recommend one, forecast each subnet (when it runs
    dry, which prefix holds --growth × today's peak) and print how to apply it."""
    from vpccni.advise import (
        AdviseOptions,
        RunCache,
        SchedulerUnreachable,
        SpaceError,
        SweepRunner,
        advise,
        check_buildable,
        load_space,
    )
    from vpccni.advise.cache import ENV_VAR, default_dir, usable_dir
    from vpccni.cluster import ScenarioError, load_scenario

    if seeds < 1:
        fail(f"--seeds must be at least 1, got {seeds}")
    if max_wait <= 0:
        fail(f"--max-wait must be a positive number of seconds, got {max_wait:g}")
    if growth < 1:
        fail(f"--growth must be at least 1 (a multiple of today's peak), got {growth:g}")
    if workers is not None and workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    if workers is not None and scheduler is not None:
        fail("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if report is not None:
        report = writable_file(report, "--report")
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        fail(str(exc))
    try:
        candidates = load_space(space, scenario.node_groups) if space is not None else None
        check_buildable(scenario)
    except SpaceError as exc:
        fail(str(exc))
    except ScenarioError as exc:
        fail(f"{scenario_file}: {exc}")
    options = AdviseOptions(seeds=seeds, max_wait=max_wait, growth=growth, space=candidates)
    directory = None if no_cache else (cache_dir or default_dir())
    if directory is not None:
        problem = usable_dir(directory)
        if problem is not None:
            source = "--cache-dir" if cache_dir is not None else f"the cache directory (${ENV_VAR} or the default)"
            fail(f"{source} {directory}: {problem}")
    cache = RunCache(directory)
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err_console, transient=True, disable=as_json) as progress:
            runner = SweepRunner(cache, workers=workers or os.cpu_count() or 1, scheduler=scheduler)
            runner.progress = _Bar(progress)
            with runner:
                advice = advise(scenario, options, runner)
    except SchedulerUnreachable as exc:
        fail(str(exc), code=1)
    except ScenarioError as exc:
        fail(f"{scenario_file}: {exc}")
    except KeyboardInterrupt:
        err_console.print("cancelled: the runs that finished are cached; nothing else was written")
        raise typer.Exit(130) from None
    if report is not None:
        from vpccni.advise.report import render_report
        from vpccni.fileio import atomic_write

        page = render_report(advice).encode()
        write_or_fail(report, "--report", lambda path: atomic_write(str(path), page))
    if as_json:
        print_json(advice.to_json())
        return
    _print(advice)
    if report is not None:
        console.print(f"report: {report}")


def _print(advice: Any) -> None:
    from vpccni.advise.wording import SHORT, dry_sentence, lift

    console.print(
        f"[bold]vpccni advise[/] {advice.scenario}: {advice.runs} runs simulated, {advice.cached} from the cache "
        f"(seeds {', '.join(map(str, advice.seeds))}; p99 wait ≤ {advice.options.max_wait:g} s)",
        highlight=False,
    )
    picks = advice.picks
    for name, group in advice.groups.items():
        front = [c for c, _ in group.front]
        shown = [(c, e) for c, e in group.scored if c.is_default or c in front or c == picks[name]]
        table = Table(title=f"node group {name} ({group.instance_type}, ~{group.pods_per_node} pods per node)")
        table.add_column("")
        table.add_column("settings", overflow="fold", ratio=3)
        for column in ("idle IPs", "p99 wait s", "EC2 calls"):
            table.add_column(column, justify="right")
        table.add_column("broken", overflow="fold", ratio=2)
        for candidate, evaluation in shown:
            mark = "→" if candidate == picks[name] else ("★" if candidate in front else "")
            idle, wait, calls = evaluation.objectives
            broken = ", ".join(SHORT[v] for v in evaluation.violations) or "none"
            table.add_row(mark, candidate.label, f"{idle:.1f}", f"{wait:.1f}", f"{calls:.0f}", broken)
        console.print(table)
        others = len(group.scored) - len(shown)
        infeasible = sum(1 for c, e in group.scored if not e.feasible and (c, e) not in shown)
        console.print(
            f"  → recommended  ★ Pareto front; {others} more candidates not shown "
            f"({infeasible} break a constraint, {others - infeasible} dominated: all in --report)",
            style="dim",
            highlight=False,
        )
    nitro = all(g.supports_prefix_delegation for g in advice.groups.values())
    smallest_prefix = min((f.prefix_length_for_growth for f in advice.forecast.values()), default=None)
    if advice.feasible:
        settings = "; ".join(f"{g}: {c.label}" for g, c in picks.items())
        console.print(f"[bold green]recommended[/] {settings}", highlight=False)
        console.print(f"  versus the default: {advice.comparison()}", highlight=False)
    else:
        for name in advice.groups:
            binding = advice.binding_constraint(name)
            if binding is not None:
                console.print(
                    f"[bold red]no setting for {name} meets every constraint[/]; binding: {binding}: "
                    f"{lift(binding, advice.options.max_wait, smallest_prefix, nitro)}",
                    highlight=False,
                )
        console.print(f"  closest: {'; '.join(f'{g}: {c.label}' for g, c in picks.items())}", highlight=False)
    if advice.single is not None:
        console.print(
            f"  groups differ; one setting for all: {advice.single[0].label} "
            f"(versus per-group settings: {advice.single_cost()})",
            highlight=False,
        )
    table = Table(title="subnet forecast (addresses, others' included)")
    for column in ("subnet", "capacity", "peak default", "peak recommended", "headroom", "dry at (default / rec.)"):
        table.add_column(column, justify="left" if column == "subnet" else "right")
    table.add_column(f"prefix for {advice.options.growth:g}× peak", justify="right")
    for f in advice.forecast.values():
        table.add_row(
            f.name,
            str(f.capacity),
            str(f.peak_used_default),
            str(f.peak_used_recommended),
            str(f.headroom_recommended),
            f"{_multiple(f.dry_default.multiple)} / {_multiple(f.dry_recommended.multiple)}",
            f"/{f.prefix_length_for_growth}",
        )
    console.print(table)
    for f in advice.forecast.values():
        console.print(
            "  " + dry_sentence(f.name, f.dry_recommended) + " with the recommended settings",
            highlight=False,
        )
    console.print("[bold]apply[/] (DaemonSet patch and Helm values: --json or --report)")
    console.print(advice.apply["kubectl"], highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"# EKS add-on: aws eks update-addon --cluster-name CLUSTER --addon-name vpc-cni "
        f"--configuration-values '{advice.apply['eks_addon']}'",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _multiple(value: float | None) -> str:
    return "—" if value is None else f"{value:g}×"
