"""Three real `vpccni ipamd --cloud sim` daemons on their own ports, pods added through gRPC, and the
helper reading them: `--once --json` equals the sums of the nodes' own /metrics (the max for latency),
CloudWatch (moto's server) gets what was printed, counters become increases across polls, a restarted
daemon resets without a negative increase, and bad targets are skipped and counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.daemon.conftest import Daemon, add_until_assigned, del_request, stub
from tests.metrics_helper.conftest import family_sum, free_port, worst_mean_latency
from vpccni.metrics_helper.helper import MetricsHelper
from vpccni.metrics_helper.names import HELPER_METRICS, Rule
from vpccni.metrics_helper.targets import url_targets

NODES = (("m5.large", 3), ("t3.medium", 5), ("c5.xlarge", 7))  # (instance type, pods)


def metrics_url(daemon: Daemon) -> str:
    return f"http://127.0.0.1:{daemon.endpoints['metrics_port']}/metrics"


@pytest.fixture
def nodes(daemon_factory: Any, tmp_path: Path) -> list[Daemon]:
    started = []
    for i, (instance_type, pods) in enumerate(NODES):
        state = tmp_path / f"node{i}"
        state.mkdir()
        args = ["--instance-type", instance_type, "--no-latency", "--seed", str(i)]
        daemon = daemon_factory(*args, "--metrics-port", str(free_port()), state_dir=state)
        client = stub(daemon)
        for p in range(pods):
            add_until_assigned(client, f"n{i}-pod{p}")
        started.append(daemon)
    return started


def expected_figures(texts: list[str]) -> dict[str, float]:
    """The helper's figures for one first poll, computed from the raw text without prometheus-client."""
    out = {}
    for metric in HELPER_METRICS:
        if metric.rule is Rule.LATENCY_MAX:
            out[metric.published] = max(worst_mean_latency(t, metric.source) for t in texts)
        else:
            out[metric.published] = sum(family_sum(t, metric.source) for t in texts)
    return out


def scrape_all(daemons: list[Daemon]) -> list[str]:
    return [daemon.http("metrics", "/metrics").decode() for daemon in daemons]


def run_helper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vpccni", "metrics-helper", "--once", "--json", "--port", "-1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def stable_run(daemons: list[Daemon], *args: str, env: dict[str, str] | None = None) -> tuple[Any, dict[str, float]]:
    """Run the helper between two identical readings of every node, so the pool loop changed nothing meanwhile."""
    for _ in range(20):
        before = scrape_all(daemons)
        result = run_helper(*args, env=env)
        if scrape_all(daemons) == before:
            return result, expected_figures(before)
        time.sleep(1.0)
    raise AssertionError("the daemons never stayed still for one helper run")


def test_once_json_equals_the_nodes_sums_skips_bad_targets_and_reaches_cloudwatch(
    nodes: list[Daemon], garbage_target: str
) -> None:
    from moto.server import ThreadedMotoServer

    moto_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port)
    server.start()
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "x"}
    try:
        unreachable = f"http://127.0.0.1:{free_port()}/metrics"
        targets = [arg for d in nodes for arg in ("--targets", metrics_url(d))]
        targets += ["--targets", unreachable, "--targets", garbage_target]
        cloud = [
            "--cluster-id",
            "test-cluster",
            "--region",
            "us-west-2",
            "--endpoint-url",
            f"http://127.0.0.1:{moto_port}",
        ]
        result, expected = stable_run(nodes, *targets, *cloud, env=credentials)
        assert result.returncode == 0, result.stderr
        printed = json.loads(result.stdout)
        assert printed["nodes"] == 3
        assert sorted(printed["targets_failed"]) == sorted([unreachable, garbage_target])
        assert "not Prometheus text" in printed["targets_failed"][garbage_target]
        assert printed["published"] is True
        assert printed["metrics"] == pytest.approx(expected)
        # exact figures the test knows without reading any metrics
        assert printed["metrics"]["assignIPAddresses"] == 15
        assert printed["metrics"]["eniMaxAvailable"] == 3 + 3 + 4  # m5.large, t3.medium, c5.xlarge
        assert printed["metrics"]["maxIPAddresses"] == 3 * 9 + 3 * 5 + 4 * 14
        assert printed["metrics"]["awsAPILatency"] > 0
        log = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        assert sorted(e["path"] for e in log if e["msg"] == "node skipped") == sorted([unreachable, garbage_target])

        cloudwatch = boto3.client(
            "cloudwatch",
            region_name="us-west-2",
            endpoint_url=f"http://127.0.0.1:{moto_port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert read_back(cloudwatch, "test-cluster") == pytest.approx(printed["metrics"])
    finally:
        server.stop()


def read_back(cloudwatch: Any, cluster_id: str) -> dict[str, float]:
    now = datetime.now(UTC)
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "Kubernetes",
                    "MetricName": m.published,
                    "Dimensions": [{"Name": "CLUSTER_ID", "Value": cluster_id}],
                },
                "Period": 60,
                "Stat": "Maximum",
            },
        }
        for i, m in enumerate(HELPER_METRICS)
    ]
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1)
    )
    by_id = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    return {m.published: by_id[f"m{i}"][0] for i, m in enumerate(HELPER_METRICS) if by_id[f"m{i}"]}


def test_counters_are_increases_across_polls_and_a_restart_resets_without_going_negative(nodes: list[Daemon]) -> None:
    helper = MetricsHelper(url_targets([metrics_url(d) for d in nodes]))
    port = helper.export.serve("127.0.0.1", 0)
    try:
        first = helper.poll().figures
        assert first["assignIPAddresses"] == 15

        node0 = nodes[0]
        adds_before = node0.metric("awscni_add_ip_req_count")
        client = stub(node0)
        add_until_assigned(client, "n0-late-1")
        add_until_assigned(client, "n0-late-2")
        client.DelNetwork(del_request("n0-pod0"), timeout=30)
        adds_after = node0.metric("awscni_add_ip_req_count")
        assert adds_before is not None and adds_after is not None
        second = helper.poll().figures
        assert second["addReqCount"] == adds_after - adds_before >= 2
        assert second["delReqCount"] == 1
        assert second["assignIPAddresses"] == 16

        node1 = nodes[1]
        assert node1.metric("awscni_add_ip_req_count") >= 5  # type: ignore[operator]
        assert node1.terminate() == 0
        node1.start()  # same state dir and metrics port: the same target, its counters back at 0
        add_until_assigned(stub(node1), "n1-after-restart")
        restarted_adds = node1.metric("awscni_add_ip_req_count")
        third = helper.poll().figures
        assert third["addReqCount"] == restarted_adds  # what it counted since the restart, not a negative delta
        assert third["assignIPAddresses"] == 17  # its pods came back from the checkpoint, plus one

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            exported = response.read().decode()
        assert "awscni_assigned_ip_addresses 17.0" in exported
        assert 'vpccni_metrics_helper_cluster{metric="assignIPAddresses"} 17.0' in exported
        assert "vpccni_metrics_helper_nodes_scraped 3.0" in exported
    finally:
        helper.export.stop()
