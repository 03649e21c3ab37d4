"""The typer application; each command module registers itself on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vpccni",
    help="The EKS pod-networking system (AWS VPC CNI): max-pods, a simulated VPC, ipamd and a cluster simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register their commands on `app` when imported.
from vpccni.cli import (  # noqa: E402,F401
    advise_cmds,
    catalog_cmds,
    cloud_cmds,
    cni_cmds,
    daemon_cmds,
    metrics_cmds,
    nodesim_cmds,
    rpc_cmds,
    simulate_cmds,
    trail_cmds,
)
