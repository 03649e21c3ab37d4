"""`vpccni node-sim`: one node, virtual time, simulated EC2 — what the node holds and what it cost."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.env_settings import parse_env
from vpccni.cli.output import console, err_console, fail, print_json, writable_file, write_or_fail
from vpccni.nodesim import NodeSimError, NodeSimSpec, NodeSimulation


@app.command("node-sim")
def node_sim_cmd(
    instance_type: Annotated[str, typer.Option("--instance-type", "-t", help="EC2 instance type, e.g. m5.large.")],
    pods: Annotated[int, typer.Option("--pods", min=0, help="Pods added one at a time.")] = 0,
    release: Annotated[int, typer.Option("--release", min=0, help="Pods then released, newest first.")] = 0,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="ipamd setting NAME=VALUE (WARM_IP_TARGET, ENABLE_PREFIX_DELEGATION, ...)."),
    ] = None,
    max_pods: Annotated[
        int | None, typer.Option("--max-pods", min=1, help="kubelet max-pods (default: what max-pods recommends).")
    ] = None,
    subnet_cidr: Annotated[str, typer.Option("--subnet-cidr", help="The node's subnet.")] = "10.0.0.0/24",
    subnet_used: Annotated[int, typer.Option("--subnet-used", min=0, help="Addresses taken by others.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for ids, address choice and jitter.")] = 1,
    trail: Annotated[
        str | None, typer.Option("--trail", help="Write the CloudTrail log (JSON lines, every call) here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")] = False,
) -> None:
    """Simulate one node's ipamd: start it, add and release pods, and show ENIs, idle addresses and EC2 calls.

    max-pods counts the host-network DaemonSet pods (aws-node, kube-proxy), which take no pod address: an
    m5.large's 29 is 27 pod addresses + 2. Pods beyond what the node can hold wait (and are reported)."""
    trail_path = writable_file(trail, "--trail") if trail is not None else None
    spec = NodeSimSpec(
        instance_type=instance_type,
        pods=pods,
        release=release,
        env=parse_env(env or []),
        max_pods=max_pods,
        subnet_cidr=subnet_cidr,
        subnet_used=subnet_used,
        seed=seed,
    )
    try:
        sim = NodeSimulation(spec)
    except NodeSimError as exc:
        fail(str(exc))
    for warning in [*sim.config.warnings, *sim.capacity_warnings()]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if as_json or pods + release < 5:
        result = sim.run()
    else:
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task("starting node", total=pods + release)

            def advance(label: str, done: int, total: int) -> None:
                progress.update(task, description=label, advance=1)

            result = sim.run(advance)
    if trail_path is not None:
        write_or_fail(trail_path, "--trail", sim.cloud.trail.write_jsonl)
    if as_json:
        print_json(result)
    else:
        _show(result, trail)


def _show(r: dict[str, Any], trail: str | None) -> None:
    console.print(
        f"[bold]{r['instance_type']}[/] ({r['mode']}, max-pods {r['max_pods']} = {r['pod_capacity']} pod "
        f"addresses at most + {r['host_network_pods']} host-network pods) "
        f"settings: {', '.join(f'{k}={v}' for k, v in r['settings'].items()) or 'defaults'}",
        highlight=False,
    )
    table = Table(title="ENIs")
    for column in ("device", "ENI", "secondary IPs", "prefixes", "assigned"):
        table.add_column(column, justify="left" if column == "ENI" else "right")
    for e in r["per_eni"]:
        table.add_row(
            str(e["device_index"]), e["eni_id"], str(e["secondary_ips"]), str(e["prefixes"]), str(e["assigned"])
        )
    console.print(table)
    console.print(
        f"pod addresses {r['total_ips']}: {r['assigned_ips']} assigned, {r['unused_ips']} idle · "
        f"pods running {r['pods_running']}, without an address {r['pods_without_ip']}",
        highlight=False,
    )
    calls = ", ".join(f"{k} {v}" for k, v in r["ec2_calls"].items()) or "none"
    console.print(f"EC2 calls: {calls}", highlight=False)
    if r["errors"]:
        console.print("[red]EC2 errors:[/] " + ", ".join(f"{k} {v}" for k, v in r["errors"].items()), highlight=False)
    if r["binding_limit"]:
        console.print(f"[yellow]limit:[/] {r['binding_limit']['message']}", highlight=False)
    state = "steady" if r["converged"] else "[yellow]did not settle (the pool keeps changing)[/]"
    console.print(
        f"{state}: {r['virtual_seconds']:.0f} virtual seconds in all (start, then each pod added or released, "
        "each step run until nothing changed for 130 s)",
        highlight=False,
    )
    if trail:
        console.print(f"CloudTrail log written to {trail}", highlight=False)
