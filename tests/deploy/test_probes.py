"""What the DaemonSet relies on in the daemon: `vpccni rpc health` (its probes) and `--metrics-address`."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from typing import Any


def health(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vpccni", "rpc", "health", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_health_probe_serving_then_failing_when_the_daemon_is_gone(daemon_factory: Any) -> None:
    daemon = daemon_factory("--no-latency", "--metrics-address", "127.0.0.2")
    socket = daemon.endpoints["grpc_socket"]
    ok = health("--socket", socket)
    assert ok.returncode == 0 and ok.stdout.strip() == "status: SERVING"
    unknown = health("--socket", socket, "--service", "grpc.health.v1.something-else")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr
    url = f"http://127.0.0.2:{daemon.endpoints['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert "awscni_eni_max" in response.read().decode()
    assert daemon.terminate() == 0
    gone = health("--socket", socket, "--timeout", "2")
    assert gone.returncode == 1 and gone.stderr.startswith("error: health of grpc.health.v1.aws-node via")
    assert len(gone.stderr.strip().splitlines()) == 1
