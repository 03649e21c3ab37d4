"""The `vpccni` command: one sub-command per user task."""

from __future__ import annotations

from vpccni.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
