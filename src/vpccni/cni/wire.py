"""The fast local protocol between the CNI plugin and ipamd: one JSON object each way on a unix socket.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. A request may carry file
descriptors (the pod's network namespace) as SCM_RIGHTS ancillary data on its first bytes, so the
daemon can wire the pod without resolving paths. Stdlib only: the plugin imports this on every pod start.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 20
MAX_FDS = 4


class WireError(Exception):
    """The peer closed early or sent something that is not a frame."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    frame = encode(message)
    if fds:
        sent = socket.send_fds(sock, [frame], fds)
        if sent < len(frame):
            sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)


def receive(sock: socket.socket, with_fds: bool = False) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it (only looked for when `with_fds`)."""
    fds: list[int] = []
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, MAX_FDS)
        buffer = bytearray(data)
    else:
        buffer = bytearray(sock.recv(65536))
    return complete(sock, buffer), fds


def complete(sock: socket.socket, buffer: bytearray) -> dict[str, Any]:
    """The message whose first bytes are already in `buffer`."""
    if not buffer:
        raise WireError("connection closed before a request")
    while len(buffer) < HEADER.size:
        buffer += _more(sock)
    (length,) = HEADER.unpack_from(buffer)
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes is over the {MAX_FRAME}-byte limit")
    while len(buffer) < HEADER.size + length:
        buffer += _more(sock)
    try:
        message = json.loads(bytes(buffer[HEADER.size : HEADER.size + length]))
    except ValueError as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("frame is not a JSON object")
    return message


def _more(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise WireError("connection closed inside a frame")
    return chunk


def call(path: str, message: dict[str, Any], fds: list[int] | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the daemon's socket at `path` and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        send(sock, message, fds)
        reply, _ = receive(sock)
        return reply
