"""Chaos: a real `vpccni ipamd --cloud sim`, K client processes with a ledger, kill -9 at random moments, faults.

Each client adds and deletes pods over gRPC (a channel per call, as the reference plugin) and over the
fast endpoint, writing a ledger of the replies it got. The daemon is killed N times at random moments
(often with an ENI create or attach in flight: the simulated EC2 keeps its latencies) and restarted on
the same state dir. Afterwards the clients delete every pod they were not told about (as kubelet does
for failed sandboxes), the daemon restarts once more and reconciles, and the ledger is checked against
the daemon and the simulated account:

  lost_acknowledged  pods whose AddNetwork was acknowledged and not deleted, without that address now
  double_assigned    addresses acknowledged to two pods at once (ledger intervals overlap)
  leaked_ips         addresses the node holds in EC2 that the datastore neither pools nor assigns
  leaked_enis        ENIs attached and unknown to the datastore, or detached and tagged for this node
  max_recovery_seconds  from the restart (process start) to serving

Then fault drills on fresh daemons: a throttling storm, EC2 unreachable at start, subnet exhaustion and
capacity returning, a damaged checkpoint, ENOSPC on a private tmpfs (root), garbage and oversized frames.
Only loopback, unix sockets and temporary directories are used; only processes started here are ended.
Exit status 1 when an invariant is broken or a fault is not survived (never for time).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vpccni import __version__
from vpccni.cni import wire

INSTANCE = ("--instance-type", "m5.xlarge")


class Daemon:
    """One ipamd process on a state dir (restartable); its endpoints from the "ipamd listening" line."""

    def __init__(self, state_dir: Path, args: tuple[str, ...] = (), prefix: tuple[str, ...] = ()) -> None:
        self.state_dir = state_dir
        self.args = args
        self.prefix = prefix
        self.log_path = state_dir.parent / f"{state_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}

    def start(self, until: str = "ipamd ready", timeout: float = 120.0) -> float:
        """Start and wait for the log line `until`; returns the seconds that took."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [*self.prefix, sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim"]
        command += ["--state-dir", str(self.state_dir), "--metrics-port", "0", "--introspection-port", "0"]
        env = {**os.environ, "AWS_VPC_K8S_CNI_LOG_FILE": str(self.log_path)}
        began = time.monotonic()
        self.proc = subprocess.Popen([*command, *self.args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ipamd exited {self.proc.returncode}: {self._stderr()}")
            for entry in self.log(offset):
                if entry.get("msg") == "ipamd listening":
                    self.endpoints = entry["endpoints"]
                if entry.get("msg") == until:
                    return time.monotonic() - began
            time.sleep(0.02)
        raise RuntimeError(f"ipamd did not log {until!r} within {timeout} s")

    def _stderr(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def log(self, offset: int = 0) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with open(self.log_path, encoding="utf-8") as handle:
            handle.seek(offset)
            return [json.loads(line) for line in handle if line.strip()]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def http(self, which: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        url = f"http://127.0.0.1:{self.endpoints[f'{which}_port']}{path}"
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            return bytes(response.read())

    def introspect(self, path: str) -> Any:
        return json.loads(self.http("introspection", path))

    def faults(self, **body: Any) -> dict[str, Any]:
        return dict(json.loads(self.http("introspection", "/v1/sim-faults", body)))

    def metric(self, name: str, **labels: str) -> float:
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in self.http("metrics", "/metrics").decode().splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def serving(self) -> bool:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(f"unix:{self.endpoints['grpc_socket']}") as channel:
            request = health_pb2.HealthCheckRequest(service="grpc.health.v1.aws-node")
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=10)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


# --- clients -------------------------------------------------------------------------------------
def _fields(pod: str) -> dict[str, str]:
    return {"client_version": __version__, "container_id": pod, "if_name": "eth0", "network_name": "aws-cni"}


def add_pod(transport: str, endpoints: dict[str, Any], pod: str) -> str | None:
    """The address, or None when ipamd refused or could not be reached (kubelet would retry or delete)."""
    import grpc

    from vpccni.daemon import rpc_pb2, rpc_pb2_grpc

    try:
        if transport == "fast":
            request = {**_fields(pod), "pod_name": pod, "pod_namespace": "chaos"}
            reply = wire.call(endpoints["fast_socket"], {"op": "add", "request": request}, timeout=10)
            return str(reply["reply"]["addresses"][0]["ipv4"]) if reply.get("ok") else None
        with grpc.insecure_channel(f"unix:{endpoints['grpc_socket']}") as channel:
            message = rpc_pb2.AddNetworkRequest(
                ClientVersion=__version__, ContainerID=pod, IfName="eth0", NetworkName="aws-cni", K8S_POD_NAME=pod
            )
            answer = rpc_pb2_grpc.CNIBackendStub(channel).AddNetwork(message, timeout=10)
        return str(answer.IPAllocationMetadata[0].IPv4Addr) if answer.Success else None
    except (grpc.RpcError, OSError, wire.WireError, KeyError, IndexError):
        return None


def del_pod(transport: str, endpoints: dict[str, Any], pod: str) -> bool:
    import grpc

    from vpccni.daemon import rpc_pb2, rpc_pb2_grpc

    try:
        if transport == "fast":
            reply = wire.call(endpoints["fast_socket"], {"op": "del", "request": _fields(pod)}, timeout=10)
            return bool(reply.get("ok"))
        with grpc.insecure_channel(f"unix:{endpoints['grpc_socket']}") as channel:
            message = rpc_pb2.DelNetworkRequest(
                ClientVersion=__version__, ContainerID=pod, IfName="eth0", NetworkName="aws-cni", Reason="PodDeleted"
            )
            return bool(rpc_pb2_grpc.CNIBackendStub(channel).DelNetwork(message, timeout=10).Success)
    except (grpc.RpcError, OSError, wire.WireError):
        return False


def client_main(cid: int, endpoints: dict[str, Any], ledger: str, stop: Any, seed: int, cap: int) -> None:
    """Add and delete pods until `stop`, then delete every pod whose fate is unknown; ledger lines are
    [monotonic time, event, pod, address] with events add-ack, del-sent, del-ack."""
    rng = random.Random(seed)
    held: dict[str, str] = {}  # acknowledged and not being deleted
    unsure: set[str] = set()  # an ADD without a reply or a DEL not yet acknowledged: kubelet deletes it
    serial = 0
    with open(ledger, "a", encoding="utf-8") as out:

        def note(event: str, pod: str, address: str = "") -> None:
            out.write(json.dumps([time.monotonic(), event, pod, address]) + "\n")
            out.flush()

        def delete(pod: str) -> bool:
            if del_pod(rng.choice(("grpc", "fast")), endpoints, pod):
                unsure.discard(pod)
                note("del-ack", pod)
                return True
            return False

        while not stop.is_set():
            transport = rng.choice(("grpc", "fast"))
            if unsure and rng.random() < 0.3:
                ok = delete(rng.choice(sorted(unsure)))
            elif held and (len(held) >= cap or rng.random() < 0.35):
                pod = rng.choice(sorted(held))
                note("del-sent", pod, held.pop(pod))
                unsure.add(pod)
                ok = delete(pod)
            else:
                pod = f"k{cid}-{serial}"
                serial += 1
                unsure.add(pod)
                address = add_pod(transport, endpoints, pod)
                ok = address is not None
                if address is not None:
                    unsure.discard(pod)
                    held[pod] = address
                    note("add-ack", pod, address)
            if not ok:
                time.sleep(0.05)  # the daemon is restarting or the pool is empty
        deadline = time.monotonic() + 300
        while unsure and time.monotonic() < deadline:
            if not delete(sorted(unsure)[0]):
                time.sleep(0.1)
        out.write(json.dumps(["final", sorted(held.items()), sorted(unsure)]) + "\n")


# --- checks --------------------------------------------------------------------------------------
def read_ledgers(paths: list[Path]) -> tuple[list[list[Any]], dict[str, str], set[str]]:
    events, live, unsure = [], {}, set()
    for path in paths:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record[0] == "final":
                live.update(dict(record[1]))
                unsure.update(record[2])
            else:
                events.append(record)
    return sorted(events), live, unsure


def double_assignments(events: list[list[Any]]) -> int:
    """Addresses acknowledged to a pod while another pod's acknowledged hold on it had not ended."""
    holder: dict[str, str] = {}  # address → pod currently holding it (ack seen, del not yet sent)
    doubles = 0
    for _t, event, pod, address in events:
        if event == "add-ack":
            if holder.get(address, pod) != pod:
                doubles += 1
            holder[address] = pod
        elif event == "del-sent" and holder.get(address) == pod:
            del holder[address]
    return doubles


def cidr_addresses(cidrs: list[str]) -> set[str]:
    return {str(a) for c in cidrs for a in ipaddress.IPv4Network(c)}


def account_view(state_dir: Path) -> tuple[str, dict[str, set[str]], list[str]]:
    """From the stopped daemon's account file: the instance, its attached ENIs' CIDRs, ENIs left detached."""
    from vpccni.cloud.clock import RealClock
    from vpccni.cloud.sim import SimCloud, SimEc2, persist

    cloud = SimCloud(RealClock(), random.Random(0))
    persist.load(cloud, str(state_dir / "sim-cloud.state"))
    (instance_id,) = cloud.instances
    attached: dict[str, set[str]] = {}
    detached = []
    for eni in SimEc2(cloud).describe_network_interfaces():
        cidrs = [f"{a}/32" for a in eni.secondary_ips] + list(eni.ipv4_prefixes)
        if eni.attachment is not None and eni.attachment.instance_id == instance_id:
            attached[eni.eni_id] = cidr_addresses(cidrs)
        elif eni.attachment is None and eni.tags.get("node.k8s.amazonaws.com/instance_id") == instance_id:
            detached.append(eni.eni_id)
    return instance_id, attached, detached


def wait_for(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def kill_run(root: Path, kills: int, clients: int, seed: int, progress: bool) -> dict[str, Any]:
    rng = random.Random(seed)
    daemon = Daemon(root / "chaos-state", INSTANCE)
    daemon.state_dir.mkdir()
    daemon.start()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    ledgers = [root / f"ledger-{c}.jsonl" for c in range(clients)]
    workers = [
        context.Process(target=client_main, args=(c, daemon.endpoints, str(ledgers[c]), stop, seed + c, 8))
        for c in range(clients)
    ]
    for worker in workers:
        worker.start()
    recoveries = []
    try:
        for kill in range(kills):
            time.sleep(rng.uniform(0.2, 1.5))  # serving, often with an EC2 call in flight
            daemon.kill()
            recoveries.append(daemon.start())
            if progress:
                print(f"  kill {kill + 1}/{kills}: serving again after {recoveries[-1]:.2f} s", file=sys.stderr)
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(600)
    events, live, unsure = read_ledgers(ledgers)
    # one more restart, then a reconcile: the datastore against EC2 with nothing in flight
    assert daemon.terminate() == 0
    daemon.start()
    reconciled = wait_for(lambda: daemon.metric("awscni_reconcile_count", fn="eniDataStorePoolReconcileAdd") > 0, 300)
    enis = daemon.introspect("/v1/enis")["0"]["ENIs"]
    pods = {p["containerID"]: p["IPv4Addr"] for p in daemon.introspect("/v1/pods")}
    assert daemon.terminate() == 0
    _instance, attached, detached = account_view(daemon.state_dir)
    pooled = cidr_addresses([c for e in enis.values() for c in e["AvailableIPv4Cidrs"]])
    held_by_node = set().union(*attached.values()) if attached else set()
    addresses = list(pods.values())
    return {
        "kills": kills,
        "acknowledged": sum(1 for e in events if e[1] == "add-ack"),
        "lost_acknowledged": sum(1 for pod, address in live.items() if pods.get(pod) != address),
        "double_assigned": double_assignments(events) + len(addresses) - len(set(addresses)),
        "leaked_ips": len(held_by_node - pooled),
        "leaked_enis": len(set(attached) - set(enis)) + len(detached),
        "max_recovery_seconds": round(max(recoveries), 3) if recoveries else 0.0,
        "stale_allocations": len(set(pods) - set(live)),
        "undeleted_unsure_pods": len(unsure),
        "reconciled": reconciled,
    }


# --- fault drills ------------------------------------------------------------------------------------
def fresh(root: Path, name: str, *args: str, prefix: tuple[str, ...] = ()) -> Daemon:
    state = root / name
    state.mkdir()
    return Daemon(state, (*INSTANCE, *args), prefix)


def fill_pool(daemon: Daemon, prefix: str, count: int) -> dict[str, str]:
    return {p: a for p in (f"{prefix}{i}" for i in range(count)) if (a := add_pod("fast", daemon.endpoints, p))}


def storm(root: Path, seconds: float) -> str:
    daemon = fresh(root, "storm")
    daemon.start()
    try:
        mutating = ["CreateNetworkInterface", "AttachNetworkInterface", "AssignPrivateIpAddresses", "CreateTags"]
        mutating += ["UnassignPrivateIpAddresses", "DeleteNetworkInterface", "DetachNetworkInterface"]
        mutating += ["ModifyNetworkInterfaceAttribute"]
        enis_before = daemon.metric("awscni_eni_allocated")
        daemon.faults(fail=[f"{a}=RequestLimitExceeded" for a in mutating])
        served = refused = 0
        serial = 0
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:  # kubelet keeps starting and stopping pods through the storm
            pod = f"s{serial}"
            serial += 1
            if add_pod("grpc", daemon.endpoints, pod):
                served += 1
                if serial % 3 == 0:
                    del_pod("fast", daemon.endpoints, pod)
            else:
                refused += 1
                time.sleep(0.2)
            if not daemon.alive():
                return "ipamd died during the storm"
        # throttled: calls that failed, or one still retrying (the client's back-off) when the storm ends
        throttled = sum(daemon.metric("awscni_ec2api_error_count", fn=a) for a in mutating)
        throttled += sum(daemon.metric("awscni_ec2api_req_count", fn=a) for a in mutating) - sum(
            daemon.metric("awscni_aws_api_latency_ms_count", api=a, error=e, status=s)
            for a in mutating
            for e, s in (("false", "200"), ("true", "RequestLimitExceeded"))
        )
        daemon.faults(clear=True)
        grew = wait_for(lambda: daemon.metric("awscni_eni_allocated") > enis_before, 180)
        if not served:
            return "no pod was served from the pool during the storm"
        if not throttled:
            return "no throttled call reached the engine"
        if not grew:
            return "the pool did not grow once the storm ended"
        return "survived"
    finally:
        daemon.kill()


def unreachable_at_start(root: Path) -> str:
    daemon = fresh(root, "unreachable", "--sim-fail", "DescribeNetworkInterfaces=EndpointConnectionError:36")
    daemon.start(until="ipamd listening")
    try:
        if daemon.serving():
            return "health said SERVING before node init succeeded"
        if add_pod("fast", daemon.endpoints, "early"):
            return "an address was given before node init"
        if not wait_for(lambda: any(e["msg"] == "ipamd ready" for e in daemon.log()), 180):
            return "never became ready once EC2 answered"
        if not daemon.serving() or not add_pod("grpc", daemon.endpoints, "late"):
            return "not serving after init"
        return "survived"
    finally:
        daemon.kill()


def subnet_exhaustion(root: Path) -> str:
    daemon = fresh(root, "exhaustion", "--no-latency", "--subnet-cidr", "10.0.0.0/26")
    daemon.start()
    try:
        taken = daemon.faults(subnet_used=1000)
        if taken["subnet_free"] != 0:
            return f"the subnet kept {taken['subnet_free']} free addresses"
        held = fill_pool(daemon, "x", 60)
        if len(held) >= 60:
            return "pods got addresses from an exhausted subnet"
        if not daemon.alive():
            return "ipamd died on an exhausted subnet"
        daemon.faults(subnet_used=0)  # capacity returns: after the 120 s back-off the pool grows
        more = wait_for(lambda: add_pod("fast", daemon.endpoints, f"y{time.monotonic_ns()}") is not None, 300)
        return "survived" if more else "the pool did not grow once capacity returned"
    finally:
        daemon.kill()


def damaged_checkpoint(root: Path) -> str:
    daemon = fresh(root, "damaged", "--no-latency")
    daemon.start()
    held = fill_pool(daemon, "c", 6)
    daemon.kill()
    path = daemon.state_dir / "ipam.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated mid-record
    try:
        daemon.start()
        if not any(e["msg"].startswith("checkpoint unreadable") for e in daemon.log()):
            return "the damage was not logged"
        fresh_addresses = set(fill_pool(daemon, "n", 5).values())
        if fresh_addresses & set(held.values()):
            return "an address of a pod whose record was lost was given again"
        pods = [p["IPv4Addr"] for p in daemon.introspect("/v1/pods")]
        return "survived" if len(pods) == len(set(pods)) else "an address is assigned twice"
    finally:
        daemon.kill()


def enospc(root: Path) -> str:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "not run: needs root and unshare(1) for a private tmpfs"
    mount = 'mount -t tmpfs -o size=1m,mode=0755 vpccni-chaos "$0" && exec "$@"'
    state = root / "enospc"
    state.mkdir()
    sockets = root / "enospc-sockets"
    sockets.mkdir()
    prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(state))
    args = (
        *INSTANCE,
        "--no-latency",
        "--grpc-socket",
        str(sockets / "g.sock"),
        "--fast-socket",
        str(sockets / "f.sock"),
    )
    daemon = Daemon(state, args, prefix)
    daemon.start()
    try:
        assert daemon.proc is not None
        inside = Path(f"/proc/{daemon.proc.pid}/root{state}")
        if not add_pod("fast", daemon.endpoints, "kept"):
            return "no address before the disk filled"
        before = [p["IPv4Addr"] for p in daemon.introspect("/v1/pods")]
        with open(inside / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        request = {**_fields("refused"), "pod_name": "refused"}
        reply = wire.call(daemon.endpoints["fast_socket"], {"op": "add", "request": request}, timeout=30)
        if reply.get("ok") or "No space left" not in reply["error"].get("details", ""):
            return f"a full disk did not fail the request clearly: {reply}"
        if [p["IPv4Addr"] for p in daemon.introspect("/v1/pods")] != before or not daemon.alive():
            return "a failed request changed the state"
        (inside / "filler").unlink()
        return "survived" if add_pod("fast", daemon.endpoints, "refused") else "no address once there was room"
    finally:
        daemon.kill()


def bad_frames(root: Path) -> str:
    daemon = fresh(root, "frames", "--no-latency")
    daemon.start()
    try:
        fast, grpc_socket = daemon.endpoints["fast_socket"], daemon.endpoints["grpc_socket"]
        payloads = [
            b"\x00\x00\x00\x05{{{{{",
            os.urandom(4096),
            (2**31).to_bytes(4, "big") + b"{}",  # a length far over the frame limit
            b"VPCCNI1\x00" + b"A" * (3 << 20),  # a plugin frame over its limit
        ]
        for path, payload in [(fast, p) for p in payloads] + [(grpc_socket, os.urandom(8192))]:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
                raw.settimeout(30)
                raw.connect(path)
                try:
                    raw.sendall(payload)
                    raw.shutdown(socket.SHUT_WR)
                    while raw.recv(65536):
                        pass
                except OSError as exc:  # the daemon may close before reading it all: that is the point
                    if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                        raise
        import grpc

        from vpccni.daemon import rpc_pb2, rpc_pb2_grpc

        with grpc.insecure_channel(f"unix:{grpc_socket}") as channel:
            huge = rpc_pb2.AddNetworkRequest(ClientVersion=__version__, ContainerID="h", K8S_POD_NAME="x" * (1 << 20))
            try:
                rpc_pb2_grpc.CNIBackendStub(channel).AddNetwork(huge, timeout=10)
                return "a 1 MiB gRPC message was accepted"
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    return f"oversized gRPC message: {exc.code()}"
        if not daemon.alive() or not wire.call(fast, {"op": "ping"}).get("ok"):
            return "ipamd was affected"
        return "survived" if add_pod("grpc", daemon.endpoints, "after") else "no address after the bad frames"
    finally:
        daemon.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100, help="kill -9 count (default 100)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--storm-seconds", type=float, default=60.0, help="throttling storm length (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="only the kill run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.kills < 0 or args.clients < 1 or args.storm_seconds <= 0:
        parser.error("--kills ≥ 0, --clients ≥ 1 and --storm-seconds > 0")
    with tempfile.TemporaryDirectory(prefix="vpccni-chaos-") as scratch:
        root = Path(scratch)
        result = kill_run(root, args.kills, args.clients, args.seed, progress=not args.json)
        drills: dict[str, Callable[[], str]] = {
            "throttling_storm": lambda: storm(root, args.storm_seconds),
            "ec2_unreachable_at_start": lambda: unreachable_at_start(root),
            "subnet_exhaustion_then_capacity": lambda: subnet_exhaustion(root),
            "damaged_checkpoint": lambda: damaged_checkpoint(root),
            "enospc_on_checkpoint": lambda: enospc(root),
            "garbage_and_oversized_frames": lambda: bad_frames(root),
        }
        faults: dict[str, str] = {}
        for name, drill in ({} if args.no_faults else drills).items():
            if not args.json:
                print(f"  fault: {name} ...", file=sys.stderr)
            try:
                faults[name] = drill()
            except (RuntimeError, OSError, urllib.error.URLError, KeyError, AssertionError) as exc:
                faults[name] = f"{type(exc).__name__}: {exc}"
        result["faults"] = faults
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if key != "faults":
                print(f"{key:<24}{value}")
        for name, outcome in result["faults"].items():
            print(f"fault {name:<34}{outcome}")
    broken = any(result[k] for k in ("lost_acknowledged", "double_assigned", "leaked_ips", "leaked_enis"))
    failed = [n for n, o in result["faults"].items() if o != "survived" and not o.startswith("not run")]
    return 1 if broken or failed else 0


if __name__ == "__main__":
    sys.exit(main())
