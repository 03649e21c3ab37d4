"""Time, injected: the engine and the simulated cloud read time only through a Clock.

The daemon passes a RealClock; the node and cluster simulators pass a VirtualClock, which advances
when asked instead of waiting, so a day of a cluster runs in seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary epoch (virtual clocks start at 0 unless told otherwise)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass: a real clock waits, a virtual one advances."""
        ...


class VirtualClock:
    """A clock that only moves when told to; `sleep` advances it at once."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds

    def advance_to(self, when: float) -> None:
        """Jump forward to `when` (never backward)."""
        with self._lock:
            self._now = max(self._now, when)


class RealClock:
    """The wall clock (monotonic for intervals, offset to Unix time so trails show real dates)."""

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def now(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# Virtual clocks start at 0; anything shown to people (trail, tags) dates them from this instant,
# 2026-01-01T00:00:00Z. Real clocks already read Unix time.
VIRTUAL_EPOCH = 1767225600.0


def utc_iso(seconds: float) -> str:
    """RFC 3339 UTC time of a clock reading, e.g. "2026-01-01T00:00:05Z"."""
    from datetime import UTC, datetime

    if seconds < 1e9:
        seconds += VIRTUAL_EPOCH
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
