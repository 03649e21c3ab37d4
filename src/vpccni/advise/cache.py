"""On-disk cache of finished runs, so a re-run (or a wider --space) only simulates what is new.

Key: the variant's canonical JSON (scenario content with the candidate's settings and any workload
scale already applied), the seed, the vpccni version and a fingerprint of the simulator's source —
the version alone would serve stale results while the simulator changes between releases. Each entry
is one JSON file written atomically, so an interrupted sweep leaves only whole entries behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import vpccni
from vpccni.fileio import atomic_write

log = logging.getLogger(__name__)

ENV_VAR = "VPCCNI_CACHE_DIR"
SIMULATOR_PACKAGES = ("catalog", "cloud", "cluster", "ipam")


def default_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vpccni" / "advise"


@lru_cache(maxsize=1)
def simulator_fingerprint() -> str:
    """A digest of the simulator's source files and data (what a run's result depends on)."""
    root = Path(vpccni.__file__).parent
    digest = hashlib.sha256()
    for package in SIMULATOR_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".csv") and path.is_file():
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_key(document: dict[str, Any], seed: int) -> str:
    payload = {
        "scenario": document,
        "seed": seed,
        "version": vpccni.__version__,
        "simulator": simulator_fingerprint(),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class RunCache:
    def __init__(self, directory: Path | None) -> None:
        """`None` disables caching (every run is simulated)."""
        self.directory = directory

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # a damaged entry is simulated again, not trusted
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        if self.directory is None:
            return
        try:
            atomic_write(str(self._path(key)), json.dumps(record, sort_keys=True).encode())
        except OSError as exc:  # a full disk costs a re-simulation later, not this sweep
            log.warning("cannot cache a finished run in %s: %s", self.directory, exc)


def usable_dir(directory: Path) -> str | None:
    """Why `directory` cannot hold the cache, or None when it can (created if missing)."""
    if directory.exists() and not directory.is_dir():
        return "is not a directory"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create it: {exc.strerror or exc}"
    if not os.access(directory, os.W_OK):
        return "not writable"
    return None
