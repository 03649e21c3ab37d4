"""`vpccni cloud serve`: the simulated VPC as an EC2-compatible HTTP endpoint plus instance metadata."""

from __future__ import annotations

import ipaddress
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, err_console, fail

cloud_app = typer.Typer(
    help="The simulated VPC as a service that real AWS clients (awscli, boto3, SDKs) can call.",
    no_args_is_help=True,
)
app.add_typer(cloud_app, name="cloud")

DEFAULT_SUBNET = "main=10.0.0.0/24"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cloud_app.command("serve")
def serve_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback also needs --allow-remote.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port; 0 picks a free one.")] = 8788,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (no signature is verified!).")
    ] = False,
    state_dir: Annotated[
        str, typer.Option("--state-dir", help="Keep the account here across restarts (reloaded when present).")
    ] = "",
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Take vpc_cidr and subnets: from this scenario YAML.")
    ] = None,
    vpc_cidr: Annotated[str, typer.Option("--vpc-cidr", help="The VPC's CIDR.")] = "10.0.0.0/16",
    subnets: Annotated[
        list[str] | None,
        typer.Option("--subnet", help=f"NAME=CIDR\\[@AZ], repeatable; tagged Name=NAME. \\[default: {DEFAULT_SUBNET}]"),
    ] = None,
    region: Annotated[str, typer.Option("--region", help="The account's region.")] = "us-west-2",
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Seed for ids and addresses (a scenario's own seed with --scenario). \\[default: 0]"
        ),
    ] = None,
    throttling: Annotated[
        bool, typer.Option("--throttling/--no-throttling", help="EC2's per-action token buckets (503 when empty).")
    ] = True,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Answer each call after EC2's measured latency.")
    ] = True,
    trail: Annotated[
        Path | None, typer.Option("--trail", help="Append every call to this file as CloudTrail events (JSON lines).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the endpoint and the account as one JSON line once serving.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request on stderr.")] = False,
) -> None:
    """Serve the simulated VPC with EC2's own wire protocol, so awscli, boto3 or any SDK can use it with an
    endpoint override (aws ec2 ... --endpoint-url http://127.0.0.1:8788). It enforces what moto does not: ENI
    and address limits per instance type, prefixes, subnet exhaustion, throttling (503 RequestLimitExceeded),
    latency and attach/detach delays. Query protocol (form-encoded POST or GET with Action and Version); XML
    answers and errors as EC2 sends them. Requests must carry an AWS Signature V4 Authorization header (or a
    presigned query) whose access key id becomes the caller in the trail; THE SIGNATURE IS NOT VERIFIED, any
    key and secret are accepted. Instance metadata (IMDSv2) of every instance is served under
    /imds/INSTANCE_ID/latest/, lagging EC2 as real metadata does. The VPC comes from --vpc-cidr and --subnet
    or from a scenario's subnets; with --state-dir the account survives restarts."""
    from vpccni.cloud.clock import RealClock
    from vpccni.cloud.server import (
        AccountError,
        AccountLayout,
        AccountOptions,
        CloudServer,
        SubnetLayout,
        TrailWriter,
        open_account,
        parse_subnet_flag,
        summary,
    )

    if not _is_loopback(host) and not allow_remote:
        fail(escape(f"--host {host}: not a loopback address; add --allow-remote to serve others (unauthenticated)"))
    if not _is_loopback(host):
        err_console.print(
            escape(
                f"warning: serving on {host}: signatures are not verified, anyone reaching it can change the account"
            ),
            highlight=False,
        )
    if scenario is not None and subnets:
        fail("--scenario and --subnet both describe the subnets: give one of them")
    if scenario is not None:
        from vpccni.cluster import ScenarioError, load_scenario

        try:
            spec = load_scenario(scenario)
        except ScenarioError as exc:
            fail(escape(str(exc)))
        layout = AccountLayout(
            spec.vpc_cidr, tuple(SubnetLayout(s.name, s.cidr, s.az, s.used_by_others) for s in spec.subnets)
        )
        seed = spec.seed if seed is None else seed
    else:
        try:
            layout = AccountLayout(vpc_cidr, tuple(parse_subnet_flag(s) for s in subnets or [DEFAULT_SUBNET]))
        except ValueError as exc:
            fail(escape(f"--subnet {exc}"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    options = AccountOptions(region=region, seed=seed or 0, throttling=throttling, latency=latency)
    try:
        cloud, restored = open_account(state_dir, RealClock(), options, layout)
    except AccountError as exc:
        fail(escape(str(exc)))
    writer = None
    if trail is not None:
        try:
            writer = TrailWriter(trail)
        except OSError as exc:
            fail(escape(f"--trail {trail}: {exc.strerror}"), code=1)
        cloud.trail.sink = writer.write
    cloud.trail.retain = False  # a long-running server streams its trail instead of keeping it
    try:
        server = CloudServer(cloud, host, port)
    except OSError as exc:
        fail(escape(f"cannot listen on {host}:{port}: {exc.strerror}"), code=1)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stopping.set())
    server.start()
    account = summary(cloud)
    if as_json:
        ready = {"endpoint": server.url, "imds": server.imds_url("INSTANCE_ID"), "restored": restored, **account}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()  # scripts wait for this line before calling
    else:
        _print_ready(server.url, server.imds_url("INSTANCE_ID"), account, restored, state_dir)
    while not stopping.wait(3600):
        pass
    server.stop()
    if writer is not None:
        writer.close()


def _print_ready(url: str, imds: str, account: dict[str, Any], restored: bool, state_dir: str) -> None:
    if restored:
        err_console.print(f"account restored from {state_dir}: --vpc-cidr, --subnet and --scenario are not applied")
    table = Table(title=f"simulated VPC ({account['region']})")
    for column in ("subnet", "id", "vpc", "cidr", "az", "free addresses"):
        table.add_column(column)
    for s in account["subnets"]:
        table.add_row(s["name"], s["subnet_id"], s["vpc_id"], s["cidr"], s["az"], str(s["available"]))
    console.print(table)
    if account["instances"]:
        console.print("instances: " + ", ".join(f"{i['instance_id']} ({i['type']})" for i in account["instances"]))
    console.print(f"EC2 endpoint: {url}    instance metadata: {imds}", highlight=False)
    console.print(f"try: aws ec2 describe-subnets --endpoint-url {url} --region {account['region']}", highlight=False)
