"""The checkpoint on disk: written atomically (temp file, fsync, rename, fsync of the directory).

A crash at any instant leaves either the old file or the new one, never a torn one, so a restarted
ipamd always finds every pod it had handed an address to.
"""

from __future__ import annotations

import os
import tempfile


class FileCheckpointStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.directory = os.path.dirname(os.path.abspath(path))
        self.writes = 0

    def read(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, text: str) -> None:
        os.makedirs(self.directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".ipam-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.writes += 1
