"""Group commit: many changes, one durable write; a change is acknowledged only once a write holding it is durable.

Writing the whole checkpoint (temp file, fsync, rename, directory fsync) after every change caps the
daemon at one change per write however many clients wait. Here a change only bumps a generation
(under the owner's lock); one writer thread snapshots the latest state with the generation it
includes, writes it, and wakes every waiter whose generation is now durable. Changes that arrive while
a write is in flight share the next one. A failed write (a full disk) fails exactly the waiters whose
changes it held; a later successful write holds every change still in memory, so it makes them durable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("vpccni.daemon.commit")

RETRY_AFTER_FAILURE = 1.0  # a failed write is retried this much later when no new change asks sooner


class CommitError(Exception):
    """The write that held a change failed; the change is not durable."""


class GroupCommitter:
    """One writer thread for one file's content.

    `snapshot()` is called by the writer and must take the owner's lock itself, returning the content
    and `generation` as read under that lock, so the pair is consistent.
    """

    def __init__(
        self,
        name: str,
        snapshot: Callable[[], tuple[int, bytes]],
        write: Callable[[bytes], None],
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.snapshot = snapshot
        self.write = write
        self.on_write = on_write  # told how many changes each durable write carried
        self.generation = 0  # bumped by mark(), under the owner's lock
        self.durable = 0
        self.failed = 0  # the newest generation a failed write held
        self.failure: BaseException | None = None
        self.writes = 0
        self.changes_written = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"commit-{name}", daemon=True)

    def start(self) -> GroupCommitter:
        self._thread.start()
        return self

    def mark(self) -> int:
        """A change was made (call under the owner's lock); returns its generation."""
        with self._cond:
            self.generation += 1
            self._cond.notify_all()
            return self.generation

    def wait(self, generation: int, timeout: float | None = None) -> None:
        """Block until `generation` is durable; CommitError if the write holding it failed."""
        with self._cond:
            while self.durable < generation:
                if self.failed >= generation:
                    raise CommitError(f"{self.name} not written: {self.failure}")
                if self._closing and not self._thread.is_alive():
                    raise CommitError(f"{self.name} writer stopped")
                if not self._cond.wait(timeout):
                    raise CommitError(f"{self.name} not written within {timeout} s")

    def close(self, timeout: float = 30.0) -> None:
        """Write what is pending, then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the writer -------------------------------------------------------------------------------
    def _pending(self) -> bool:
        return self.durable < self.generation

    def _run(self) -> None:
        try:
            self._write_until_closed()
        finally:
            with self._cond:
                self._cond.notify_all()  # waiters see the writer gone

    def _write_until_closed(self) -> None:
        retry_at_generation = -1  # after a failure, wait for a newer change or the retry delay
        while True:
            with self._cond:
                while not self._closing and (not self._pending() or self.generation == retry_at_generation):
                    if not self._cond.wait(RETRY_AFTER_FAILURE if retry_at_generation >= 0 else None):
                        retry_at_generation = -1  # the delay passed: try again
                if self._closing and (not self._pending() or self.generation == retry_at_generation):
                    return
            generation = self.generation
            try:
                generation, data = self.snapshot()
                self.write(data)
            except Exception as exc:  # reported to every waiter whose change it held, and retried
                log.error("%s write failed: %s: %s", self.name, type(exc).__name__, exc)
                with self._cond:
                    self.failed = max(self.failed, generation)
                    self.failure = exc
                    self._cond.notify_all()
                retry_at_generation = generation
                continue
            with self._cond:
                carried = max(0, generation - self.durable)
                self.changes_written += carried
                self.writes += 1
                self.durable = max(self.durable, generation)
                self._cond.notify_all()
            retry_at_generation = -1
            if self.on_write is not None:
                self.on_write(carried)
