"""Time, injected: the engine and the simulated cloud read time only through a Clock.

The daemon passes a RealClock; the node and cluster simulators pass a VirtualClock, which advances
when asked instead of waiting, so a day of a cluster runs in seconds.
"""

from __future__ import annotations

import math
import threading
import time
from typing import ClassVar, Protocol

# Virtual clocks start at 0; anything shown to people (trail, tags) dates them from this instant,
# 2026-01-01T00:00:00Z. Real clocks already read Unix time.
VIRTUAL_EPOCH = 1767225600.0


class Clock(Protocol):
    @property
    def epoch(self) -> float:
        """The Unix time of reading 0, which turns a reading into a date: the clock's kind decides, not the
        reading's size (0 for a real clock, VIRTUAL_EPOCH for a virtual one)."""
        ...

    def now(self) -> float:
        """Seconds since an arbitrary epoch (virtual clocks start at 0 unless told otherwise)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass: a real clock waits, a virtual one advances."""
        ...


class VirtualClock:
    """A clock that only moves when told to; `sleep` advances it at once."""

    epoch: ClassVar[float] = VIRTUAL_EPOCH  # ClassVar: a class constant, also when compiled (vpccni/native.py)

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

    epoch: ClassVar[float] = 0.0  # it reads Unix time already

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def now(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def utc_iso(seconds: float, epoch: float) -> str:
    """RFC 3339 UTC time of a reading of a clock whose `epoch` is given, e.g. "2026-01-01T00:00:05Z".

    The second `datetime.fromtimestamp(t, UTC)` shows: its microseconds rounded half to even, which can carry
    into the next second. Written with `time` (C calls, no datetime object): ENI tags and the trail ask often."""
    stamp = seconds + epoch
    whole = math.floor(stamp)
    if round((stamp - whole) * 1e6) >= 1_000_000:  # the fraction is exact; its microseconds round up to a second
        whole += 1
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(whole))
