"""Runs batches of simulations on Dask distributed: a local cluster of worker processes, or an existing
cluster given by its scheduler address. Cached runs are served from disk and never sent.

Results come back in request order whatever finishes first, and each run is fixed by its seed, so the
outcome does not depend on the number of workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from vpccni.advise.cache import RunCache, run_key
from vpccni.advise.record import simulate

CONNECT_TIMEOUT = 5.0  # seconds to reach an existing scheduler (the error must come within 10 s)


class SchedulerUnreachable(Exception):
    """The --scheduler address did not answer."""


class ProgressSink(Protocol):
    def planned(self, runs: int) -> None: ...

    def finished(self, runs: int) -> None: ...


class _Silent:
    def planned(self, runs: int) -> None:
        return None

    def finished(self, runs: int) -> None:
        return None


@dataclass
class RunRequest:
    document: dict[str, Any]
    seed: int
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = run_key(self.document, self.seed)


class SweepRunner:
    """A context manager: `with SweepRunner(cache, workers=2) as runner: runner.run(requests)`."""

    def __init__(
        self,
        cache: RunCache,
        workers: int | None = None,
        scheduler: str | None = None,
        processes: bool = True,
        progress: ProgressSink | None = None,
    ) -> None:
        self.cache = cache
        self.workers = workers
        self.scheduler = scheduler
        self.processes = processes
        self.progress: ProgressSink = progress or _Silent()
        self.simulated = 0
        self.cached = 0
        self._memo: dict[str, dict[str, Any]] = {}  # runs already had in this sweep
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> SweepRunner:
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self._client = Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise SchedulerUnreachable(
                    f"--scheduler {self.scheduler}: cannot reach the Dask scheduler: {exc}"
                ) from None
            return self
        self._cluster = LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=self.processes,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            host="127.0.0.1" if self.processes else None,
        )
        self._client = Client(self._cluster, set_as_default=False)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def run(self, requests: Sequence[RunRequest]) -> list[dict[str, Any]]:
        """One record per request, in request order; identical requests are simulated once."""
        from distributed import as_completed

        assert self._client is not None, "use SweepRunner as a context manager"
        records: dict[str, dict[str, Any]] = {}
        todo: dict[str, RunRequest] = {}
        hits = 0
        for request in requests:
            if request.key in records or request.key in todo:
                continue
            if request.key in self._memo:
                records[request.key] = self._memo[request.key]
                continue
            hit = self.cache.get(request.key)
            if hit is not None:
                records[request.key] = self._memo[request.key] = hit
                hits += 1
            else:
                todo[request.key] = request
        self.cached += hits
        self.progress.planned(hits + len(todo))
        self.progress.finished(hits)
        futures = {
            self._client.submit(simulate, r.document, r.seed, key=f"vpccni-advise-{k}", pure=False): k
            for k, r in todo.items()
        }
        try:
            for future in as_completed(list(futures), loop=self._client.loop):
                record = future.result()
                key = futures[future]
                self.cache.put(key, record)
                records[key] = self._memo[key] = record
                self.simulated += 1
                self.progress.finished(1)
        except BaseException:  # Ctrl-C or a rejected scenario: stop what is still queued, then re-raise
            self._client.cancel(list(futures))
            raise
        return [records[r.key] for r in requests]
