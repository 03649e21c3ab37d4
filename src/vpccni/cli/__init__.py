"""The `vpccni` command: one sub-command per user task.

Every command module is imported here, once: importing it registers its commands on `app`. A new command
module is added to this import line (not to app.py, which the command modules themselves import).
"""

from __future__ import annotations

from vpccni.cli import (  # noqa: F401  (imported for their commands)
    catalog_cmds,
    cni_cmds,
    daemon_cmds,
    nodesim_cmds,
    rpc_cmds,
    simulate_cmds,
    trail_cmds,
)
from vpccni.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
