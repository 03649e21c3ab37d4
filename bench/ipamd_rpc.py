"""ipamd round trips: AddNetwork+DelNetwork per second and p50/p99 over the unix socket, for the gRPC
endpoint (grpcio client opening a connection per call, as the reference's plugin does) and for the fast
endpoint (vpccni's plugin, also a connection per call), both carrying the same request fields, with 1,
8 and 32 concurrent clients (separate processes, so the clients do not share a GIL). Each change is
durable before its reply (group commit: concurrent changes share one checkpoint write).

Also AddNetwork latency while a 3 s CreateNetworkInterface is in flight (`--sim-latency`): pods are
served from the pool meanwhile. Starts its own `vpccni ipamd --cloud sim` daemons on temporary state
dirs. Prints figures and ratios measured in the same run; it never fails on time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from vpccni import __version__
from vpccni.cni import wire

SETTINGS = {
    "ENABLE_PREFIX_DELEGATION": "true",
    "MINIMUM_IP_TARGET": "100",
    "WARM_IP_TARGET": "5",
    "IP_COOLDOWN_PERIOD": "0",  # round trips reuse addresses at once instead of draining the pool
}


def start_daemon(
    state_dir: str, args: tuple[str, ...] = ("--instance-type", "m5.4xlarge", "--no-latency"), settings: Any = None
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    log_file = os.path.join(state_dir, "ipamd.log")
    env = {**os.environ, **(SETTINGS if settings is None else settings), "AWS_VPC_K8S_CNI_LOG_FILE": log_file}
    command = [sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim", *args]
    command += ["--state-dir", state_dir, "--metrics-port", "0", "--introspection-port", "0"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(log_file):
            with open(log_file, encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    if entry.get("msg") == "ipamd ready":
                        return proc, entry["endpoints"]
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("ipamd did not start")


def fields(worker: int, i: int) -> dict[str, str]:
    """The same request on both endpoints: what the reference plugin sends for a pod."""
    container = f"w{worker}-{i}"
    return {
        "container_id": container,
        "if_name": "eth0",
        "network_name": "aws-cni",
        "pod_name": container,
        "pod_namespace": "bench",
        "infra_container_id": container,
        "netns": f"/var/run/netns/{container}",
    }


def grpc_worker(args: tuple[str, int, int]) -> list[float]:
    import grpc

    from vpccni.daemon import rpc_pb2, rpc_pb2_grpc

    socket_path, worker, rounds = args
    times = []
    for i in range(rounds):
        f = fields(worker, i)
        common = dict(ClientVersion=__version__, ContainerID=f["container_id"], IfName="eth0", NetworkName="aws-cni")
        pod = dict(
            K8S_POD_NAME=f["pod_name"],
            K8S_POD_NAMESPACE=f["pod_namespace"],
            K8S_POD_INFRA_CONTAINER_ID=f["container_id"],
        )
        t0 = time.perf_counter()
        with grpc.insecure_channel(f"unix:{socket_path}") as channel:  # a connection per call, as the plugin
            added = rpc_pb2_grpc.CNIBackendStub(channel).AddNetwork(
                rpc_pb2.AddNetworkRequest(Netns=f["netns"], **pod, **common)
            )
        with grpc.insecure_channel(f"unix:{socket_path}") as channel:
            rpc_pb2_grpc.CNIBackendStub(channel).DelNetwork(
                rpc_pb2.DelNetworkRequest(Reason="PodDeleted", **pod, **common)
            )
        times.append(time.perf_counter() - t0)
        assert added.Success
    return times


def fast_worker(args: tuple[str, int, int]) -> list[float]:
    socket_path, worker, rounds = args
    times = []
    for i in range(rounds):
        request = {"client_version": __version__, **fields(worker, i)}
        deletion = {k: v for k, v in request.items() if k != "netns"}
        t0 = time.perf_counter()
        added = wire.call(socket_path, {"op": "add", "request": request})
        wire.call(socket_path, {"op": "del", "request": deletion})
        times.append(time.perf_counter() - t0)
        assert added["ok"], added
    return times


def measure(kind: str, socket_path: str, clients: int, rounds: int) -> dict[str, float]:
    worker = grpc_worker if kind == "grpc" else fast_worker
    jobs = [(socket_path, w, rounds) for w in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(worker, [(socket_path, w + 1000, 20) for w in range(clients)])  # warm up
        start = time.perf_counter()
        results = pool.map(worker, jobs)
        wall = time.perf_counter() - start
    times = sorted(t for result in results for t in result)
    rate = round(len(times) / wall, 1)
    return {
        "rt_per_s": rate,
        "round_trips_per_s": rate,
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p99_ms": round(times[max(0, int(len(times) * 0.99) - 1)] * 1000, 3),
    }


def commit_sharing(endpoints: dict[str, Any]) -> tuple[float, float]:
    """(durable checkpoint writes, changes they carried) so far, from the daemon's /metrics."""
    url = f"http://127.0.0.1:{endpoints['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        lines = response.read().decode().splitlines()
    value = {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("vpccni_checkpoint")
    }
    return value.get("vpccni_checkpoint_writes", 0.0), value.get("vpccni_checkpoint_changes", 0.0)


def add_during_eni_create(state_dir: str, windows: int = 5) -> dict[str, Any]:
    """AddNetwork (then DelNetwork, untimed) while a 3 s CreateNetworkInterface is in flight."""
    args = ("--instance-type", "m5.4xlarge", "--no-latency", "--sim-latency", "CreateNetworkInterface=3")
    proc, endpoints = start_daemon(state_dir, args, {"IP_COOLDOWN_PERIOD": "0"})
    socket_path = endpoints["fast_socket"]

    def scrape() -> dict[str, float]:
        url = f"http://127.0.0.1:{endpoints['metrics_port']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        values = {"started": 0.0, "finished": 0.0, "total": 0.0, "assigned": 0.0}
        for line in text.splitlines():
            value = float(line.rsplit(" ", 1)[1]) if " " in line and not line.startswith("#") else 0.0
            if line.startswith('awscni_ec2api_req_count{fn="CreateNetworkInterface"}'):
                values["started"] = value
            elif line.startswith('awscni_aws_api_latency_ms_count{api="CreateNetworkInterface"'):
                values["finished"] += value
            elif line.startswith("awscni_total_ip_addresses "):
                values["total"] = value
            elif line.startswith("awscni_assigned_ip_addresses "):
                values["assigned"] = value
        return values

    def create_in_flight() -> bool:
        values = scrape()
        return values["started"] > values["finished"]

    samples: list[float] = []
    held = 0
    try:
        for window in range(windows):
            # hold pods until the pool is one ENI short (WARM_ENI_TARGET=1, 29 addresses an ENI), then wait for
            # the cycle's CreateNetworkInterface: the pool still has free addresses to serve from meanwhile
            while not create_in_flight():
                values = scrape()
                if values["total"] - values["assigned"] >= 29:
                    request = {"client_version": __version__, **fields(900 + window, held)}
                    held += bool(wire.call(socket_path, {"op": "add", "request": request}).get("ok"))
                else:
                    time.sleep(0.05)
                if held > 300:
                    raise RuntimeError("no CreateNetworkInterface started")
            window_samples = []
            while create_in_flight():
                request = {"client_version": __version__, **fields(1000 + window, len(window_samples))}
                t0 = time.perf_counter()
                added = wire.call(socket_path, {"op": "add", "request": request})
                elapsed = time.perf_counter() - t0
                wire.call(socket_path, {"op": "del", "request": request})
                if added.get("ok"):
                    window_samples.append(elapsed)
            samples += window_samples[:-1]  # the last may have ended after the create did
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    samples.sort()
    return {
        "adds": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 3) if samples else None,
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)] * 1000, 3) if samples else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500, help="round trips per client count (default 500)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    counts = (1, 8, 32)
    with tempfile.TemporaryDirectory() as state_dir:
        proc, endpoints = start_daemon(state_dir)
        try:
            figures: dict[str, Any] = {}
            for clients in counts:
                rounds = max(20, args.rounds // clients)
                for kind, path in (("grpc", endpoints["grpc_socket"]), ("fast", endpoints["fast_socket"])):
                    writes, changes = commit_sharing(endpoints)
                    figures[f"{kind}_{clients}"] = measure(kind, path, clients, rounds)
                    after = commit_sharing(endpoints)
                    shared = (after[1] - changes) / max(after[0] - writes, 1.0)
                    figures[f"{kind}_{clients}"]["changes_per_write"] = round(shared, 2)
                grpc_rate = figures[f"grpc_{clients}"]["rt_per_s"]
                figures[f"fast_over_grpc_rate_{clients}"] = round(figures[f"fast_{clients}"]["rt_per_s"] / grpc_rate, 2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    figures["scaling_8_vs_1"] = {
        kind: round(figures[f"{kind}_8"]["rt_per_s"] / figures[f"{kind}_1"]["rt_per_s"], 2) for kind in ("grpc", "fast")
    }
    with tempfile.TemporaryDirectory() as state_dir:
        figures["add_during_eni_create"] = add_during_eni_create(state_dir)
    if args.json:
        print(json.dumps(figures))
        return
    print("ipamd AddNetwork+DelNetwork round trips over a unix socket (a connection per call; every change durable")
    print("before its reply, concurrent changes sharing one checkpoint write)")
    print(f"{'endpoint':<10}{'clients':>8}{'rt/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'changes/write':>15}")
    for clients in counts:
        for kind in ("grpc", "fast"):
            f = figures[f"{kind}_{clients}"]
            row = f"{kind:<10}{clients:>8}{f['rt_per_s']:>10}{f['p50_ms']:>10}{f['p99_ms']:>10}"
            print(row + f"{f['changes_per_write']:>15}")
        print(f"  fast/gRPC throughput with {clients} client(s): {figures[f'fast_over_grpc_rate_{clients}']}×")
    scaling = figures["scaling_8_vs_1"]
    print(f"8 clients over 1: gRPC {scaling['grpc']}×, fast {scaling['fast']}× (target ≥ 3)")
    during = figures["add_during_eni_create"]
    print(
        f"AddNetwork while a 3 s CreateNetworkInterface is in flight: {during['adds']} adds, "
        f"p50 {during['p50_ms']} ms, p99 {during['p99_ms']} ms (target p99 ≤ 50 ms)"
    )


if __name__ == "__main__":
    main()
