"""Shared output helpers: JSON for scripts, clean error exits for people."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
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


def writable_file(path: str | Path, flag: str) -> Path:
    """Check before any work that `path` can be written as a file; a bad path is bad input (exit 2)."""
    target = Path(path)
    if str(path).strip() == "":
        fail(f"{flag}: an empty path")
    if target.is_dir():
        fail(f"{flag} {path}: is a directory; give a file name")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        fail(f"{flag} {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        fail(f"{flag} {path}: not writable")
    return target


def write_or_fail(path: Path, flag: str, write: Callable[[Path], object]) -> None:
    """Write an output file; a failure at that point (disk full, permissions changed) is a runtime error (exit 1)."""
    try:
        write(path)
    except OSError as exc:
        fail(f"{flag} {path}: {exc.strerror or exc}", code=1)
