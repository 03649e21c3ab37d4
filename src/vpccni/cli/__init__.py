"""The `vpccni` command: one sub-command per user task.

Every command module is imported here, once: importing it registers its commands on `app`. A new command
module is added to this import line (not to app.py, which the command modules themselves import).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from vpccni.cli import (  # noqa: F401  (imported for their commands)
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
from vpccni.cli.app import app


def _is_click_error(exc: BaseException, name: str = "ClickException") -> bool:
    """Typer may bundle its own copy of click: recognise its exceptions by class name, whichever copy it is."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command; a bad flag or value is one line on stderr and exit 2 (click's usage box otherwise
    takes several lines and frames the message)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="vpccni", standalone_mode=False)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if _is_click_error(exc, "Abort"):
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        if _is_click_error(exc, "NoArgsIsHelpError"):
            sys.exit(0)  # typer has printed the help already
        if not _is_click_error(exc):
            raise
        message = exc.format_message()  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if _is_click_error(exc, "UsageError") and ctx else ""
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
