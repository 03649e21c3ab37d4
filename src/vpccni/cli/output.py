"""Shared output helpers: JSON for scripts, clean error exits for people."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    """Exit with a one-line message on stderr and no traceback (2 = bad input, as in typer/click)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
