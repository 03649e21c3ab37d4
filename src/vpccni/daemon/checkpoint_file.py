"""The checkpoint on disk: written atomically (temp file, fsync, rename, fsync of the directory).

A crash at any instant leaves either the old file or the new one, never a torn one, so a restarted
ipamd always finds every pod it had handed an address to.
"""

from __future__ import annotations

from vpccni.fileio import atomic_write


class FileCheckpointStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = 0

    def read(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, text: str) -> None:
        atomic_write(self.path, text.encode("utf-8"))
        self.writes += 1
