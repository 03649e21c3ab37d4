"""The built manifests (`kubectl kustomize deploy/`) and a parser that checks command lines against the
real `vpccni` CLI, so a flag or a value in a manifest that the code does not accept fails a test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tests.daemon.conftest import daemon_factory  # noqa: F401 - a fixture, re-exported for these tests
from vpccni.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def kubectl() -> str | None:
    """kubectl from PATH, else the one `make kubectl` installs into the venv."""
    return shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="session")
def built() -> list[dict[str, Any]]:
    tool = kubectl()
    if tool is None:
        pytest.skip("kubectl is not installed: `make kubectl` installs it")
    result = subprocess.run([tool, "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (match,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return match


def parse_cli(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse a `vpccni ...` command line as the CLI would (types, ranges, choices), without running it.
    Returns the command's name and its parameter values."""
    assert argv[0] == "vpccni", argv
    name, command, rest = _resolve(argv)
    context = command.make_context(name, rest)
    return name, dict(context.params)


def _resolve(argv: list[str]) -> tuple[str, Any, list[str]]:
    """Walk the command groups (typer vendors its own click, so by duck typing) to the leaf command."""
    command: Any = typer.main.get_command(app)
    rest = list(argv[1:])
    name = "vpccni"
    while hasattr(command, "resolve_command"):
        name, command, rest = command.resolve_command(command.context_class(command), rest)
        assert command is not None and name is not None, argv
    return name, command, rest


def defaults(argv_prefix: list[str]) -> dict[str, Any]:
    """The default value of every option of a command, e.g. defaults(["vpccni", "install-cni"])."""
    return parse_cli(argv_prefix)[1]


def envvars(argv_prefix: list[str]) -> set[str]:
    _, command, _ = _resolve(argv_prefix)
    out: set[str] = set()
    for param in command.params:
        names = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
        out.update(n for n in names if n)
    return out


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
