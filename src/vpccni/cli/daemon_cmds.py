"""`vpccni ipamd`: run the node daemon (gRPC, fast endpoint, metrics, introspection) until SIGTERM."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from vpccni.cli.app import app
from vpccni.cli.env_settings import parse_env
from vpccni.cli.output import fail


@app.command("ipamd")
def ipamd_cmd(
    cloud: Annotated[
        str, typer.Option("--cloud", help="sim: the daemon's own simulated instance; aws: real EC2.")
    ] = "sim",
    instance_type: Annotated[str, typer.Option("--instance-type", "-t", help="sim: the instance type.")] = "m5.large",
    subnet_cidr: Annotated[str, typer.Option("--subnet-cidr", help="sim: the node's subnet.")] = "10.0.0.0/24",
    subnet_used: Annotated[int, typer.Option("--subnet-used", min=0, help="sim: addresses taken by others.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="sim: seed for ids and addresses.")] = 0,
    no_latency: Annotated[bool, typer.Option("--no-latency", help="sim: EC2 calls answer at once.")] = False,
    sim_latency: Annotated[
        list[str] | None,
        typer.Option(
            "--sim-latency",
            help="sim fault: ACTION=SECONDS added to every call of an EC2 action, e.g. CreateNetworkInterface=3.",
        ),
    ] = None,
    sim_fail: Annotated[
        list[str] | None,
        typer.Option(
            "--sim-fail",
            help="sim fault: ACTION=CODE[:COUNT] — the next COUNT calls (no COUNT: until restart) fail with CODE, "
            "e.g. AssignPrivateIpAddresses=RequestLimitExceeded:20.",
        ),
    ] = None,
    instance_id: Annotated[
        str, typer.Option("--instance-id", help="aws: this node's instance id; default: the metadata service's.")
    ] = "",
    region: Annotated[str, typer.Option("--region", help="aws: the region.")] = "us-west-2",
    endpoint_url: Annotated[str, typer.Option("--endpoint-url", help="aws: another EC2 endpoint (e.g. moto).")] = "",
    imds_endpoint: Annotated[
        str,
        typer.Option(
            "--imds-endpoint",
            help="aws: the instance metadata service (e.g. vpccni cloud serve's /imds/INSTANCE_ID/); "
            "'' derives metadata from EC2 describes.",
        ),
    ] = "http://169.254.169.254/",
    state_dir: Annotated[
        str, typer.Option("--state-dir", help="Checkpoint, sockets, sim account. [default: /var/run/aws-node]")
    ] = "",
    grpc_socket: Annotated[
        str, typer.Option("--grpc-socket", help="gRPC unix socket. [default: STATE/ipamd.sock]")
    ] = "",
    grpc_listen: Annotated[
        str, typer.Option("--grpc-listen", help="Also serve gRPC on this loopback address, e.g. 127.0.0.1:50051.")
    ] = "",
    fast_socket: Annotated[
        str, typer.Option("--fast-socket", help="The plugin's fast endpoint. [default: STATE/vpccni.sock]")
    ] = "",
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", min=-1, max=65535, help="Prometheus /metrics; -1 disables.")
    ] = 61678,
    metrics_address: Annotated[
        str,
        typer.Option(
            "--metrics-address",
            help="Address /metrics listens on; a DaemonSet uses 0.0.0.0 so the API server's pod proxy reaches it.",
        ),
    ] = "127.0.0.1",
    introspection_port: Annotated[
        int, typer.Option("--introspection-port", min=-1, max=65535, help="Introspection HTTP; -1 disables.")
    ] = 61679,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Setting NAME=VALUE, over the process environment.")
    ] = None,
    datapath: Annotated[
        bool,
        typer.Option(
            "--datapath/--no-datapath",
            help="Wire pods for the CNI plugin (veth, routes, rules) in this network namespace; needs root.",
        ),
    ] = False,
) -> None:
    """Run ipamd. Settings come from the reference's environment variables (WARM_ENI_TARGET, WARM_IP_TARGET,
    MINIMUM_IP_TARGET, ENABLE_PREFIX_DELEGATION, ...); logs are JSON lines (AWS_VPC_K8S_CNI_LOGLEVEL,
    AWS_VPC_K8S_CNI_LOG_FILE). Servers bind 127.0.0.1. SIGTERM finishes in-flight requests and exits 0.
    While EC2 is unreachable at start, node init is retried with back-off and health reports NOT_SERVING."""
    from vpccni.daemon import logs, sim_faults
    from vpccni.daemon.cloud_setup import CloudSetupError, SimNodeSpec
    from vpccni.daemon.process import DaemonError, DaemonOptions, Ipamd

    if cloud not in ("sim", "aws"):
        fail(f"--cloud {cloud!r}: expected sim or aws")
    try:
        faults = sim_faults.parse(sim_latency or [], sim_fail or [])
    except sim_faults.FaultSpecError as exc:
        fail(str(exc))
    if cloud != "sim" and (faults.latency or faults.failures):
        fail("--sim-latency and --sim-fail need --cloud sim")
    if grpc_listen:
        host, _, port = grpc_listen.rpartition(":")
        try:
            loopback = ipaddress.ip_address(host.strip("[]")).is_loopback and port.isdigit()
        except ValueError:
            loopback = False
        if not loopback:
            fail(f"--grpc-listen {grpc_listen!r}: expected a loopback HOST:PORT such as 127.0.0.1:50051")
    try:
        ipaddress.ip_address(metrics_address)
    except ValueError:
        fail(f"--metrics-address {metrics_address!r}: expected an IP address such as 127.0.0.1 or 0.0.0.0")
    settings = {**os.environ, **parse_env(env or [])}
    logs.setup(settings.get("AWS_VPC_K8S_CNI_LOGLEVEL", "INFO"), settings.get("AWS_VPC_K8S_CNI_LOG_FILE", "stderr"))
    options = DaemonOptions(
        cloud=cloud,
        sim=SimNodeSpec(instance_type, subnet_cidr, subnet_used, seed, latency=not no_latency, faults=faults),
        instance_id=instance_id,
        region=region,
        endpoint_url=endpoint_url,
        imds_endpoint=imds_endpoint if cloud == "aws" else "",
        state_dir=state_dir,
        grpc_socket=grpc_socket,
        grpc_listen=grpc_listen,
        fast_socket=fast_socket,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        introspection_port=introspection_port,
        datapath=datapath,
        env=settings,
    )
    daemon = Ipamd(options)
    try:
        daemon.start()
    except (DaemonError, CloudSetupError) as exc:
        daemon.shutdown()
        fail(str(exc), code=1)
    except OSError as exc:
        daemon.shutdown()
        fail(f"cannot serve: {exc}", code=1)
    daemon.run_until_signalled()
    if daemon.failure:
        fail(daemon.failure, code=1)
