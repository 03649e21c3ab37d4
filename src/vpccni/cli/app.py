"""The typer application; each command module registers itself on it.

The command modules import this one, so it imports none of them: `vpccni.cli` (the package) does, in one
place, which keeps the CLI free of import cycles.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vpccni",
    help="The EKS pod-networking system (AWS VPC CNI): max-pods, a simulated VPC, ipamd and a cluster simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
