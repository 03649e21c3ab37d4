"""`vpccni rpc` against a real daemon: AddNetwork/DelNetwork over its gRPC socket, pods and ENIs over
introspection, and clear one-line errors (exit 1) when the daemon is not there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

VPCCNI = [str(Path(sys.executable).parent / "vpccni")]


def vpccni(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VPCCNI, *args], capture_output=True, text=True, timeout=60)


def test_rpc_client_round_trip(daemon_factory: Any) -> None:
    daemon = daemon_factory("--instance-type", "m5.large", "--no-latency")
    socket = str(daemon.endpoints["grpc_socket"])
    introspection = f"127.0.0.1:{daemon.endpoints['introspection_port']}"
    added = vpccni("rpc", "add-network", "--pod", "default/web-1", "--socket", socket, "--json")
    assert added.returncode == 0, added.stderr
    reply = json.loads(added.stdout)
    address = reply["addresses"][0]["address"]
    assert reply["success"] and address.startswith("10.0.0.")
    pods = json.loads(vpccni("rpc", "pods", "--introspection", introspection, "--json").stdout)
    assert [(p["k8sPodNamespace"], p["k8sPodName"], p["IPv4Addr"]) for p in pods] == [("default", "web-1", address)]
    enis = json.loads(vpccni("rpc", "enis", "--introspection", introspection, "--json").stdout)
    assert enis["0"]["AssignedIPs"] == 1
    human = vpccni("rpc", "enis", "--introspection", introspection)
    assert re.search(r"card 0: 1 of \d+ addresses assigned", human.stdout)  # the pool may be growing meanwhile
    deleted = vpccni("rpc", "del-network", "--pod", "default/web-1", "--socket", socket)
    assert deleted.returncode == 0 and f"released {address}" in deleted.stdout
    again = vpccni("rpc", "del-network", "--pod", "default/web-1", "--socket", socket)
    assert again.returncode == 0 and "no address (unknown pod)" in again.stdout


def test_rpc_client_errors_are_one_line(tmp_path: Path) -> None:
    missing = vpccni("rpc", "add-network", "--pod", "default/x", "--socket", str(tmp_path / "none.sock"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "AddNetwork" in missing.stderr
    bad_pod = vpccni("rpc", "add-network", "--pod", "no-slash")
    assert bad_pod.returncode == 2 and "NAMESPACE/NAME" in bad_pod.stderr
    down = vpccni("rpc", "pods", "--introspection", "127.0.0.1:9")
    assert down.returncode == 1 and "Traceback" not in down.stderr
