"""`vpccni cloud serve` on an ephemeral loopback port: in process (shared virtual clock) or as a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from vpccni.cloud import VirtualClock
from vpccni.cloud.clock import Clock
from vpccni.cloud.server import AccountLayout, AccountOptions, CloudServer, SubnetLayout, open_account
from vpccni.cloud.sim import SimCloud

ACCESS_KEY = "AKIDCLOUDSERVETEST"
LAYOUT = AccountLayout("10.0.0.0/16", (SubnetLayout("tiny", "10.0.1.0/28"), SubnetLayout("nodes", "10.0.2.0/24")))
FAKE_SIGNATURE = "0" * 64
NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Credentials and region for boto3 and awscli, and no user configuration files in the way."""
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": "not-checked",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return env


@dataclass
class Served:
    server: CloudServer
    cloud: SimCloud
    clock: Clock
    ec2: Any  # a boto3 EC2 client pointed at the server

    @property
    def url(self) -> str:
        return self.server.url

    def subnet_id(self, name: str) -> str:
        return next(s.subnet_id for s in self.cloud.subnets.values() if s.tags.get("Name") == name)

    def trail(self) -> list[dict[str, Any]]:
        """The clients' calls (the server's own setup calls carry no access key)."""
        return [e for e in self.cloud.trail.events() if "accessKeyId" in e["userIdentity"]]


def serve(clock: Clock, options: AccountOptions | None = None, layout: AccountLayout = LAYOUT) -> Served:
    cloud, _ = open_account("", clock, options or AccountOptions(latency=False), layout)
    server = CloudServer(cloud, "127.0.0.1", 0).start()
    return Served(
        server, cloud, clock, boto3.session.Session().client("ec2", endpoint_url=server.url, region_name="us-west-2")
    )


@pytest.fixture
def served(aws_env: dict[str, str]) -> Iterator[Served]:
    """Two subnets (tiny /28, nodes /24), no latency, virtual clock: tests move time themselves."""
    running = serve(VirtualClock())
    yield running
    running.server.stop()


# --- raw HTTP, for what a well-behaved SDK never sends ------------------------------------------------
def authorization(access_key: str = "AKIDRAW") -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-west-2/ec2/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={FAKE_SIGNATURE}"
    )


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error(self) -> tuple[str, str]:
        root = self.xml
        assert root.tag == "Response", self.body
        return root.findtext("Errors/Error/Code", ""), root.findtext("Errors/Error/Message", "")


def raw(
    url: str,
    method: str = "POST",
    path: str = "/",
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> RawReply:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    sent = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if auth:
        sent["Authorization"] = authorization()
    sent.update(headers or {})
    data = body.encode() if isinstance(body, str) else body
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return RawReply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def form(**params: str | int) -> str:
    return urllib.parse.urlencode({"Version": "2016-11-15", **{k.replace("__", "."): v for k, v in params.items()}})


# --- the CLI as a subprocess ------------------------------------------------------------------------
class ServeProcess:
    """`vpccni cloud serve --port 0 --json ...`; `ready` is its JSON line (endpoint, subnets, ...)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "vpccni", "cloud", "serve", "--port", "0", "--json", *args]
        self.proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"cloud serve exited {self.proc.wait(10)}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.ready: dict[str, Any] = json.loads(line)
        self.url: str = self.ready["endpoint"]

    def subnet_id(self, name: str) -> str:
        return next(s["subnet_id"] for s in self.ready["subnets"] if s["name"] == name)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serve_process(aws_env: dict[str, str]) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        process = ServeProcess(list(args), aws_env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
