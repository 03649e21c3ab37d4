"""A real ipamd subprocess on a temporary state dir and the simulated cloud, and a gRPC client for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from vpccni import __version__
from vpccni.daemon import rpc_pb2, rpc_pb2_grpc


class Daemon:
    """One `vpccni ipamd` process; `endpoints` comes from its "ipamd ready" log line."""

    def __init__(
        self,
        state_dir: Path,
        args: list[str],
        env: dict[str, str],
        prefix: list[str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.prefix = prefix or []  # e.g. ["ip", "netns", "exec", NODE]: run inside a network namespace
        self.state_dir = state_dir
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}
        self.log_path = log_path or state_dir / "ipamd.log"

    def start(self, timeout: float = 60.0, until: str = "ipamd ready") -> Daemon:
        """Start and wait for the log line `until` ("ipamd listening": servers up, node init maybe not done)."""
        command = [*self.prefix, sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim"]
        command += ["--state-dir", str(self.state_dir)]
        command += ["--metrics-port", "0", "--introspection-port", "0", *self.args]
        env = {**os.environ, **self.env, "AWS_VPC_K8S_CNI_LOG_FILE": str(self.log_path)}
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ipamd exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            for entry in self.log_entries(offset):
                if entry.get("msg") == until:
                    self.endpoints = entry["endpoints"]
                    return self
            time.sleep(0.05)
        raise RuntimeError("ipamd did not become ready")

    def log_entries(self, offset: int = 0) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with open(self.log_path, encoding="utf-8") as handle:
            handle.seek(offset)
            return [json.loads(line) for line in handle if line.strip()]

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"unix:{self.endpoints['grpc_socket']}")

    def http(self, which: str, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.endpoints[f'{which}_port']}{path}"
        if self.prefix:  # the daemon's loopback is inside its namespace: fetch from there
            fetch = "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())"
            return subprocess.run(
                [*self.prefix, sys.executable, "-c", fetch, url], check=True, capture_output=True
            ).stdout
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read())

    def introspect(self, path: str) -> Any:
        return json.loads(self.http("introspection", path))

    def metric(self, name: str, **labels: str) -> float | None:
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in self.http("metrics", "/metrics").decode().splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def make(
        *args: str, env: dict[str, str] | None = None, state_dir: Path | None = None, until: str = "ipamd ready"
    ) -> Daemon:
        daemon = Daemon(state_dir or tmp_path, list(args), env or {})
        started.append(daemon)
        return daemon.start(until=until)

    yield make
    for daemon in started:
        daemon.stop()


def add_request(container: str, version: str = __version__, **fields: Any) -> Any:
    values = dict(
        ClientVersion=version,
        K8S_POD_NAME=f"pod-{container}",
        K8S_POD_NAMESPACE="default",
        K8S_POD_INFRA_CONTAINER_ID=container,
        ContainerID=container,
        IfName="eth0",
        NetworkName="aws-cni",
        Netns=f"/var/run/netns/{container}",
    )
    values.update(fields)
    return rpc_pb2.AddNetworkRequest(**values)


def del_request(container: str, version: str = __version__, **fields: Any) -> Any:
    values = dict(
        ClientVersion=version,
        K8S_POD_NAME=f"pod-{container}",
        K8S_POD_NAMESPACE="default",
        K8S_POD_INFRA_CONTAINER_ID=container,
        ContainerID=container,
        IfName="eth0",
        NetworkName="aws-cni",
        Reason="PodDeleted",
    )
    values.update(fields)
    return rpc_pb2.DelNetworkRequest(**values)


def stub(daemon: Daemon) -> rpc_pb2_grpc.CNIBackendStub:
    return rpc_pb2_grpc.CNIBackendStub(daemon.channel())


def add_until_assigned(client: Any, container: str, timeout: float = 120.0) -> str:
    """AddNetwork, retried like kubelet retries a pod sandbox, until the pool has an address."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.AddNetwork(add_request(container), timeout=30)
        if reply.Success:
            return str(reply.IPAllocationMetadata[0].IPv4Addr)
        if time.monotonic() > deadline:
            raise AssertionError(f"{container}: no address after {timeout} s")
        time.sleep(0.2)
