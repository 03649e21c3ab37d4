"""Pod network setup latency: ADD then DEL of the same N pods through (a) vpccni's plugin + daemon and
(b) the reference Go plugins ptp + host-local (Debian's containernetworking-plugins), both executed as
processes the way a runtime does (fork, exec, wait), in one run.

Everything happens in network namespaces this script creates: a "node" namespace (which this process
enters, as a runtime would run in the host's) and one namespace per pod. Prints median and p95 per
operation, the ratios ours/reference, and the plugin's bare start time (VERSION) against
`python3 -IS -c pass` and ptp's VERSION. Needs root; never fails on time.

DEL differs: ours leaves the veth to the kernel's namespace teardown (as the reference AWS plugin does),
ptp deletes it inside DEL. So each pod's namespace teardown is timed too, on both sides, until its
host-side interface is gone (`ratio_add_del_teardown` compares the whole pod lifecycle). Where our time
goes is split from ipamd's own summaries: plugin start, socket and process overhead, engine, datapath,
checkpoint wait.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

IP = shutil.which("ip") or "/usr/sbin/ip"
REFERENCE_DIR = "/usr/lib/cni"
CLONE_NEWNET = 0x40000000
ROOT = Path(__file__).resolve().parents[1]
METRICS_PORT = 61678  # in the bench's own node namespace: nothing else listens there


def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


def enter(netns: str) -> None:
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


def timed(command: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, input=stdin, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} {env.get('CNI_COMMAND')} failed: {result.stdout!r} {result.stderr!r}")
    return elapsed, result.stdout


def cni_env(command: str, index: int, netns: str) -> dict[str, str]:
    """The variables a runtime sets for one pod (kubelet-style CNI_ARGS)."""
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"bench{index}",
        "CNI_NETNS": f"/var/run/netns/{netns}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": REFERENCE_DIR,
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={netns}",
    }


def run_pods(
    plugin: str, conf: dict[str, Any], pods: list[str], between: Callable[[], None] | None = None
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """ADD every pod, then DEL every pod with its ADD result as prevResult; times in ms, and each pod's
    host-side interface (from its result)."""
    adds, dels, results = [], [], {}
    for i, netns in enumerate(pods):
        elapsed, out = timed([plugin], cni_env("ADD", i, netns), json.dumps(conf).encode())
        adds.append(elapsed)
        results[netns] = json.loads(out)
    if between is not None:
        between()
    for i, netns in enumerate(pods):
        prev = json.dumps({**conf, "prevResult": results[netns]}).encode()
        elapsed, _ = timed([plugin], cni_env("DEL", i, netns), prev)
        dels.append(elapsed)
    return {"add": adds, "del": dels}, {netns: results[netns]["interfaces"][0]["name"] for netns in pods}


def interface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def teardown(host_sides: dict[str, str]) -> list[float]:
    """Delete each pod's namespace and wait until its host-side interface is gone (ms each)."""
    times = []
    for netns, host_side in host_sides.items():
        start = time.perf_counter()
        sh(IP, "netns", "del", netns)
        while interface_exists(host_side):
            time.sleep(0.0002)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summaries() -> dict[str, tuple[float, float]]:
    """ipamd's vpccni_* summaries as {series: (sum, count)} from /metrics."""
    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line.startswith("vpccni_") or not ("_sum" in line or "_count" in line):
            continue
        name, value = line.rsplit(" ", 1)
        series = name.replace("_sum", "", 1) if "_sum" in name else name.replace("_count", "", 1)
        out.setdefault(series, [0.0, 0.0])[0 if "_sum" in name else 1] = float(value)
    return {k: (v[0], v[1]) for k, v in out.items()}


def mean_ms(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], series: str) -> float:
    total = after.get(series, (0.0, 0.0))[0] - before.get(series, (0.0, 0.0))[0]
    count = after.get(series, (0.0, 0.0))[1] - before.get(series, (0.0, 0.0))[1]
    return round(total / count * 1000, 3) if count else 0.0


def breakdown(
    total_ms: float, plugin_start_ms: float, before: dict[str, Any], after: dict[str, Any], command: str, op: str
) -> dict[str, float]:
    """A plugin call's median split into plugin start, socket/process overhead, engine, datapath, checkpoint."""
    request = mean_ms(before, after, f'vpccni_cni_request_seconds{{command="{command}"}}')
    datapath = mean_ms(before, after, f'vpccni_datapath_seconds{{op="{op}"}}')
    checkpoint = mean_ms(before, after, "vpccni_checkpoint_wait_seconds")
    return {
        "plugin_start_ms": plugin_start_ms,
        "socket_and_process_ms": round(max(0.0, total_ms - plugin_start_ms - request), 3),
        "engine_ms": round(max(0.0, request - datapath - checkpoint), 3),
        "datapath_ms": datapath,
        "checkpoint_ms": checkpoint,
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def start_times(plugin: str) -> dict[str, float]:
    def median_of(command: list[str], env: dict[str, str], stdin: bytes = b"{}") -> float:
        runs = []
        for i in range(23):
            start = time.perf_counter()
            subprocess.run(command, env=env, input=stdin, capture_output=True, check=True)
            if i >= 3:
                runs.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(runs), 2)

    return {
        "ours_version_ms": median_of([plugin], {"CNI_COMMAND": "VERSION"}),
        "python_IS_pass_ms": median_of(["/usr/bin/python3", "-IS", "-c", "pass"], {}),
        "ptp_version_ms": median_of([f"{REFERENCE_DIR}/ptp"], {"CNI_COMMAND": "VERSION"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100, help="pods per side (default 100)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if os.geteuid() != 0 or not os.path.exists(f"{REFERENCE_DIR}/ptp"):
        print("cni_latency: needs root and containernetworking-plugins (apt-get install containernetworking-plugins)")
        return
    tag = uuid.uuid4().hex[:5]
    node = f"vpcb{tag}"
    ours = [f"vpcb{tag}o{i}" for i in range(args.pods + 3)]
    ref = [f"vpcb{tag}r{i}" for i in range(args.pods + 3)]
    scratch = Path(tempfile.mkdtemp(prefix="vpccni-bench-"))
    daemon = None
    try:
        for name in [node, *ours, *ref]:
            sh(IP, "netns", "add", name)
        sh(IP, "netns", "exec", node, IP, "link", "set", "lo", "up")
        sh(IP, "netns", "exec", node, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        from vpccni.cni.install import install

        install(scratch / "bin", scratch / "conf", socket_path=str(scratch / "vpccni.sock"), cni_version="1.0.0")
        plugin = str(scratch / "bin" / "aws-cni")
        env = {
            **os.environ,
            "ENABLE_PREFIX_DELEGATION": "true",
            "MINIMUM_IP_TARGET": str(args.pods + 20),
            "WARM_IP_TARGET": "5",
            "AWS_VPC_K8S_CNI_LOG_FILE": str(scratch / "ipamd.log"),
            "AWS_VPC_K8S_CNI_LOGLEVEL": "WARN",
        }
        command = [IP, "netns", "exec", node, sys.executable, "-m", "vpccni", "ipamd", "--cloud", "sim"]
        command += ["--instance-type", "m5.4xlarge", "--no-latency", "--datapath", "--state-dir", str(scratch)]
        command += ["--metrics-port", str(METRICS_PORT), "--introspection-port", "-1"]
        daemon = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (scratch / "vpccni.sock").exists():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("ipamd did not start")
            time.sleep(0.05)
        time.sleep(0.5)
        enter(node)  # from here on this process is the "runtime" in the node namespace
        ours_conf = json.loads((scratch / "conf" / "10-aws.conflist").read_text())["plugins"][0]
        ours_conf = {**ours_conf, "cniVersion": "1.0.0", "name": "aws-cni"}
        ref_conf = {
            "cniVersion": "1.0.0",
            "name": "refnet",
            "type": "ptp",
            "mtu": 9001,
            "ipam": {"type": "host-local", "subnet": "10.213.0.0/16", "dataDir": str(scratch / "host-local")},
        }
        run_pods(plugin, ours_conf, ours[:3])  # warm-up
        run_pods(f"{REFERENCE_DIR}/ptp", ref_conf, ref[:3])
        scrapes = [summaries()]
        mine, ours_hosts = run_pods(plugin, ours_conf, ours[3:], between=lambda: scrapes.append(summaries()))
        scrapes.append(summaries())
        theirs, ref_hosts = run_pods(f"{REFERENCE_DIR}/ptp", ref_conf, ref[3:])
        mine["teardown"] = teardown(ours_hosts)
        theirs["teardown"] = teardown(ref_hosts)
        starts = start_times(plugin)
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
        for name in [*ours, *ref, node]:
            subprocess.run([IP, "netns", "del", name], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    pairs_ours = [a + d for a, d in zip(mine["add"], mine["del"], strict=True)]
    pairs_ref = [a + d for a, d in zip(theirs["add"], theirs["del"], strict=True)]
    whole_ours = [p + t for p, t in zip(pairs_ours, mine["teardown"], strict=True)]
    whole_ref = [p + t for p, t in zip(pairs_ref, theirs["teardown"], strict=True)]
    start_ms = starts["ours_version_ms"]
    figures = {
        "pods": args.pods,
        "ours_add_ms_median": med(mine["add"]),
        "ours_add_ms_p95": round(p95(mine["add"]), 2),
        "ours_del_ms_median": med(mine["del"]),
        "ours_del_ms_p95": round(p95(mine["del"]), 2),
        "ref_add_ms_median": med(theirs["add"]),
        "ref_add_ms_p95": round(p95(theirs["add"]), 2),
        "ref_del_ms_median": med(theirs["del"]),
        "ref_del_ms_p95": round(p95(theirs["del"]), 2),
        "ratio_add": round(med(mine["add"]) / med(theirs["add"]), 2),
        "ratio_del": round(med(mine["del"]) / med(theirs["del"]), 2),
        "ratio_add_del": round(med(pairs_ours) / med(pairs_ref), 2),
        "ours_teardown_ms_median": med(mine["teardown"]),
        "ref_teardown_ms_median": med(theirs["teardown"]),
        "ratio_add_del_teardown": round(med(whole_ours) / med(whole_ref), 2),
        **starts,
        "breakdown": {
            "add": breakdown(med(mine["add"]), start_ms, scrapes[0], scrapes[1], "ADD", "add"),
            "del": breakdown(med(mine["del"]), start_ms, scrapes[1], scrapes[2], "DEL", "delete"),
        },
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"CNI ADD then DEL of {args.pods} pods, plugin executed per operation (ms)")
    print(f"{'':24}{'median':>9}{'p95':>9}")
    for label, key in (
        ("ours ADD", "ours_add"),
        ("ours DEL", "ours_del"),
        ("ptp+host-local ADD", "ref_add"),
        ("ptp+host-local DEL", "ref_del"),
    ):
        print(f"{label:24}{figures[key + '_ms_median']:>9}{figures[key + '_ms_p95']:>9}")
    print(
        f"ratio ours/reference: ADD {figures['ratio_add']}×, DEL {figures['ratio_del']}×, "
        f"ADD+DEL {figures['ratio_add_del']}× (target ≤ 1.0; our DEL leaves the veth to the netns teardown)"
    )
    print(
        f"namespace teardown until the host-side interface is gone: ours {figures['ours_teardown_ms_median']} ms, "
        f"ptp {figures['ref_teardown_ms_median']} ms; ADD+DEL+teardown {figures['ratio_add_del_teardown']}×"
    )
    print(
        f"bare start (VERSION): ours {starts['ours_version_ms']} ms, python3 -IS -c pass "
        f"{starts['python_IS_pass_ms']} ms, ptp {starts['ptp_version_ms']} ms"
    )
    print("where our median goes (ms):")
    for command, parts in figures["breakdown"].items():
        print(f"  {command.upper():<4}" + ", ".join(f"{k[:-3].replace('_', ' ')} {v}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
