"""The daemon's two small HTTP servers: Prometheus metrics (:61678) and introspection (:61679).

Both bind 127.0.0.1 by default, answer GET only, log every request, and run in their own threads;
a handler that raises answers 500 and the server carries on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vpccni.daemon.prometheus import CONTENT_TYPE

log = logging.getLogger("vpccni.daemon.http")

Response = tuple[int, str, bytes]
Route = Callable[[str], Response]
INTROSPECTION_PATHS = (
    "/v1/enis",
    "/v1/eni-configs",
    "/v1/networkutils-env-settings",
    "/v1/ipamd-env-settings",
    "/v1/warm-pool",  # vpccni's: the warm-pool policy, its current target and why
)


class HttpEndpoint:
    def __init__(self, name: str, address: str, port: int, route: Route) -> None:
        self.name = name
        handler = _handler_class(name, route)
        self.server = ThreadingHTTPServer((address, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"http-{name}", daemon=True)

    def start(self) -> HttpEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler_class(name: str, route: Route) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # the reference's read/write timeouts

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            try:
                status, content_type, body = route(self.path.split("?", 1)[0])
            except Exception:
                log.exception("%s handler failed", name, extra={"path": self.path})
                status, content_type, body = 500, "text/plain", b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s request", name, extra={"path": self.path, "status": args[1] if len(args) > 1 else ""})

    return Handler


def metrics_route(exposition: Callable[[], str]) -> Route:
    def route(path: str) -> Response:
        if path != "/metrics":
            return 404, "text/plain", b"see /metrics\n"
        return 200, CONTENT_TYPE, exposition().encode()

    return route


def json_body(value: Any, status: int = 200) -> Response:
    return status, "application/json", (json.dumps(value, indent=2) + "\n").encode()


def introspection_route(views: dict[str, Callable[[], Any]]) -> Route:
    """`views` maps each path to a function returning its JSON value (called under the caller's locks)."""

    def route(path: str) -> Response:
        view = views.get(path)
        if view is None:
            return json_body({"AvailableCommands": list(INTROSPECTION_PATHS)})
        return json_body(view())

    return route


def networkutils_env_settings(env: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """`/v1/networkutils-env-settings`, read from the reference's variables with its defaults."""

    def flag(name: str, default: bool) -> bool:
        value = env.get(name, "").strip().lower()
        return default if value == "" else value in ("true", "1", "yes")

    def cidrs(name: str) -> list[str]:
        return [c.strip() for c in env.get(name, "").split(",") if c.strip()]

    randomize = {"none": 0, "hashrandom": 1, "prng": 2}.get(env.get("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "prng"), 2)
    try:
        mtu = int(env.get("AWS_VPC_ENI_MTU", "9001"))
    except ValueError:
        mtu = 9001
    try:
        connmark = int(env.get("AWS_VPC_K8S_CNI_CONNMARK", "0x80"), 0)
    except ValueError:
        connmark = 0x80
    return {
        "AWS_VPC_K8S_CNI_CONNMARK": connmark,
        "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": cidrs("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"),
        "AWS_VPC_K8S_CNI_EXTERNALSNAT": flag("AWS_VPC_K8S_CNI_EXTERNALSNAT", False),
        "AWS_EXTERNAL_SERVICE_CIDRS": cidrs("AWS_EXTERNAL_SERVICE_CIDRS"),
        "AWS_VPC_ENI_MTU": mtu,
        "AWS_VPC_K8S_CNI_VETHPREFIX": env.get("AWS_VPC_K8S_CNI_VETHPREFIX", "eni"),
        "AWS_VPC_CNI_NODE_PORT_SUPPORT": flag("AWS_VPC_CNI_NODE_PORT_SUPPORT", True),
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT": randomize,
    }
