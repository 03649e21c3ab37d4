"""Network namespaces made by the tests: one plays the node (its "ENI" is a veth carrying the node's
address; ipamd runs inside it with the datapath on), the others play pods. Root only; every namespace
is deleted afterwards, also when a test fails. Nothing is changed in the machine's own namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Daemon

PLUGIN = Path(__file__).parents[2] / "src" / "vpccni" / "cni" / "plugin.py"
IP = shutil.which("ip") or "/usr/sbin/ip"
NODE_ADDRESS = "10.0.0.1"  # the subnet's .1 is reserved in EC2, so no pod ever gets it

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(IP), reason="network namespaces need root and iproute2"
)

# An ICMP echo in Python (the machine has no ping): run inside a namespace with `ip netns exec`.
PING = r"""
import socket, sys, os, time
ok = []
for dst in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(1.0)
    ident = os.getpid() & 0xFFFF
    body = bytes([8, 0, 0, 0, ident >> 8, ident & 255, 0, 1]) + b"vpccni"
    total = sum(int.from_bytes(body[i:i + 2], "big") for i in range(0, len(body), 2))  # even length
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    check = ~total & 0xFFFF
    s.sendto(body[:2] + check.to_bytes(2, "big") + body[4:], (dst, 0))
    try:
        while True:
            data, addr = s.recvfrom(1500)
            if addr[0] == dst and data[20] == 0:
                ok.append(dst); break
    except socket.timeout:
        pass
    s.close()
print(" ".join(ok))
"""


def run(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(IP, "netns", "exec", ns, *args, check=check)


class Node:
    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir
        self.pods: list[str] = []
        self.daemon: Daemon | None = None
        self.socket = str(state_dir / "vpccni.sock")

    def pod_netns(self) -> str:
        name = f"{self.name}-p{len(self.pods)}"
        run(IP, "netns", "add", name)
        self.pods.append(name)
        return name

    def cni(
        self, command: str, container: str, netns: str, conf: dict[str, Any], pod: str = "", **env: str
    ) -> tuple[int, Any]:
        """Execute the plugin in the node namespace the way a runtime does; returns (exit status, stdout JSON)."""
        variables = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container,
            "CNI_NETNS": f"/var/run/netns/{netns}" if netns else "",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": "/usr/lib/cni",
            "CNI_ARGS": f"K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod or container}",
            "VPCCNI_DAEMON_SOCKET": self.socket,
            **env,
        }
        result = subprocess.run(
            [
                IP,
                "netns",
                "exec",
                self.name,
                "env",
                "-i",
                *(f"{k}={v}" for k, v in variables.items()),
                "/usr/bin/python3",
                "-IS",
                str(PLUGIN),
            ],
            input=json.dumps(conf),
            capture_output=True,
            text=True,
        )
        assert result.stderr == "", result.stderr
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None

    def ping(self, ns: str, *addresses: str) -> set[str]:
        out = in_ns(ns, "/usr/bin/python3", "-c", PING, *addresses)
        return set(out.stdout.split())


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    name = f"vpct{uuid.uuid4().hex[:6]}"
    node = Node(name, tmp_path)
    run(IP, "netns", "add", name)
    try:
        in_ns(name, IP, "link", "set", "lo", "up")
        in_ns(name, IP, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
        in_ns(name, IP, "addr", "add", f"{NODE_ADDRESS}/24", "dev", "eth0")
        in_ns(name, IP, "link", "set", "eth0", "up")
        in_ns(name, IP, "link", "set", "eth0peer", "up")
        in_ns(name, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")  # the node's own sysctl, not the machine's
        yield node
    finally:
        if node.daemon is not None:
            node.daemon.stop()
        for pod in node.pods:
            run(IP, "netns", "del", pod, check=False)
        run(IP, "netns", "del", name, check=False)


def start_daemon(node: Node, *args: str, env: dict[str, str] | None = None) -> Daemon:
    daemon = Daemon(
        node.state_dir, ["--datapath", "--no-latency", *args], env or {}, prefix=[IP, "netns", "exec", node.name]
    )
    node.daemon = daemon
    return daemon.start()


CONF = {"cniVersion": "1.0.0", "name": "aws-cni", "type": "aws-cni", "vethPrefix": "eni", "mtu": "9001"}
__all__ = ["CONF", "Node", "in_ns", "node", "run", "start_daemon", "sys"]
