"""Every command with a table of bad values for its options: exit 1 or 2, never a traceback, one line saying
what was wrong. A new command must get rows here (the last test lists the commands without any)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from vpccni.cli import app, main

ROOT = Path(__file__).parents[2]
SCENARIO = str(ROOT / "scenarios" / "two-nodes-100-pods.yaml")
MISSING = "/nonexistent/dir/file"
DIR = "DIR"  # replaced by a real directory where a file is expected

CASES: list[tuple[str, list[str]]] = [
    ("max-pods", ["max-pods", "m5.large", "--max-eni", "0"]),
    ("max-pods", ["max-pods", "m5.large", "--max-eni", "abc"]),
    ("max-pods", ["max-pods", "nope.large"]),
    ("max-pods", ["max-pods", "m5.large", "--uncapped"]),
    ("max-pods", ["max-pods"]),
    ("instance", ["instance", "nope.large"]),
    ("instance", ["instance", ""]),
    ("node-sim", ["node-sim", "-t", "nope.large"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--pods", "-1"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--pods", "abc"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--release", "5"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--max-pods", "0"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--subnet-cidr", "10.0.0.0/33"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--subnet-cidr", ""]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--subnet-used", "-1"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--subnet-used", "99999"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--trail", MISSING]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--trail", DIR]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--trail", ""]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--env", "NOEQUALS"]),
    ("node-sim", ["node-sim", "-t", "m5.large", "--seed", "abc"]),
    ("simulate", ["simulate", MISSING]),
    ("simulate", ["simulate", DIR]),
    ("simulate", ["simulate", ""]),
    ("simulate", ["simulate", SCENARIO, "--seed", "abc"]),
    ("simulate", ["simulate", SCENARIO, "--report", MISSING]),
    ("simulate", ["simulate", SCENARIO, "--report", DIR]),
    ("simulate", ["simulate", SCENARIO, "--trail", DIR]),
    ("simulate", ["simulate", SCENARIO, "--trail", ""]),
    ("simulate", ["simulate", SCENARIO, "--run", "nope"]),
    ("simulate", ["simulate", SCENARIO, "--set", "nodes.x=1"]),
    ("simulate", ["simulate", SCENARIO, "--set", "novalue"]),
    ("simulate", ["simulate", SCENARIO, "--detail", "all"]),
    ("advise", ["advise", MISSING]),
    ("advise", ["advise", SCENARIO, "--seeds", "0"]),
    ("advise", ["advise", SCENARIO, "--max-wait", "-1"]),
    ("advise", ["advise", SCENARIO, "--workers", "0"]),
    ("advise", ["advise", SCENARIO, "--growth", "0"]),
    ("advise", ["advise", SCENARIO, "--space", MISSING]),
    ("advise", ["advise", SCENARIO, "--space", DIR]),
    ("advise", ["advise", SCENARIO, "--report", MISSING]),
    ("advise", ["advise", SCENARIO, "--cache-dir", MISSING + "/\0"]),
    ("trail analyze", ["trail", "analyze", MISSING]),
    ("trail analyze", ["trail", "analyze", SCENARIO]),
    ("trail analyze", ["trail", "analyze", SCENARIO, "--since", "yesterday-ish"]),
    ("trail replay", ["trail", "replay", MISSING, "-o", "x.yaml"]),
    ("trail replay", ["trail", "replay", SCENARIO, "-o", MISSING]),
    ("rpc add-network", ["rpc", "add-network", "--pod", "noslash"]),
    ("rpc add-network", ["rpc", "add-network", "--pod", "default/x", "--socket", ""]),
    ("rpc add-network", ["rpc", "add-network", "--pod", "default/x", "--socket", MISSING]),
    ("rpc del-network", ["rpc", "del-network", "--pod", ""]),
    ("rpc pods", ["rpc", "pods", "--introspection", "127.0.0.1:9"]),
    ("rpc enis", ["rpc", "enis", "--introspection", "not a host"]),
    ("ipamd", ["ipamd", "--metrics-port", "99999"]),
    ("ipamd", ["ipamd", "--introspection-port", "-5"]),
    ("ipamd", ["ipamd", "--cloud", "simm"]),
    ("ipamd", ["ipamd", "--grpc-listen", "10.0.0.1:50051"]),
    ("ipamd", ["ipamd", "--subnet-used", "-1"]),
    ("cloud serve", ["cloud", "serve", "--port", "99999"]),
    ("cloud serve", ["cloud", "serve", "--host", "0.0.0.0"]),
    ("cloud serve", ["cloud", "serve", "--vpc-cidr", "10.0.0.0/33"]),
    ("cloud serve", ["cloud", "serve", "--subnet", "nocidr"]),
    ("cloud serve", ["cloud", "serve", "--scenario", MISSING]),
    ("cloud serve", ["cloud", "serve", "--trail", MISSING]),
    ("metrics-helper", ["metrics-helper", "--once", "--no-cloudwatch"]),
    ("metrics-helper", ["metrics-helper", "--targets", "not a url", "--once", "--no-cloudwatch"]),
    ("metrics-helper", ["metrics-helper", "--interval", "0"]),
    ("metrics-helper", ["metrics-helper", "--port", "99999"]),
    ("metrics-helper", ["metrics-helper", "--timeout", "-1"]),
    ("metrics-helper", ["metrics-helper", "--kubernetes", "--kubeconfig", MISSING, "--once", "--no-cloudwatch"]),
    ("rpc health", ["rpc", "health", "--socket", MISSING, "--timeout", "0.5"]),
    ("rpc health", ["rpc", "health", "--timeout", "0"]),
    ("install-cni", ["install-cni", "--cni-version", "9.9.9"]),
    ("install-cni", ["install-cni", "--mtu", "abc"]),
    ("install-cni", ["install-cni", "--veth-prefix", "toolongprefix"]),
]


@pytest.mark.parametrize(("command", "args"), CASES, ids=[" ".join(a)[:60] for _, a in CASES])
def test_bad_value_is_one_line_and_no_traceback(
    command: str, args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path) if a == DIR else a for a in args]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    out, err = capsys.readouterr()
    assert stopped.value.code in (1, 2), (out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert list(tmp_path.iterdir()) == [], "nothing half-written"


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [f"{prefix}{c.name or c.callback.__name__}" for c in group.registered_commands if c.callback]
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            names += _commands(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_every_command_has_bad_value_rows() -> None:
    covered = {command for command, _ in CASES}
    assert sorted(set(_commands(app)) - covered) == []
