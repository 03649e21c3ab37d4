"""A full disk under the checkpoint: the request fails with a clear error and nothing changes; once there is
room again the same request succeeds. The state dir is a 1 MiB tmpfs mounted in the daemon's own mount
namespace (`unshare -m`), so nothing outside the test sees it; the test fills it through /proc/PID/root."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Daemon
from vpccni import __version__
from vpccni.cni import wire

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1) for a private tmpfs"
)
MOUNT_TMPFS = 'mount -t tmpfs -o size=1m,mode=0755 vpccni-test "$0" && exec "$@"'


@pytest.fixture
def daemon_on_tmpfs(tmp_path: Path) -> Iterator[Daemon]:
    state = tmp_path / "state"  # the tmpfs mount point, empty outside the daemon's namespace
    sockets = tmp_path / "sockets"
    state.mkdir()
    sockets.mkdir()
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT_TMPFS, str(state)]
    args = ["--instance-type", "m5.large", "--no-latency"]
    args += ["--grpc-socket", str(sockets / "ipamd.sock"), "--fast-socket", str(sockets / "vpccni.sock")]
    daemon = Daemon(state, args, {}, prefix=prefix, log_path=tmp_path / "ipamd.log")
    try:
        yield daemon.start()
    finally:
        daemon.stop()


def inside(daemon: Daemon, name: str) -> Path:
    """A path in the daemon's tmpfs, reached through its mount namespace."""
    assert daemon.proc is not None
    return Path(f"/proc/{daemon.proc.pid}/root{daemon.state_dir}") / name


def fill(path: Path) -> None:
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def request(op: str, container: str) -> dict[str, Any]:
    fields = {"client_version": __version__, "container_id": container, "if_name": "eth0", "network_name": "aws-cni"}
    return {"op": op, "request": {**fields, "pod_name": container, "pod_namespace": "default"}}


def test_a_full_disk_fails_the_request_clearly_and_changes_nothing(daemon_on_tmpfs: Daemon) -> None:
    daemon = daemon_on_tmpfs
    socket_path = daemon.endpoints["fast_socket"]
    kept = wire.call(socket_path, request("add", "kept"))
    assert kept["ok"]
    checkpoint = inside(daemon, "ipam.json")
    before = checkpoint.read_text()
    pods_before = daemon.introspect("/v1/pods")

    fill(inside(daemon, "filler"))
    refused = wire.call(socket_path, request("add", "refused"))
    assert refused["ok"] is False and refused["error"]["code"] == 11
    assert "No space left on device" in refused["error"]["details"]
    not_released = wire.call(socket_path, request("del", "kept"))
    assert not_released["ok"] is False and "No space left on device" in not_released["error"]["details"]
    assert daemon.introspect("/v1/pods") == pods_before  # neither request changed anything
    assert daemon.metric("awscni_assigned_ip_addresses") == 1
    assert json.loads(checkpoint.read_text()) == json.loads(before)
    assert daemon.proc is not None and daemon.proc.poll() is None

    inside(daemon, "filler").unlink()  # room again: the same requests succeed
    added = wire.call(socket_path, request("add", "refused"))
    released = wire.call(socket_path, request("del", "kept"))
    assert added["ok"] and released["ok"] and released["reply"]["addresses"]
    on_disk = json.loads(checkpoint.read_text())["allocations"]
    assert [a["containerID"] for a in on_disk] == ["refused"]
