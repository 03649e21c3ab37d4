"""containerd + runc as the real CNI client, through the CRI as kubelet drives it (runtime-e2e spec).

Everything runs inside a node network namespace made here: the daemon, and containerd in a private
mount namespace with overlays on /run and /var/lib, state under a scratch directory. Nothing touches the
machine's own namespaces or fixed paths. Root only; `make e2e` installs what it needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Daemon
from tests.e2e import oci_image
from tests.netns.conftest import PING

ROOT = Path(__file__).parents[2]
E2E_PYTHON = os.environ.get("VPCCNI_E2E_PYTHON", str(ROOT / ".venv-e2e" / "bin" / "python"))
DRIVER = Path(__file__).with_name("cri_driver.py")
PAUSE = "vpccni.invalid/pause:1"
NEEDED = ("containerd", "ctr", "runc", "nsenter", "unshare", "ip")

missing = [tool for tool in NEEDED if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing) or not os.path.exists("/bin/busybox") or not os.path.exists(E2E_PYTHON),
    reason=f"needs root, {', '.join(NEEDED)}, busybox-static and the e2e interpreter (run `make e2e`); "
    f"missing: {', '.join(missing) or 'none'}",
)


def sh(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, env=env)


class Node:
    def __init__(self, scratch: Path, netns: str, cgroup: str) -> None:
        self.scratch, self.netns, self.cgroup = scratch, netns, cgroup
        self.socket = str(scratch / "c.sock")
        self.daemon: Daemon | None = None
        self.containerd_pid: int | None = None

    def in_node(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("nsenter", f"--net=/run/netns/{self.netns}", *args, check=check)

    def cri(self, command: str, args: dict[str, Any] | None = None) -> Any:
        result = sh(E2E_PYTHON, str(DRIVER), self.socket, command, json.dumps(args or {}))
        return json.loads(result.stdout)


def _start_containerd(node: Node) -> None:
    s = node.scratch
    for sub in ("root", "state", "opt", "cni/bin", "cni/net.d", "ov/run-up", "ov/run-work", "ov/lib-up", "ov/lib-work"):
        (s / sub).mkdir(parents=True, exist_ok=True)
    (s / "containerd.toml").write_text(
        f"""version = 2
root = "{s}/root"
state = "{s}/state"
[grpc]
  address = "{s}/c.sock"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{PAUSE}"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{s}/cni/bin"
      conf_dir = "{s}/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "{s}/opt"
"""
    )
    script = (
        'mount -t overlay overlay -o "lowerdir=/run,upperdir=$0/ov/run-up,workdir=$0/ov/run-work" /run && '
        'mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$0/ov/lib-up,workdir=$0/ov/lib-work" /var/lib && '
        'exec containerd --config "$0/containerd.toml"'
    )
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VPCCNI_DAEMON_SOCKET": str(s / "vpccni.sock"),  # reaches every plugin containerd runs
    }
    with open(s / "containerd.log", "ab") as log:
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node.netns}", "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script, str(s)],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    node.containerd_pid = proc.pid  # nsenter, unshare and sh exec: this is containerd
    (s / "containerd.mntns").write_text(os.readlink(f"/proc/{proc.pid}/ns/mnt") if _alive(proc.pid) else "")
    deadline = time.monotonic() + 30
    while not os.path.exists(node.socket):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("containerd did not start: " + (s / "containerd.log").read_text()[-2000:])
        time.sleep(0.05)
    time.sleep(0.2)
    (s / "containerd.mntns").write_text(os.readlink(f"/proc/{proc.pid}/ns/mnt"))


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _cleanup(node: Node) -> None:
    s = node.scratch
    if os.path.exists(node.socket):
        sh(E2E_PYTHON, str(DRIVER), node.socket, "remove-all", check=False)
    if node.containerd_pid and _alive(node.containerd_pid):
        os.kill(node.containerd_pid, 15)
        for _ in range(100):
            if not _alive(node.containerd_pid):
                break
            time.sleep(0.1)
    mntns = (s / "containerd.mntns").read_text() if (s / "containerd.mntns").exists() else ""
    if mntns:  # shims and sandboxes share containerd's mount namespace: end each by PID
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == mntns:
                        os.kill(int(entry), 9)
                except OSError:
                    pass
    if node.daemon is not None:
        node.daemon.stop()
    sh("ip", "netns", "del", node.netns, check=False)
    for hierarchy in Path("/sys/fs/cgroup").glob("*"):
        target = hierarchy / node.cgroup
        if target.is_dir():
            for directory in sorted(target.rglob("*"), key=lambda p: -len(p.parts)):
                if directory.is_dir():
                    directory.rmdir()
            target.rmdir()
    if (Path("/sys/fs/cgroup") / node.cgroup).is_dir():
        (Path("/sys/fs/cgroup") / node.cgroup).rmdir()
    shutil.rmtree(s, ignore_errors=True)


@pytest.fixture(params=["0.4.0", "1.0.0"])
def node(request: pytest.FixtureRequest) -> Iterator[tuple[Node, str]]:
    tag = uuid.uuid4().hex[:6]
    scratch = Path(tempfile.mkdtemp(prefix="vpce", dir="/tmp"))  # short: unix socket paths < 108 bytes
    node = Node(scratch, f"vpce{tag}", f"vpce2e{tag}")
    try:
        sh("ip", "netns", "add", node.netns)
        node.in_node("ip", "link", "set", "lo", "up")
        node.in_node("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
        node.in_node("ip", "addr", "add", "10.0.0.1/24", "dev", "eth0")
        node.in_node("ip", "link", "set", "eth0", "up")
        node.in_node("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        daemon = Daemon(
            scratch,
            ["--datapath", "--no-latency", "--instance-type", "m5.large"],
            {},
            prefix=["nsenter", f"--net=/run/netns/{node.netns}"],
        )
        node.daemon = daemon.start()
        version = request.param
        sh(sys.executable, "-m", "vpccni", "install-cni", "--bin-dir", str(scratch / "cni" / "bin"),
           "--conf-dir", str(scratch / "cni" / "net.d"), "--cni-version", version,
           "--daemon-socket", str(scratch / "vpccni.sock"))  # fmt: skip
        os.remove(scratch / "cni" / "bin" / "vpccni")
        os.symlink("/usr/lib/cni/loopback", scratch / "cni" / "bin" / "loopback")
        _start_containerd(node)
        rootfs = oci_image.busybox_rootfs(scratch / "rootfs")
        oci_image.build(rootfs, scratch / "pause.tar", PAUSE, ["/bin/sleep", "2147483"])
        sh("ctr", "--address", node.socket, "-n", "k8s.io", "images", "import", str(scratch / "pause.tar"))
        yield node, version
    finally:
        _cleanup(node)


def test_pods_through_cri_get_addresses_routes_and_release_them(node: tuple[Node, str]) -> None:
    n, _version = node
    assert n.cri("status") == {"runtime_ready": True, "network_ready": True}
    pods = []
    for i in range(3):
        pod = n.cri("run", {"name": f"web-{i}", "namespace": "e2e", "uid": f"uid-{i}", "cgroup_parent": f"/{n.cgroup}"})
        assert pod["state"] == "SANDBOX_READY" and pod["ip"].startswith("10.0.0."), pod
        pods.append(pod)
    assert len({p["ip"] for p in pods}) == 3
    assert n.daemon is not None
    assert {p["IPv4Addr"] for p in n.daemon.introspect("/v1/pods")} == {p["ip"] for p in pods}
    rules = n.in_node("ip", "rule").stdout
    for pod in pods:
        view = sh("nsenter", "-t", str(pod["pid"]), "-n", "ip", "-4", "-o", "addr", "show", "eth0").stdout
        assert f"inet {pod['ip']}/32" in view
        routes = sh("nsenter", "-t", str(pod["pid"]), "-n", "ip", "route").stdout
        assert "default via 169.254.1.1 dev eth0" in routes
        neighbour = sh("nsenter", "-t", str(pod["pid"]), "-n", "ip", "neigh", "show", "169.254.1.1").stdout
        assert "PERMANENT" in neighbour
        assert f"512:\tfrom all to {pod['ip']} lookup main" in rules
    reached = n.in_node("python3", "-c", PING, *(p["ip"] for p in pods)).stdout.split()
    assert sorted(reached) == sorted(p["ip"] for p in pods)  # node → every pod
    pod_to_pod = sh("nsenter", "-t", str(pods[0]["pid"]), "-n", "python3", "-c", PING, pods[1]["ip"]).stdout.split()
    assert pod_to_pod == [pods[1]["ip"]]

    for pod in pods:  # StopPodSandbox → DEL, RemovePodSandbox → second DEL (empty netns, no prevResult)
        assert n.cri("stop-remove", {"id": pod["id"]}) == {}
    rules = n.in_node("ip", "rule").stdout
    routes = n.in_node("ip", "route").stdout
    assert "512:" not in rules and not any(p["ip"] in routes for p in pods)
    assert n.daemon.introspect("/v1/pods") == []
    assert n.daemon.metric("awscni_del_ip_req_count", reason="PodDeleted") == 6  # two DELs per pod
