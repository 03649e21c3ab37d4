#!/usr/bin/python3 -IS
"""vpccni-cni: the CNI plugin shim (installed as `aws-cni` and `vpccni`).

It runs on every pod start and stop, so it imports only os, sys and _socket: it checks the CNI
variables, opens the pod's netns, sends the variables and stdin to ipamd's fast endpoint with the netns
as a file descriptor, and prints the bytes ipamd answers. json is imported only on error and fallback
paths. This file is self-contained on purpose: `vpccni install-cni` copies it as is, with the daemon's
socket path and the interpreter filled in.
"""

import _socket
import os
import sys

DAEMON_SOCKET = "/var/run/aws-node/vpccni.sock"  # install-cni rewrites this line
PROTOCOL = b"VPCCNI1"
SUPPORTED = ("0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
MAX_STDIN = 1 << 20
TIMEOUT = 30.0
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def fail(code: int, msg: str, details: str = "", version: str = "1.1.0") -> None:
    import json

    error = {"cniVersion": version, "code": code, "msg": msg}
    if details:
        error["details"] = details
    sys.stdout.write(json.dumps(error) + "\n")
    sys.stdout.flush()
    os._exit(1)


def valid_id(value: str) -> bool:
    return bool(value) and value[0] not in "_.-" and all(c in ID_CHARS for c in value)


def valid_ifname(value: str) -> bool:
    if not 1 <= len(value) <= 15 or value in (".", ".."):
        return False
    return not any(c in "/:" or c.isspace() for c in value)


def check_env(env: "os._Environ[str]", command: str) -> None:
    needed = ["CNI_PATH"]
    if command in ("ADD", "DEL", "CHECK"):
        needed = ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"] + (["CNI_NETNS"] if command != "DEL" else [])
    missing = [name for name in needed if not env.get(name)]
    if missing:
        fail(4, "required env variables missing", " ".join(missing))
    if command in ("ADD", "DEL", "CHECK"):
        if not valid_id(env["CNI_CONTAINERID"]):
            fail(4, "invalid CNI_CONTAINERID", env["CNI_CONTAINERID"])
        if not valid_ifname(env["CNI_IFNAME"]):
            fail(4, "invalid CNI_IFNAME", env["CNI_IFNAME"])


def open_netns(path: str) -> int:
    """The pod netns as a read-only descriptor; it must be a netns and not our own (code 4 otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        fail(4, "failed to open netns " + repr(path), exc.strerror or "")
    given, own = os.fstat(fd), os.stat("/proc/self/ns/net")
    if given.st_dev != own.st_dev:
        fail(4, "CNI_NETNS is not a network namespace", path)
    if given.st_ino == own.st_ino:
        fail(4, "CNI_NETNS is the plugin's own network namespace", path)
    return fd


def read_stdin() -> bytes:
    try:
        data = sys.stdin.buffer.read(MAX_STDIN + 1)
    except OSError as exc:
        fail(5, "failed to read the network configuration", str(exc))
    if len(data) > MAX_STDIN:
        fail(7, "network configuration larger than 1 MiB")
    return data


def request_bytes(env: "os._Environ[str]", stdin: bytes) -> bytes:
    pairs = [
        (k + "=" + v).encode()
        for k, v in env.items()
        if k.startswith("CNI_") and k != "CNI_PATH" or k in ("VPCCNI_DAEMON_SOCKET",)
    ]
    return PROTOCOL + b"\0" + b"\0".join(pairs) + b"\0\0" + stdin


def exchange(path: str, payload: bytes, fd: "int | None") -> bytes:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(path)
        if fd is None:
            sock.sendall(payload)
        else:
            rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
            sent = sock.sendmsg([payload], rights)
            if sent < len(payload):
                sock.sendall(payload[sent:])
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    return b"".join(chunks)


def parse_config(stdin: bytes) -> "tuple[dict[str, object], str]":
    """Config checks of §1.3 steps 5–7 for when the daemon cannot do them; returns (config, version)."""
    import json

    try:
        config = json.loads(stdin.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        fail(6, "failed to decode the network configuration", str(exc))
    if not isinstance(config, dict):
        fail(6, "the network configuration is not a JSON object")
    version = config.get("cniVersion", "0.1.0")
    if not isinstance(config.get("name"), str) or not valid_id(config["name"]):
        fail(7, "network configuration has no valid name", version=version if version in SUPPORTED else "1.1.0")
    if version not in SUPPORTED:
        fail(1, "incompatible CNI versions", f"config is {version!r}, plugin supports {', '.join(SUPPORTED)}")
    return config, version


def version_command(stdin: bytes) -> int:
    import json

    try:
        version = json.loads(stdin.decode("utf-8") or "{}").get("cniVersion")
    except (UnicodeDecodeError, ValueError, AttributeError):
        version = None
    answer = {"cniVersion": version if version in SUPPORTED else "1.1.0", "supportedVersions": list(SUPPORTED)}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


def fallback_del(stdin: bytes) -> int:
    """Daemon unreachable on DEL: remove the host rules and route from prevResult, exit 0 whatever happens."""
    import json

    try:
        previous = json.loads(stdin.decode("utf-8")).get("prevResult") or {}
        interfaces = previous.get("interfaces") or []
        lines = []
        for ip in previous.get("ips") or []:
            address = ip["address"].split("/")[0]
            table = interfaces[ip["interface"]].get("mac", "254") if "interface" in ip else "254"
            lines.append(f"rule del to {address}/32 table main priority 512")
            if table.isdigit() and int(table) not in (1, 254):
                lines.append(f"rule del from {address}/32 table {table} priority 1536")
            lines.append(f"route del {address}/32 table main")
        ip_tool = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
        if lines:
            import subprocess

            subprocess.run([ip_tool, "-force", "-batch", "-"], input="\n".join(lines).encode(), capture_output=True)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OSError) as exc:
        # DEL must succeed (the runtime would retry it forever); what could not be cleaned goes to stderr
        sys.stderr.write("vpccni: DEL without ipamd: prevResult not cleaned up: " + type(exc).__name__ + "\n")
    return 0


def main() -> int:
    env = os.environ
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        fail(4, "CNI_COMMAND missing or unknown", repr(command) + "; expected one of " + ", ".join(COMMANDS))
    if command == "VERSION":
        return version_command(read_stdin())
    check_env(env, command)
    fd = open_netns(env["CNI_NETNS"]) if command in ("ADD", "CHECK") else None
    stdin = read_stdin()
    path = env.get("VPCCNI_DAEMON_SOCKET") or DAEMON_SOCKET
    try:
        reply = exchange(path, request_bytes(env, stdin), fd)
    except OSError as exc:
        reply = b""
        reason = exc.strerror or str(exc) or type(exc).__name__
    else:
        reason = "the daemon closed the connection without an answer"
    if reply:
        sys.stdout.buffer.write(reply[1:])
        sys.stdout.flush()
        return reply[0]
    if command == "DEL":
        return fallback_del(stdin)
    if command == "STATUS":
        fail(50, "vpccni daemon unreachable at " + path, reason)
    _config, version = parse_config(stdin)
    fail(11, "vpccni daemon unreachable at " + path, reason, version)
    return 1


def entry() -> None:
    """Run one CNI command; every failure is CNI error JSON on stdout, never a traceback."""
    try:
        status = main()
    except SystemExit:
        raise
    except BaseException as exc:
        fail(999, "vpccni plugin internal error", type(exc).__name__ + ": " + str(exc))
        status = 1
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    entry()
