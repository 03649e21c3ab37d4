"""`vpccni metrics-helper` as a user runs it: bad flags are one line and exit 2, the service loop keeps
going through bad targets and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.metrics_helper.conftest import StaticServer, free_port
from vpccni.daemon.prometheus import PrometheusMetrics

BASE = [sys.executable, "-m", "vpccni", "metrics-helper"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASE, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no nodes to read: give --targets URL"),
        (["--targets", "http://127.0.0.1:1/metrics", "--kubernetes"], "not both"),
        (["--targets", "ftp://node/metrics"], "--targets 'ftp://node/metrics': expected an http(s) URL"),
        (["--targets", "127.0.0.1:61678"], "expected an http(s) URL"),
        (["--targets", "http://127.0.0.1:1/metrics", "--cluster-id", " "], "--cluster-id: empty"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args, "--once", "--no-cloudwatch", "--port", "-1")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("flag", [["--interval", "0"], ["--port", "70000"], ["--timeout", "0"]])
def test_out_of_range_numbers_exit_2(flag: list[str]) -> None:
    result = run("--targets", "http://127.0.0.1:1/metrics", *flag, "--once")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_cloudwatch_without_a_region_says_which_flag(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env["AWS_CONFIG_FILE"] = os.devnull
    result = subprocess.run(
        [*BASE, "--targets", "http://127.0.0.1:1/metrics", "--once", "--port", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "error: --region: CloudWatch needs a region" in result.stderr


def test_a_port_already_taken_is_a_runtime_error_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--targets", "http://127.0.0.1:1/metrics", "--no-cloudwatch", "--port", str(port), "--once")
    assert result.returncode == 1
    assert f"--port {port}: cannot listen" in result.stderr


def test_every_target_down_prints_the_failures_and_exits_1() -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    result = run("--targets", url, "--once", "--json", "--no-cloudwatch", "--port", "-1")
    assert result.returncode == 1
    printed = json.loads(result.stdout)
    assert printed["nodes"] == 0 and list(printed["targets_failed"]) == [url]


def test_the_service_loop_goes_on_through_garbage_and_stops_on_sigterm() -> None:
    sink = PrometheusMetrics()
    sink.set("awscni_total_ip_addresses", 9)
    sink.inc("awscni_add_ip_req_count", 4)
    good = StaticServer(sink.exposition().encode())
    garbage = StaticServer(b"\x00\xffnot text at all")
    missing = StaticServer(b"gone", status=404)
    port = free_port()
    args = ["--targets", good.url, "--targets", garbage.url, "--targets", missing.url]
    proc = subprocess.Popen(
        [*BASE, *args, "--interval", "1", "--json", "--no-cloudwatch", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        polls = []
        assert proc.stdout is not None
        while len(polls) < 3:
            line = proc.stdout.readline()
            assert line, "the helper stopped printing"
            polls.append(json.loads(line))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            exported = response.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for server in (good, garbage, missing):
            server.close()
    assert [p["nodes"] for p in polls] == [1, 1, 1]
    assert [p["metrics"]["addReqCount"] for p in polls] == [4, 0, 0]  # an increase, then nothing new
    assert [p["metrics"]["totalIPAddresses"] for p in polls] == [9, 9, 9]
    assert polls[0]["targets_failed"][missing.url] == "HTTP 404 Not Found"
    assert "not UTF-8 text" in polls[0]["targets_failed"][garbage.url]
    scrape_errors = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in exported.splitlines()
        if line.startswith("vpccni_metrics_helper_scrape_errors_total")
    }
    assert scrape_errors['vpccni_metrics_helper_scrape_errors_total{reason="http"}'] >= 3
    assert scrape_errors['vpccni_metrics_helper_scrape_errors_total{reason="parse"}'] >= 3
    assert "awscni_total_ip_addresses 9.0" in exported
