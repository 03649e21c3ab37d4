"""`vpccni install-cni`: put the plugin and the conflist where the container runtime looks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vpccni.cli.app import app
from vpccni.cli.output import console, fail, print_json


@app.command("install-cni")
def install_cni_cmd(
    bin_dir: Annotated[Path, typer.Option("--bin-dir", help="Where the runtime finds plugins.")] = Path("/opt/cni/bin"),
    conf_dir: Annotated[Path, typer.Option("--conf-dir", help="The runtime's conflist directory.")] = Path(
        "/etc/cni/net.d"
    ),
    cni_version: Annotated[
        str, typer.Option("--cni-version", help="0.4.0 (as the reference), 1.0.0 or 1.1.0.")
    ] = "0.4.0",
    daemon_socket: Annotated[
        str, typer.Option("--daemon-socket", help="ipamd's fast endpoint, baked into the plugin.")
    ] = "/var/run/aws-node/vpccni.sock",
    python: Annotated[str | None, typer.Option("--python", help="Interpreter for the plugin's shebang.")] = None,
    mtu: Annotated[int, typer.Option("--mtu", help="Pod MTU.")] = 9001,
    veth_prefix: Annotated[str, typer.Option("--veth-prefix", help="Host veth prefix (≤ 4 characters).")] = "eni",
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Install the plugin as aws-cni and vpccni (stdlib-only, started with -IS) and write 10-aws.conflist;
    egress-cni and portmap entries are included only if those plugins are in the bin dir."""
    from vpccni.cni.install import install

    try:
        result = install(
            bin_dir,
            conf_dir,
            cni_version=cni_version,
            socket_path=daemon_socket,
            interpreter=python,
            mtu=mtu,
            veth_prefix=veth_prefix,
        )
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result.__dict__)
        return
    for path in result.plugins:
        console.print(f"plugin   {path}")
    console.print(f"conflist {result.conflist} (plugins: {', '.join(result.included)})")
    for name in result.left_out:
        console.print(f"left out {name}: no such plugin in {bin_dir}")
