"""Group commit in process: changes made during a write share the next one; a failed write fails exactly
the changes it held; a reply is sent only once its change is on disk. Ordered by events, never by time."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import pytest

from vpccni import __version__
from vpccni.daemon.checkpoint_file import FileCheckpointStore, GroupCommitCheckpoint, remove_stale_temp_files
from vpccni.daemon.group_commit import CommitError, GroupCommitter
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest
from vpccni.ipam.checkpoint import CheckpointWriteError
from vpccni.nodesim import NodeSimSpec, NodeSimulation


class GatedWriter:
    """A write that blocks until the test opens the gate; records what each write carried."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.written: list[bytes] = []
        self.fail_with: OSError | None = None

    def __call__(self, data: bytes) -> None:
        self.started.set()
        assert self.gate.wait(30)
        if self.fail_with is not None:
            raise self.fail_with
        self.written.append(data)


def committer_for(state: list[int], writer: GatedWriter) -> tuple[GroupCommitter, threading.Lock]:
    lock = threading.Lock()

    def snapshot() -> tuple[int, bytes]:
        with lock:
            return committer.generation, json.dumps(state).encode()

    committer = GroupCommitter("test", snapshot, writer)
    return committer.start(), lock


def change(committer: GroupCommitter, lock: threading.Lock, state: list[int], value: int) -> int:
    with lock:
        state.append(value)
        return committer.mark()


def test_changes_made_during_a_write_share_the_next_write() -> None:
    state: list[int] = []
    writer = GatedWriter()
    committer, lock = committer_for(state, writer)
    first = change(committer, lock, state, 1)
    assert writer.started.wait(30)  # the write of change 1 is in flight
    later = [change(committer, lock, state, v) for v in (2, 3, 4)]
    writer.gate.set()
    for generation in (first, *later):
        committer.wait(generation, timeout=30)
    committer.close()
    assert [json.loads(w) for w in writer.written] == [[1], [1, 2, 3, 4]]
    assert (committer.writes, committer.changes_written) == (2, 4)


def test_a_failed_write_fails_the_changes_it_held_and_a_later_write_makes_them_durable() -> None:
    state: list[int] = []
    writer = GatedWriter()
    writer.fail_with = OSError(errno.ENOSPC, "No space left on device")
    committer, lock = committer_for(state, writer)
    first = change(committer, lock, state, 1)
    assert writer.started.wait(30)
    writer.gate.set()
    with pytest.raises(CommitError, match="No space left on device"):
        committer.wait(first, timeout=30)
    writer.fail_with = None  # space again: the next change's write holds change 1 too
    second = change(committer, lock, state, 2)
    committer.wait(second, timeout=30)
    committer.wait(first, timeout=30)  # durable now: the successful write held it
    committer.close()
    assert [json.loads(w) for w in writer.written] == [[1, 2]]


def test_close_writes_what_is_pending() -> None:
    state: list[int] = []
    writer = GatedWriter()
    writer.gate.set()
    committer, lock = committer_for(state, writer)
    generation = change(committer, lock, state, 7)
    committer.close()
    assert committer.durable >= generation and json.loads(writer.written[-1]) == [7]


class FullDisk(FileCheckpointStore):
    """A checkpoint file whose writes fail with ENOSPC while `full` is set."""

    full = False

    def write_bytes(self, data: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_bytes(data)


def backend_on_disk(tmp_path: Path) -> tuple[CniBackend, FullDisk, GroupCommitCheckpoint]:
    sim = NodeSimulation(NodeSimSpec("m5.large", pods=0))
    sim.start()
    lock = threading.Lock()
    disk = FullDisk(str(tmp_path / "ipam.json"))
    checkpoint = GroupCommitCheckpoint(disk, lock, lambda: sim.ipam.ds)
    sim.ipam.ds.checkpoint = checkpoint
    sim.ipam.lock = lock
    return CniBackend(sim.ipam, __version__, checkpoint.start()), disk, checkpoint


def add(container: str) -> AddRequest:
    return AddRequest(__version__, container, "eth0", "aws-cni", pod_name=container, pod_namespace="default")


def test_a_reply_follows_the_write_that_holds_it_and_a_full_disk_changes_nothing(tmp_path: Path) -> None:
    backend, disk, checkpoint = backend_on_disk(tmp_path)
    lock = backend.node.lock
    assert lock is not None
    with lock:
        reply = backend.add_network(add("p1"))
    on_disk = json.loads((tmp_path / "ipam.json").read_text())["allocations"]
    assert reply.success and [a["ipv4"] for a in on_disk] == [reply.addresses[0].ipv4]

    disk.full = True
    with lock:
        refused = backend.add_network(add("p2"))
        assert not refused.success and "No space left on device" in refused.reason
        assert [k.container_id for k, *_ in backend.node.ds.allocations()] == ["p1"]  # p2 was taken back
        with pytest.raises(CheckpointWriteError):
            backend.del_network(DelRequest(__version__, "p1", "eth0", "aws-cni"))
        assert [k.container_id for k, *_ in backend.node.ds.allocations()] == ["p1"]  # p1 kept its address
    assert json.loads((tmp_path / "ipam.json").read_text())["allocations"] == on_disk

    disk.full = False
    with lock:
        again = backend.add_network(add("p2"))
        released = backend.del_network(DelRequest(__version__, "p1", "eth0", "aws-cni"))
    assert again.success and released.addresses[0].ipv4 == reply.addresses[0].ipv4
    on_disk = json.loads((tmp_path / "ipam.json").read_text())["allocations"]
    assert [(a["containerID"], a["ipv4"]) for a in on_disk] == [("p2", again.addresses[0].ipv4)]
    checkpoint.close()


def test_temp_files_a_crash_left_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "ipam.json"
    (tmp_path / ".ipam.json.abc123.tmp").write_text("{")
    (tmp_path / ".other.json.x.tmp").write_text("{")
    assert remove_stale_temp_files(str(target)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.x.tmp"]


def test_a_cni_del_on_a_full_disk_is_a_clear_try_again(tmp_path: Path) -> None:
    from vpccni.cni.service import CniService, Invocation

    backend, disk, checkpoint = backend_on_disk(tmp_path)
    lock = backend.node.lock
    assert lock is not None
    service = CniService(backend, lock, None)
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x", "CNI_PATH": "/"}
    conf = json.dumps({"cniVersion": "1.0.0", "name": "aws-cni", "type": "aws-cni"}).encode()
    assert service.handle(Invocation("ADD", env, conf, None))[0] == 0
    disk.full = True
    status, out = service.handle(Invocation("DEL", {**env, "CNI_COMMAND": "DEL"}, conf, None))
    error = json.loads(out)
    assert (status, error["code"]) == (1, 11) and "No space left on device" in error["details"]
    assert [k.container_id for k, *_ in backend.node.ds.allocations()] == ["c1"]
    disk.full = False
    assert service.handle(Invocation("DEL", {**env, "CNI_COMMAND": "DEL"}, conf, None)) == (0, b"")
    assert backend.node.ds.allocations() == []
    checkpoint.close()
