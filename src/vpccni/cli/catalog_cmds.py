"""`vpccni max-pods` and `vpccni instance`: answers from the instance-type catalog."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vpccni import catalog
from vpccni.cli.app import app
from vpccni.cli.output import console, fail, print_json


def _limits_or_fail(name: str) -> catalog.InstanceLimits:
    try:
        return catalog.get(name)
    except catalog.UnknownInstanceType as exc:
        fail(str(exc))


@app.command("max-pods")
def max_pods_cmd(
    instance_types: Annotated[
        list[str] | None, typer.Argument(metavar="TYPE...", help="Instance types, e.g. m5.large c5.xlarge.")
    ] = None,
    prefix_delegation: Annotated[
        bool, typer.Option("--prefix-delegation", help="ENABLE_PREFIX_DELEGATION: /28 prefixes per slot.")
    ] = False,
    custom_networking: Annotated[
        bool,
        typer.Option("--custom-networking", help="AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: primary ENI hosts no pods."),
    ] = False,
    max_eni: Annotated[int | None, typer.Option("--max-eni", help="MAX_ENI: cap the ENIs used.")] = None,
    all_types: Annotated[
        bool,
        typer.Option("--all", help="Every known type as 'TYPE N' lines: the recommended (capped) value."),
    ] = False,
    uncapped: Annotated[
        bool,
        typer.Option(
            "--uncapped",
            help="With --all: the raw formula instead (in the default mode, the reference's eni-max-pods.txt).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """How many pods fit on an instance type: recommended (capped 110/250) and the raw formula."""
    if max_eni is not None and max_eni < 1:
        fail(f"--max-eni must be a positive whole number, got {max_eni}")
    if all_types and instance_types:
        fail("give instance types or --all, not both")
    if uncapped and not all_types:
        fail("--uncapped goes with --all (the table shows both values)")
    if not all_types and not instance_types:
        fail("name at least one instance type (or --all); see 'vpccni max-pods --help'")
    names = catalog.all_types() if all_types else list(instance_types or [])
    results = [
        catalog.max_pods(
            _limits_or_fail(name),
            prefix_delegation=prefix_delegation,
            custom_networking=custom_networking,
            max_eni=max_eni,
        )
        for name in names
    ]
    if as_json:
        print_json([r.to_dict() for r in results])
    elif all_types:
        for r in results:
            print(f"{r.instance_type} {r.max_pods_uncapped if uncapped else r.max_pods}")
    else:
        table = Table(title="max pods per node")
        for column in ("type", "mode", "ENIs", "IPs/ENI", "vCPUs", "max pods", "uncapped"):
            table.add_column(column, justify="left" if column in ("type", "mode") else "right")
        for r in results:
            table.add_row(
                r.instance_type,
                str(r.mode) + (" +custom" if r.custom_networking else ""),
                str(r.enis_used),
                str(r.ips_per_eni),
                "?" if r.vcpus is None else str(r.vcpus),
                f"[bold]{r.max_pods}[/]",
                str(r.max_pods_uncapped),
            )
        console.print(table)
        for r in results:
            if r.note:
                console.print(f"[yellow]note[/] {r.instance_type}: {r.note}", highlight=False)


@app.command("instance")
def instance_cmd(
    instance_type: Annotated[str, typer.Argument(metavar="TYPE", help="Instance type, e.g. m5.large.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every known limit of one instance type."""
    limits = _limits_or_fail(instance_type)
    data = {
        "instance_type": limits.instance_type,
        "max_enis": limits.max_enis,
        "ipv4_per_eni": limits.ipv4_per_eni,
        "default_network_card_index": limits.default_network_card_index,
        "network_cards": limits.network_cards,
        "network_card_max_enis": list(limits.network_card_max_enis),
        "hypervisor": limits.hypervisor or None,
        "bare_metal": limits.bare_metal,
        "supports_prefix_delegation": limits.supports_prefix_delegation,
        "branch_interfaces": limits.branch_interfaces,
        "is_trunking_compatible": limits.is_trunking_compatible,
        "vcpus": limits.vcpus,
        "memory_mib": limits.memory_mib,
        "eni_max_pods": limits.eni_max_pods,
    }
    if as_json:
        print_json(data)
        return
    table = Table(title=limits.instance_type, show_header=False)
    table.add_column("limit")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key != "instance_type":
            table.add_row(key, "-" if value is None else str(value))
    console.print(table)
