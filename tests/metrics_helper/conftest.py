"""Shared pieces: the real ipamd subprocess fixture of tests/daemon, free loopback ports, text readers that
do not use prometheus-client (so the helper's parsing is checked against an independent reading)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.daemon.conftest import daemon_factory  # noqa: F401 - a fixture, re-exported for these tests

LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str) -> list[tuple[str, str, float]]:
    """(name, raw label text, value) of every sample line."""
    out = []
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match and not line.startswith("#"):
            out.append((match.group(1), match.group(2) or "", float(match.group(3))))
    return out


def family_sum(text: str, family: str) -> float:
    return sum(value for name, _, value in samples(text) if name == family)


def worst_mean_latency(text: str, family: str = "awscni_aws_api_latency_ms") -> float:
    counts = {labels: v for name, labels, v in samples(text) if name == family + "_count"}
    sums = {labels: v for name, labels, v in samples(text) if name == family + "_sum"}
    return max((sums[k] / counts[k] for k in counts if counts[k] > 0), default=0.0)


class StaticServer:
    """A loopback HTTP server answering every GET with one fixed body (a target serving garbage)."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reads the helper's log, not this server's

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def garbage_target() -> Iterator[str]:
    server = StaticServer(b"<html><body>hello, not metrics</body></html>\n")
    yield server.url
    server.close()
