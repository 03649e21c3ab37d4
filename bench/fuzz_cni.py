"""Fuzz the installed CNI plugin and ipamd's gRPC port with hypothesis-generated input.

Each plugin case runs the file `vpccni install-cni` writes, as the runtime would, with generated CNI
variables (commands, container ids, interface names, netns paths, CNI_ARGS) and stdin (configs in every
version with odd, huge and missing fields, prevResult shapes, non-JSON and non-UTF-8 bytes, over 1 MiB),
first with ipamd up, then with it down. Every case must exit with CNI error JSON (non-zero) or a valid
result (zero), never a traceback; a rejected case must leave ipamd's pods exactly as they were. As root,
each plugin run is in a network namespace of its own (the daemon-down DEL fallback runs `ip`: never in
the machine's namespace) with a pod namespace held by a helper process. Then malformed protobuf and
wrong-typed fields go to the gRPC port. `--json` prints
{cases, tracebacks, invalid_output, state_changed_on_error, crashes}. Never fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vpccni import __version__
from vpccni.cni.install import install

COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"]
VERSIONS = ["0.4.0", "1.0.0", "1.1.0", "0.3.1", "0.1.0", "2.0.0", "", "1.0"]
ROOT = os.geteuid() == 0 and shutil.which("unshare") is not None


# --- the daemon -----------------------------------------------------------------------------------
class Daemon:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.log_path = state_dir.parent / "fuzz-ipamd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}
        self.crashes = 0

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim", "--instance-type", "m5.large"]
        command += ["--no-latency", "--state-dir", str(self.state_dir), "--metrics-port", "-1"]
        command += ["--introspection-port", "0"]
        env = {**os.environ, "AWS_VPC_K8S_CNI_LOG_FILE": str(self.log_path), "WARM_IP_TARGET": "4"}
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8") if self.log_path.exists() else open(os.devnull) as handle:
                handle.seek(offset)
                for line in handle:
                    entry = json.loads(line)
                    if entry.get("msg") == "ipamd ready":
                        self.endpoints = entry["endpoints"]
                        return
            time.sleep(0.05)
        raise RuntimeError("ipamd did not start")

    def check_alive(self) -> None:
        """A dead daemon counts as a crash and is restarted, so the run goes on."""
        if self.proc is not None and self.proc.poll() is not None:
            self.crashes += 1
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    def pods(self) -> list[tuple[str, str]]:
        url = f"http://127.0.0.1:{self.endpoints['introspection_port']}/v1/pods"
        with urllib.request.urlopen(url, timeout=30) as response:
            return sorted((p["containerID"], p["IPv4Addr"]) for p in json.loads(response.read()))


@contextmanager
def pod_netns() -> Iterator[str]:
    """A network namespace for "the pod": held by a helper process (root), else a path that is none."""
    if not ROOT:
        yield "/proc/self/ns/net"  # the plugin's own namespace: always refused, which is fuzzed too
        return
    holder = subprocess.Popen(["unshare", "--net", "sleep", "3600"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.stat(path).st_ino == os.stat("/proc/self/ns/net").st_ino and time.monotonic() < deadline:
            time.sleep(0.01)
        yield path
    finally:
        holder.kill()
        holder.wait(10)


# --- generated invocations ---------------------------------------------------------------------------
def weighted(draw: Any, choices: list[tuple[int, Any]]) -> Any:
    """Draw from one of `choices` (weight, strategy): mostly well-formed input, so cases reach ipamd."""
    pick = draw(st.integers(0, sum(w for w, _ in choices) - 1))
    for weight, strategy in choices:
        if pick < weight:
            return draw(strategy)
        pick -= weight
    raise AssertionError("unreachable")


valid_id = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,40}", fullmatch=True)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=30)
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
prev_result = st.fixed_dictionaries(
    {
        "cniVersion": st.sampled_from(VERSIONS),
        "interfaces": st.lists(st.dictionaries(st.sampled_from(["name", "mac", "sandbox"]), json_leaf), max_size=3),
        "ips": st.lists(
            st.fixed_dictionaries(
                {"address": st.one_of(st.just("10.0.0.9/32"), st.text(max_size=20)), "interface": json_leaf}
            ),
            max_size=3,
        ),
    }
)


@st.composite
def configs(draw: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "cniVersion": weighted(
            draw, [(8, st.sampled_from(VERSIONS[:3])), (2, st.sampled_from(VERSIONS)), (1, json_leaf)]
        ),
        "name": weighted(draw, [(8, st.just("aws-cni")), (1, valid_id), (1, json_leaf)]),
        "type": "aws-cni",
    }
    optional: dict[str, Any] = {
        "vethPrefix": st.one_of(st.just("eni"), json_leaf),
        "mtu": st.one_of(st.just("9001"), json_leaf, st.just("9" * 5000)),
        "prevResult": st.one_of(prev_result, json_any),
        "cni.dev/valid-attachments": st.one_of(
            st.lists(st.fixed_dictionaries({"containerID": valid_id, "ifname": st.just("eth0")}), max_size=3), json_any
        ),
        "extra": json_any,
    }
    for name, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            config[name] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        del config[draw(st.sampled_from(["cniVersion", "name", "type"]))]
    return config


@st.composite
def stdins(draw: Any) -> bytes:
    return bytes(
        weighted(
            draw,
            [
                (16, configs().map(lambda c: json.dumps(c).encode())),
                (1, st.binary(max_size=200)),
                (1, st.text(max_size=100).map(str.encode)),
                (1, st.just(b"{" * 200_000)),
                (1, st.just(b'{"cniVersion": "1.0.0", "name": "aws-cni", "pad": "' + b"x" * (1 << 20) + b'"}')),
            ],
        )
    )


def environment(draw: Any, netns: str) -> dict[str, str]:
    env = {"CNI_COMMAND": weighted(draw, [(18, st.sampled_from(COMMANDS)), (1, st.text(max_size=8))])}
    optional = {
        "CNI_CONTAINERID": [(16, valid_id), (2, st.text(max_size=40)), (1, st.just("x" * 5000))],
        "CNI_IFNAME": [(16, st.just("eth0")), (2, st.text(max_size=20)), (1, st.sampled_from(["..", "a/b", "e" * 16]))],
        "CNI_NETNS": [
            (16, st.just(netns)),
            (2, st.sampled_from(["", "/nonexistent", "/dev/null"])),
            (1, st.text(max_size=30)),
        ],
        "CNI_PATH": [(16, st.just("/opt/cni/bin")), (1, st.text(max_size=10))],
        "CNI_ARGS": [
            (8, st.just("K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=x")),
            (2, st.just("IgnoreUnknown=1;COLOUR=red")),
            (
                1,
                st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=4).map(
                    lambda pairs: ";".join(f"{k}={v}" for k, v in pairs)
                ),
            ),
            (1, st.text(max_size=60)),
        ],
    }
    for name, choices in optional.items():
        if draw(st.integers(0, 19)) < 19:
            env[name] = weighted(draw, choices)
    return {k: v for k, v in env.items() if "\0" not in k + v and "=" not in k}


# --- checking one plugin run ---------------------------------------------------------------------------
def valid_output(command: str, status: int, out: bytes) -> bool:
    """Exit 0 with a result (or nothing, for DEL/CHECK/STATUS/GC), or non-zero with CNI error JSON."""
    text = out.decode("utf-8", "replace").strip()
    if status != 0:
        try:
            error = json.loads(text)
        except ValueError:
            return False
        return isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("msg"), str)
    if command in ("DEL", "CHECK", "STATUS", "GC"):
        return text == ""
    try:
        result = json.loads(text)
    except ValueError:
        return False
    if command == "VERSION":
        return isinstance(result, dict) and isinstance(result.get("supportedVersions"), list)
    ips = result.get("ips") if isinstance(result, dict) else None
    return bool(ips) and all("/" in ip.get("address", "") for ip in ips) and "cniVersion" in result


def _code(out: bytes) -> str:
    try:
        reply = json.loads(out)
    except ValueError:
        return "-"
    return str(reply.get("code", "-")) if isinstance(reply, dict) else "-"


class PluginFuzz:
    def __init__(self, plugin: Path, daemon: Daemon, socket_path: str) -> None:
        self.plugin = plugin
        self.daemon = daemon
        self.socket_path = socket_path
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # command:exit:CNI code, to see what the cases reached
        self.examples: dict[str, str] = {}

    def run(self, env: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes]:
        prefix = ["unshare", "--net"] if ROOT else []
        full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "VPCCNI_DAEMON_SOCKET": self.socket_path, **env}
        done = subprocess.run([*prefix, str(self.plugin)], input=stdin, env=full_env, capture_output=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    def case(self, env: dict[str, str], stdin: bytes, up: bool) -> None:
        before = self.daemon.pods() if up else None
        status, out, err = self.run(env, stdin)
        command = env.get("CNI_COMMAND", "")
        self.counts["cases"] += 1
        self.outcomes[f"{command if command in COMMANDS else '?'}:{status}:{_code(out)}"] += 1
        if b"Traceback" in out or b"Traceback" in err:
            self.note("tracebacks", env, stdin, err)
        if not valid_output(command, status, out):
            self.note("invalid_output", env, stdin, out)
        if up:
            self.daemon.check_alive()
            after = self.daemon.pods()
            if status != 0 and after != before:
                self.note("state_changed_on_error", env, stdin, out)
            if status == 0 and command == "ADD":  # a valid ADD: delete it again, as kubelet would
                self.run({**env, "CNI_COMMAND": "DEL"}, stdin)

    def note(self, kind: str, env: dict[str, str], stdin: bytes, detail: bytes) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(
            kind,
            json.dumps(
                {
                    "env": env,
                    "stdin": stdin[:300].decode("utf-8", "replace"),
                    "out": detail[-500:].decode("utf-8", "replace"),
                }
            ),
        )


def fuzz_plugin(fuzz: PluginFuzz, cases: int, up: bool, netns: str, seed: int) -> None:
    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data(), stdin=stdins())
    def one(data: Any, stdin: bytes) -> None:
        fuzz.case(environment(data.draw, netns), stdin, up)

    from hypothesis import seed as hypothesis_seed

    hypothesis_seed(seed)(one)()


# --- the gRPC port ------------------------------------------------------------------------------------
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


fields = st.lists(
    st.tuples(
        st.integers(1, 20), st.sampled_from([0, 1, 2, 5, 3, 7]), st.binary(max_size=40), st.integers(0, 2**64 - 1)
    ),
    max_size=8,
)


def raw_message(parts: list[tuple[int, int, bytes, int]]) -> bytes:
    """Protobuf fields with any wire type (strings sent as varints, numbers as bytes, unknown types)."""
    out = bytearray()
    for number, wire_type, payload, number_value in parts:
        out += varint(number << 3 | wire_type)
        if wire_type == 0:
            out += varint(number_value)
        elif wire_type == 2:
            out += varint(len(payload)) + payload
        elif wire_type == 1:
            out += number_value.to_bytes(8, "little")
        elif wire_type == 5:
            out += (number_value & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            out += payload  # group markers and undefined types: malformed on purpose
    return bytes(out)


def fuzz_grpc(daemon: Daemon, counts: Counter[str], cases: int, seed: int) -> None:
    import grpc

    from vpccni.daemon import rpc_pb2

    def identity(data: bytes) -> bytes:
        return data

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        method=st.sampled_from(["AddNetwork", "DelNetwork"]),
        body=st.one_of(
            fields.map(raw_message),
            st.binary(max_size=300),
            st.builds(
                lambda version, cid: rpc_pb2.AddNetworkRequest(
                    ClientVersion=version, ContainerID=cid, IfName="eth0", NetworkName="aws-cni"
                ).SerializeToString(),
                st.sampled_from([__version__, "", "0.0.0"]),
                st.text(max_size=20),
            ),
        ),
    )
    def one(method: str, body: bytes) -> None:
        before = daemon.pods()
        counts["cases"] += 1
        with grpc.insecure_channel(f"unix:{daemon.endpoints['grpc_socket']}") as channel:
            call = channel.unary_unary(
                f"/rpc.CNIBackend/{method}", request_serializer=identity, response_deserializer=identity
            )
            try:
                reply = call(body, timeout=30)
                succeeded = method == "AddNetwork" and rpc_pb2.AddNetworkReply.FromString(reply).Success
                succeeded = succeeded or (method == "DelNetwork" and rpc_pb2.DelNetworkReply.FromString(reply).Success)
            except grpc.RpcError:
                succeeded = False
        daemon.check_alive()
        if not succeeded and daemon.pods() != before:
            counts["state_changed_on_error"] += 1
        if succeeded and method == "AddNetwork":  # give it back
            cid = rpc_pb2.AddNetworkRequest.FromString(body).ContainerID
            delete = rpc_pb2.DelNetworkRequest(
                ClientVersion=__version__, ContainerID=cid, IfName="eth0", NetworkName="aws-cni"
            )
            with grpc.insecure_channel(f"unix:{daemon.endpoints['grpc_socket']}") as channel:
                channel.unary_unary("/rpc.CNIBackend/DelNetwork", request_serializer=identity)(
                    delete.SerializeToString(), timeout=30
                )

    from hypothesis import seed as hypothesis_seed

    hypothesis_seed(seed)(one)()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="plugin cases (default 10000); gRPC gets a tenth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--examples", action="store_true", help="also print one failing case per kind")
    args = parser.parse_args()
    if args.cases < 4:
        parser.error("--cases must be at least 4")
    with tempfile.TemporaryDirectory(prefix="vpccni-fuzz-") as scratch:
        root = Path(scratch)
        (root / "state").mkdir()
        socket_path = str(root / "state" / "vpccni.sock")
        install(root / "bin", root / "net.d", socket_path=socket_path)
        daemon = Daemon(root / "state")
        daemon.start()
        fuzz = PluginFuzz(root / "bin" / "vpccni", daemon, socket_path)
        try:
            with pod_netns() as netns:
                up = args.cases * 3 // 5
                fuzz_plugin(fuzz, up, True, netns, args.seed)
                before = daemon.pods()
                daemon.stop()
                fuzz_plugin(fuzz, args.cases - up, False, netns, args.seed + 1)
                daemon.start()
                if daemon.pods() != before:
                    fuzz.counts["state_changed_on_error"] += 1
            fuzz_grpc(daemon, fuzz.counts, max(args.cases // 10, 2), args.seed)
        finally:
            daemon.stop()
    figures = {k: fuzz.counts.get(k, 0) for k in ("cases", "tracebacks", "invalid_output", "state_changed_on_error")}
    figures["crashes"] = daemon.crashes
    if args.json:
        print(json.dumps({**figures, **({"examples": fuzz.examples} if args.examples else {})}))
    else:
        for key, value in figures.items():
            print(f"{key:<24}{value}")
        reached = ", ".join(f"{k} ×{n}" for k, n in sorted(fuzz.outcomes.items()))
        print(f"outcomes (command:exit:code): {reached}")
        for kind, example in fuzz.examples.items():
            print(f"first {kind}: {example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
