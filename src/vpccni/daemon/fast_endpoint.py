"""The fast local endpoint: one unix socket, two kinds of request, one reply each.

vpccni's CNI plugin cannot afford to import grpcio. It sends a `VPCCNI1` frame (its CNI variables,
stdin and the pod's netns as a file descriptor); `vpccni.cni.service` handles it, datapath included,
and the plugin prints the bytes it gets back. Tools and benchmarks may instead send `vpccni.cni.wire`
JSON frames carrying the AddNetwork/DelNetwork fields (op add, del, check or ping), which only touch
addresses. Every failure becomes an error reply; a bad request never takes the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import threading
import time
from dataclasses import asdict
from typing import Any

from vpccni.cni import wire
from vpccni.cni.service import CniService, parse_invocation
from vpccni.daemon import timing
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest, NotReady, VersionMismatch
from vpccni.ipam.checkpoint import CheckpointWriteError
from vpccni.ipam.metrics import MetricsSink

log = logging.getLogger("vpccni.daemon.fast")

# CNI spec error codes used on this wire.
INCOMPATIBLE_VERSION = 1
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
INTERNAL = 999

CNI_MAGIC = b"VPCCNI1\0"
MAX_CNI_FRAME = 2 * 1024 * 1024  # the plugin sends at most 1 MiB of config plus its CNI variables
CLIENT_TIMEOUT = 30.0  # a client that stops sending mid-request is dropped, not waited for forever
ADD_FIELDS = {f for f in AddRequest.__dataclass_fields__}
DEL_FIELDS = {f for f in DelRequest.__dataclass_fields__}
BOOL_FIELDS = {"requires_multi_nic"}
CNI_COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")


class RequestError(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


class _Server(socketserver.ThreadingUnixStreamServer):
    # Plugins connect with a timeout set, i.e. non-blocking: with socketserver's backlog of 5, a node
    # starting many pods at once would see EAGAIN ("daemon unreachable") instead of being queued.
    request_queue_size = 1024
    daemon_threads = True


class FastEndpoint:
    def __init__(
        self,
        backend: CniBackend,
        lock: threading.Lock,
        socket_path: str,
        cni: CniService | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.cni = cni
        self.metrics = metrics
        self.backend = backend
        self.lock = lock
        self.socket_path = socket_path
        os.makedirs(os.path.dirname(os.path.abspath(socket_path)), mode=0o755, exist_ok=True)
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        endpoint = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                endpoint.serve_one(self.request)

        self.server = _Server(socket_path, Handler)
        os.chmod(socket_path, 0o660)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fast-endpoint", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    # --- one connection: one request, one reply --------------------------------------------------
    def serve_one(self, sock: Any) -> None:
        fds: list[int] = []
        sock.settimeout(CLIENT_TIMEOUT)
        try:
            try:
                first, fds, _flags, _addr = socket.recv_fds(sock, 65536, wire.MAX_FDS)
                if first.startswith(CNI_MAGIC) and self.cni is not None:
                    self._serve_cni(sock, bytearray(first), fds)
                    return
                message = wire.complete(sock, bytearray(first))
            except (wire.WireError, OSError) as exc:
                raise RequestError(DECODE_FAILURE, "bad request frame", str(exc)) from None
            reply = self.dispatch(message)
        except RequestError as exc:
            reply = {"ok": False, "error": {"code": exc.code, "msg": exc.msg, "details": exc.details}}
        except Exception as exc:  # never let one request kill the daemon
            log.exception("fast endpoint request failed")
            reply = {"ok": False, "error": {"code": INTERNAL, "msg": "ipamd internal error", "details": repr(exc)}}
        finally:
            for fd in fds:
                os.close(fd)
        try:
            wire.send(sock, reply)
        except OSError:
            log.warning("client went away before the reply")

    def _serve_cni(self, sock: Any, data: bytearray, fds: list[int]) -> None:
        """The plugin shim's request: read to EOF, answer exit status + stdout bytes, close."""
        assert self.cni is not None
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_CNI_FRAME:
                log.warning("plugin request over %d bytes; connection closed", MAX_CNI_FRAME)
                for fd in fds:
                    os.close(fd)
                fds.clear()
                return
        began = time.perf_counter()
        invocation = parse_invocation(bytes(data), fds)
        status, out = self.cni.handle(invocation)
        try:
            sock.sendall(bytes([status]) + out)
        except OSError:
            log.warning("plugin went away before the reply")
        finally:
            if self.metrics is not None:
                command = invocation.command if invocation.command in CNI_COMMANDS else "other"
                self.metrics.observe(timing.REQUEST, time.perf_counter() - began, (("command", command),))
            for fd in fds:
                os.close(fd)
            fds.clear()

    def dispatch(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        request = message.get("request") or {}
        if not isinstance(request, dict):
            raise RequestError(DECODE_FAILURE, "request must be a JSON object")
        if op == "ping":
            return {"ok": True, "version": self.backend.version}
        if op == "add":
            return self._add(request)
        if op == "del":
            return self._del(request)
        if op == "check":
            return self._check(request)
        raise RequestError(INVALID_CONFIG, f"unknown op {op!r}", "expected add, del, check or ping")

    def _add(self, request: dict[str, Any]) -> dict[str, Any]:
        add = AddRequest(**_fields(request, ADD_FIELDS, ("client_version", "container_id", "if_name", "network_name")))
        try:
            with self.lock:
                reply = self.backend.add_network(add)
        except VersionMismatch as exc:
            raise RequestError(INCOMPATIBLE_VERSION, str(exc)) from None
        if not reply.success:
            raise RequestError(TRY_AGAIN_LATER, "failed to assign an IP address to container", reply.reason)
        return {"ok": True, "reply": asdict(reply)}

    def _del(self, request: dict[str, Any]) -> dict[str, Any]:
        delete = DelRequest(
            **_fields(request, DEL_FIELDS, ("client_version", "container_id", "if_name", "network_name"))
        )
        try:
            with self.lock:
                reply = self.backend.del_network(delete)
        except VersionMismatch as exc:
            raise RequestError(INCOMPATIBLE_VERSION, str(exc)) from None
        except (CheckpointWriteError, NotReady) as exc:
            raise RequestError(TRY_AGAIN_LATER, "failed to release the address", str(exc)) from None
        return {"ok": True, "reply": asdict(reply)}

    def _check(self, request: dict[str, Any]) -> dict[str, Any]:
        add = AddRequest(**_fields(request, ADD_FIELDS, ("client_version", "container_id", "if_name", "network_name")))
        with self.lock:
            if not self.backend.node.initialized:
                raise RequestError(TRY_AGAIN_LATER, "ipamd is not ready", "node initialization has not finished")
            address = self.backend.lookup(add)
        if address is None:
            raise RequestError(INVALID_CONFIG, "no address assigned to this container", add.container_id)
        return {"ok": True, "address": asdict(address)}


def _fields(request: dict[str, Any], allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    for name in required:
        if name not in request:
            raise RequestError(DECODE_FAILURE, f"request field {name!r} must be a string")
    fields = {k: v for k, v in request.items() if k in allowed}
    for name, value in fields.items():
        wanted = bool if name in BOOL_FIELDS else str
        if not isinstance(value, wanted):
            raise RequestError(DECODE_FAILURE, f"request field {name!r} must be a {wanted.__name__}")
    return fields
