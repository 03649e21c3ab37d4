"""`--kubernetes`: the official client lists the aws-node pods and reads each through the pod proxy of a
fake API server on 127.0.0.1 (never a real cluster); no config at all is a one-line error, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpccni.daemon.prometheus import PrometheusMetrics


def node_text(assigned: int, adds: int) -> str:
    sink = PrometheusMetrics()
    sink.set("awscni_assigned_ip_addresses", assigned)
    sink.set("awscni_eni_max", 3)
    sink.inc("awscni_add_ip_req_count", adds)
    return sink.exposition()


PODS = {  # name → (phase, what its ipamd answers through the proxy: text, or an HTTP status)
    "aws-node-a1": ("Running", node_text(4, 6)),
    "aws-node-b2": ("Running", 503),  # the API server cannot reach the node
    "aws-node-c3": ("Running", node_text(10, 12)),
    "aws-node-d4": ("Pending", node_text(99, 99)),  # not serving yet: not a target
}


class FakeApiServer:
    """Answers the two calls the helper makes, as the Kubernetes API server does, and records them."""

    def __init__(self, token: str = "sekret") -> None:
        self.requests: list[tuple[str, str]] = []  # (decoded path with query, Authorization header)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.requests.append((urllib.parse.unquote(self.path), self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    return self.reply(401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
                url = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(url.path)
                if path == "/api/v1/namespaces/kube-system/pods":
                    selector = urllib.parse.parse_qs(url.query).get("labelSelector", [""])[0]
                    wanted = selector == "k8s-app=aws-node"
                    items = [pod(name, phase) for name, (phase, _) in PODS.items()] if wanted else []
                    return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
                prefix, suffix = "/api/v1/namespaces/kube-system/pods/", ":61678/proxy/metrics"
                if path.startswith(prefix) and path.endswith(suffix):
                    name = path[len(prefix) : -len(suffix)]
                    answer = PODS.get(name, ("", 404))[1]
                    if isinstance(answer, str):
                        return self.reply(200, answer, "text/plain; version=0.0.4")
                    return self.reply(answer, {"kind": "Status", "code": answer, "message": "error trying to reach"})
                return self.reply(404, {"kind": "Status", "code": 404})

            def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def pod(name: str, phase: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "aws-node"}},
        "spec": {"containers": [{"name": "aws-node", "image": "vpccni"}], "hostNetwork": True},
        "status": {"phase": phase},
    }


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    yield server
    server.close()


def kubeconfig(path: Path, server: str, token: str = "sekret") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "helper", "user": {"token": token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "helper"}}],
                "current-context": "fake",
            }
        )
    )
    return path


def helper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "KUBECONFIG"))}
    command = [sys.executable, "-m", "vpccni", "metrics-helper", "--kubernetes", "--no-cloudwatch", "--port", "-1"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, env={**clean, **(env or {})})


def test_pods_found_and_read_through_the_pod_proxy(api_server: FakeApiServer, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", api_server.url)
    result = helper("--kubeconfig", str(config), "--once", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["nodes"] == 2
    assert list(printed["targets_failed"]) == ["aws-node-b2"]
    assert "503" in printed["targets_failed"]["aws-node-b2"]
    assert printed["metrics"]["assignIPAddresses"] == 14
    assert printed["metrics"]["addReqCount"] == 18
    assert printed["metrics"]["eniMaxAvailable"] == 6
    paths = sorted(path for path, _ in api_server.requests)
    assert paths == [
        "/api/v1/namespaces/kube-system/pods/aws-node-a1:61678/proxy/metrics",
        "/api/v1/namespaces/kube-system/pods/aws-node-b2:61678/proxy/metrics",
        "/api/v1/namespaces/kube-system/pods/aws-node-c3:61678/proxy/metrics",
        "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app=aws-node",
    ]
    assert {auth for _, auth in api_server.requests} == {"Bearer sekret"}


def test_the_kubeconfig_variable_is_used_like_kubectl_does(api_server: FakeApiServer, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", api_server.url)
    result = helper("--once", "--json", env={"KUBECONFIG": str(config), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nodes"] == 2


def test_an_api_server_that_refuses_the_listing_is_logged_and_nothing_is_published(
    api_server: FakeApiServer, tmp_path: Path
) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", api_server.url, token="wrong")
    result = helper("--kubeconfig", str(config), "--once", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["nodes"] == 0
    assert "cannot list the nodes" in result.stderr and "401" in result.stderr


@pytest.mark.parametrize("kubeconfig_env", ["missing", "garbage"])
def test_no_in_cluster_config_and_no_kubeconfig_is_one_line_and_exit_2(tmp_path: Path, kubeconfig_env: str) -> None:
    path = tmp_path / "kubeconfig"
    if kubeconfig_env == "garbage":
        path.write_text("this: [is not a kubeconfig\n")
    result = helper("--once", env={"KUBECONFIG": str(path), "HOME": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --kubernetes: no in-cluster config"), result.stderr
    assert "Traceback" not in result.stderr
