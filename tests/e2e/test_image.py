"""The OCI image `make image` builds (Debian packages + umoci, no registry): containerd imports it and runs
`vpccni ipamd --cloud sim` from it with the host's network, as the DaemonSet does; its /metrics answers,
and the metrics helper reads it.

"Host" is a node network namespace made here, with containerd in a private mount namespace (the same
hermetic containerd as test_containerd.py), so nothing touches the machine's own namespaces.
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

import pytest

from tests.e2e.test_containerd import E2E_PYTHON, Node, _cleanup, _start_containerd, sh
from vpccni import __version__

ROOT = Path(__file__).parents[2]
IMAGE = ROOT / "build" / "image" / "vpccni-image.tar"
REFERENCE = f"vpccni.invalid/vpccni:{__version__}"
NEEDED = ("containerd", "ctr", "runc", "nsenter", "unshare", "ip")
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"

missing = [tool for tool in NEEDED if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing) or not IMAGE.exists() or not os.path.exists(E2E_PYTHON),
    reason=f"needs root, {', '.join(NEEDED)} and the image (run `make e2e`, which builds it with `make image`); "
    f"missing tools: {', '.join(missing) or 'none'}; image present: {IMAGE.exists()}",
)


@pytest.fixture
def node() -> Iterator[Node]:
    tag = uuid.uuid4().hex[:6]
    scratch = Path(tempfile.mkdtemp(prefix="vpci", dir="/tmp"))  # short: unix socket paths < 108 bytes
    node = Node(scratch, f"vpci{tag}", f"vpcimg{tag}")
    try:
        sh("ip", "netns", "add", node.netns)
        node.in_node("ip", "link", "set", "lo", "up")
        _start_containerd(node)
        yield node
    finally:
        _cleanup(node)


def ctr(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    result = sh("ctr", "--address", node.socket, "-n", "vpccni", *args, check=False)
    assert result.returncode == 0, f"ctr {' '.join(args)}: {result.stderr.strip()}"
    return result


def test_the_image_runs_ipamd_with_host_network_and_serves_metrics(node: Node) -> None:
    imported = ctr(node, "images", "import", "--base-name", "vpccni.invalid/vpccni", str(IMAGE))
    assert REFERENCE in ctr(node, "images", "ls", "-q").stdout.split(), imported.stdout + imported.stderr
    container = f"ipamd-{uuid.uuid4().hex[:6]}"
    ipamd = [
        "vpccni",
        "ipamd",
        "--cloud",
        "sim",
        "--no-latency",
        "--instance-type",
        "m5.large",
        "--state-dir",
        "/tmp/ipamd",
    ]
    log = node.scratch / "ipamd-container.log"  # the shim writes it: no fifo between two mount namespaces
    ctr(node, "run", "-d", "--net-host", "--log-uri", f"file://{log}", REFERENCE, container, *ipamd)
    url = "http://127.0.0.1:61678/metrics"
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline:
        fetched = node.in_node(sys.executable, "-c", FETCH, url, check=False)
        text = fetched.stdout
        if "awscni_total_ip_addresses 9.0" in text:
            break
        time.sleep(0.5)
    logged = log.read_text()[-2000:] if log.exists() else "no log"
    assert "awscni_eni_max 3.0" in text and "awscni_total_ip_addresses 9.0" in text, logged
    assert 'awscni_build_info{goversion="3.11.' in text  # Debian bookworm's python3 inside the image
    tasks = ctr(node, "tasks", "ls").stdout
    assert container in tasks and "RUNNING" in tasks

    helper = node.in_node(sys.executable, "-m", "vpccni", "metrics-helper", "--targets", url, "--once", "--json",
                          "--no-cloudwatch", "--port", "-1")  # fmt: skip
    figures = json.loads(helper.stdout)["metrics"]
    assert (figures["eniMaxAvailable"], figures["totalIPAddresses"], figures["maxIPAddresses"]) == (3, 9, 27)

    ctr(node, "tasks", "kill", "--signal", "SIGTERM", container)
    for _ in range(100):
        if "STOPPED" in ctr(node, "tasks", "ls").stdout:
            break
        time.sleep(0.1)
    assert "STOPPED" in ctr(node, "tasks", "ls").stdout
    ctr(node, "tasks", "delete", container)
    ctr(node, "containers", "delete", container)
