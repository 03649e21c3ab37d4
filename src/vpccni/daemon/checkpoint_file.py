"""The checkpoint on disk: written atomically (temp file, fsync, rename, fsync of the directory).

A crash at any instant leaves either the old file or the new one, never a torn one, so a restarted
ipamd always finds every pod it had handed an address to. In the daemon the datastore's changes are
group-committed (`group_commit.py`): one write carries every change made while the previous one was
in flight, and a reply waits until the write holding its change is durable.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable

from vpccni.daemon.group_commit import CommitError, GroupCommitter
from vpccni.fileio import atomic_write
from vpccni.ipam.checkpoint import CheckpointError, CheckpointWriteError, parse, render
from vpccni.ipam.datastore import Datastore

log = logging.getLogger("vpccni.daemon")


class FileCheckpointStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = 0

    def read(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        atomic_write(self.path, data)
        self.writes += 1

    def keep_if_damaged(self) -> str | None:
        """A checkpoint that does not parse is copied aside (for a post-mortem) before init rewrites it."""
        text = self.read()
        if text is None:
            return None
        try:
            parse(text)
            return None
        except CheckpointError as exc:
            kept = f"{self.path}.damaged"
            shutil.copyfile(self.path, kept)
            log.error("checkpoint %s is damaged (%s); kept as %s", self.path, exc, kept)
            return kept


class GroupCommitCheckpoint:
    """The datastore's checkpoint sink in the daemon, and the backend's durability promise.

    `save` (called by the datastore under the engine lock) only marks a change; the writer thread
    renders the datastore under the same lock and writes it outside it.
    """

    def __init__(
        self,
        store: FileCheckpointStore,
        lock: threading.Lock,
        datastore: Callable[[], Datastore],
        on_write: Callable[[int], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.on_wait = on_wait  # told how long each reply waited for its write
        self.store = store
        self.lock = lock
        self.datastore = datastore
        self.committer = GroupCommitter("checkpoint", self._snapshot, store.write_bytes, on_write)

    def start(self) -> GroupCommitCheckpoint:
        self.committer.start()
        return self

    def save(self, datastore: Datastore) -> None:
        self.committer.mark()

    def generation(self) -> int:
        """The newest change (read under the engine lock, right after making one)."""
        return self.committer.generation

    def wait(self, generation: int) -> None:
        began = time.perf_counter()
        try:
            self.committer.wait(generation)
        except CommitError as exc:
            raise CheckpointWriteError(str(exc)) from None
        finally:
            if self.on_wait is not None:
                self.on_wait(time.perf_counter() - began)

    def close(self) -> None:
        self.committer.close()

    def _snapshot(self) -> tuple[int, bytes]:
        with self.lock:
            return self.committer.generation, render(self.datastore()).encode("utf-8")


def remove_stale_temp_files(path: str) -> int:
    """Temp files a kill -9 left mid-write next to `path` (atomic_write names them .NAME.*.tmp)."""
    directory, name = os.path.split(os.path.abspath(path))
    removed = 0
    for entry in os.listdir(directory):
        if entry.startswith(f".{name}.") and entry.endswith(".tmp"):
            os.unlink(os.path.join(directory, entry))
            removed += 1
    return removed
