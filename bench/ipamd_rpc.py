"""ipamd round trips: AddNetwork+DelNetwork per second and p50/p99 over the unix socket, for the gRPC
endpoint (grpcio client, as the reference's plugin talks) and for the fast endpoint (vpccni's plugin),
with 1 and 8 concurrent clients (separate processes, so the clients do not share a GIL).

Starts its own `vpccni ipamd --cloud sim` on a temporary state dir. Prints figures and the ratio
fast/gRPC measured in the same run; it never fails on time.
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
from typing import Any

from vpccni import __version__
from vpccni.cni import wire

SETTINGS = {
    "ENABLE_PREFIX_DELEGATION": "true",
    "MINIMUM_IP_TARGET": "100",
    "WARM_IP_TARGET": "5",
    "IP_COOLDOWN_PERIOD": "0",  # round trips reuse addresses at once instead of draining the pool
}


def start_daemon(state_dir: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    log_file = os.path.join(state_dir, "ipamd.log")
    env = {**os.environ, **SETTINGS, "AWS_VPC_K8S_CNI_LOG_FILE": log_file}
    command = [sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim", "--instance-type", "m5.4xlarge"]
    command += ["--no-latency", "--state-dir", state_dir, "--metrics-port", "0", "--introspection-port", "0"]
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


def grpc_worker(args: tuple[str, int, int]) -> list[float]:
    import grpc

    from vpccni.daemon import rpc_pb2, rpc_pb2_grpc

    socket_path, worker, rounds = args
    stub = rpc_pb2_grpc.CNIBackendStub(grpc.insecure_channel(f"unix:{socket_path}"))
    times = []
    for i in range(rounds):
        container = f"g{worker}-{i}"
        common = dict(ClientVersion=__version__, ContainerID=container, IfName="eth0", NetworkName="aws-cni")
        t0 = time.perf_counter()
        added = stub.AddNetwork(rpc_pb2.AddNetworkRequest(K8S_POD_NAME=container, K8S_POD_NAMESPACE="b", **common))
        stub.DelNetwork(rpc_pb2.DelNetworkRequest(Reason="PodDeleted", **common))
        times.append(time.perf_counter() - t0)
        assert added.Success
    return times


def fast_worker(args: tuple[str, int, int]) -> list[float]:
    socket_path, worker, rounds = args
    times = []
    for i in range(rounds):
        request = {
            "client_version": __version__,
            "container_id": f"f{worker}-{i}",
            "if_name": "eth0",
            "network_name": "aws-cni",
        }
        t0 = time.perf_counter()
        added = wire.call(socket_path, {"op": "add", "request": request})
        wire.call(socket_path, {"op": "del", "request": request})
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
    return {
        "round_trips_per_s": round(len(times) / wall, 1),
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500, help="round trips per client (default 500)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        proc, endpoints = start_daemon(state_dir)
        try:
            figures: dict[str, Any] = {}
            for clients in (1, 8):
                rounds = max(20, args.rounds // clients)
                for kind, path in (("grpc", endpoints["grpc_socket"]), ("fast", endpoints["fast_socket"])):
                    figures[f"{kind}_{clients}"] = measure(kind, path, clients, rounds)
                grpc_rate = figures[f"grpc_{clients}"]["round_trips_per_s"]
                figures[f"fast_over_grpc_rate_{clients}"] = round(
                    figures[f"fast_{clients}"]["round_trips_per_s"] / grpc_rate, 2
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    if args.json:
        print(json.dumps(figures))
        return
    print("ipamd AddNetwork+DelNetwork round trips over a unix socket (checkpoint fsync'd on every change)")
    print(f"{'endpoint':<10}{'clients':>8}{'rt/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for clients in (1, 8):
        for kind in ("grpc", "fast"):
            f = figures[f"{kind}_{clients}"]
            print(f"{kind:<10}{clients:>8}{f['round_trips_per_s']:>10}{f['p50_ms']:>10}{f['p99_ms']:>10}")
        print(f"  fast/gRPC throughput with {clients} client(s): {figures[f'fast_over_grpc_rate_{clients}']}×")


if __name__ == "__main__":
    main()
