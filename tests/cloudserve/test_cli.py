"""`vpccni cloud serve` as a command: flag errors (exit 2, one line), a busy port (exit 1), a served account
that survives a restart through --state-dir, a scenario's subnets, and the --trail file."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from vpccni.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0: not a loopback address; add --allow-remote"),
        (["--subnet", "nonsense"], "--subnet 'nonsense': expected NAME=CIDR[@AZ]"),
        (["--subnet", "a=10.0.0.0/30"], "--subnet 10.0.0.0/30: EC2 subnets are /16 to /28"),
        (["--subnet", "a=10.1.0.0/24"], "subnet a (10.1.0.0/24) is not inside the VPC 10.0.0.0/16"),
        (["--subnet", "a=10.0.0.0/24", "--subnet", "a=10.0.1.0/24"], "subnet names must be unique"),
        (["--vpc-cidr", "10.0.0.0/33"], "--vpc-cidr '10.0.0.0/33'"),
        (["--scenario", "scenarios/scale-out.yaml", "--subnet", "a=10.0.0.0/24"], "give one of them"),
        (["--scenario", "no-such.yaml"], "no-such.yaml: cannot read"),
        (["--port", "70000"], "65535"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cloud", "serve", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_busy_port_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["cloud", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_state_dir_and_trail_across_a_restart(serve_process: Any, tmp_path: Path) -> None:
    trail = tmp_path / "trail.jsonl"
    args = [
        "--state-dir",
        str(tmp_path / "account"),
        "--trail",
        str(trail),
        "--no-latency",
        "--subnet",
        "n=10.0.8.0/24",
    ]
    first = serve_process(*args)
    assert first.ready["restored"] is False and first.ready["instances"] == []
    assert [(s["name"], s["cidr"], s["az"], s["available"]) for s in first.ready["subnets"]] == [
        ("n", "10.0.8.0/24", "us-west-2a", 251)
    ]
    ec2 = boto3.session.Session().client("ec2", endpoint_url=first.url, region_name="us-west-2")
    instance_id = ec2.run_instances(
        ImageId="ami-1", InstanceType="t3.medium", MinCount=1, MaxCount=1, SubnetId=first.subnet_id("n")
    )["Instances"][0]["InstanceId"]
    assert first.terminate() == 0
    second = serve_process(*args)
    assert second.ready["restored"] is True
    assert second.ready["instances"] == [{"instance_id": instance_id, "type": "t3.medium", "state": "running"}]
    assert second.ready["subnets"][0]["available"] == 250
    ec2 = boto3.session.Session().client("ec2", endpoint_url=second.url, region_name="us-west-2")
    assert ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"] == (
        "running"
    )
    assert second.terminate() == 0
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [e["eventName"] for e in events] == ["RunInstances", "DescribeInstances"]
    assert all(e["userIdentity"]["accessKeyId"] == "AKIDCLOUDSERVETEST" for e in events)


def test_subnets_from_a_scenario(serve_process: Any) -> None:
    served = serve_process("--scenario", str(REPO / "scenarios" / "shared-subnet-exhaustion.yaml"), "--no-latency")
    (subnet,) = served.ready["subnets"]
    assert (subnet["name"], subnet["cidr"], subnet["available"]) == ("shared", "10.0.0.0/24", 251 - 120)
    assert served.terminate() == 0
