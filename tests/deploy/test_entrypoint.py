"""The image's aws-node entrypoint asks IMDSv2 (a fake one on 127.0.0.1) for the instance and region and
becomes `vpccni ipamd --cloud aws` with the DaemonSet's arguments, which the real CLI accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, find, parse_cli

ENTRYPOINT = DEPLOY / "image" / "vpccni-aws-node"
TOKEN = "AQAEAtoken"


class FakeImds:
    def __init__(self) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                outer.seen.append(f"PUT {self.path}")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                self.answer(200 if self.path == "/latest/api/token" and ttl else 400, TOKEN)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.seen.append(f"GET {self.path}")
                if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                    return self.answer(401, "")
                values = {
                    "/latest/meta-data/instance-id": "i-0123456789abcdef0",
                    "/latest/meta-data/placement/region": "eu-central-1",
                }
                self.answer(200, values[self.path]) if self.path in values else self.answer(404, "")

            def answer(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `seen`

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    server = FakeImds()
    yield server
    server.server.shutdown()
    server.server.server_close()


def fake_vpccni(bin_dir: Path, record: Path) -> None:
    """A `vpccni` first on PATH that records the command line it was exec'd with."""
    bin_dir.mkdir()
    script = bin_dir / "vpccni"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv))\n")
    script.chmod(0o755)


def test_entrypoint_becomes_ipamd_for_this_instance_with_the_daemonsets_args(
    imds: FakeImds, tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    record = tmp_path / "argv.json"
    fake_vpccni(tmp_path / "bin", record)
    (container,) = find(built, "DaemonSet", "aws-node")["spec"]["template"]["spec"]["containers"]
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
    }
    result = subprocess.run(
        [sys.executable, str(ENTRYPOINT), *container["args"]], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())
    expected = ["ipamd", "--cloud", "aws", "--instance-id", "i-0123456789abcdef0", "--region", "eu-central-1"]
    assert argv[1:] == [*expected, *container["args"]]
    command, params = parse_cli(["vpccni", *argv[1:]])
    assert (command, params["cloud"], params["region"]) == ("ipamd", "aws", "eu-central-1")
    assert imds.seen[0] == "PUT /latest/api/token"


def test_entrypoint_without_metadata_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("vpccni-aws-node: instance metadata at http://127.0.0.1:9 unreachable")
    assert len(result.stderr.strip().splitlines()) == 1
