"""How a long run reports where it is, and how it is asked to stop early (Ctrl-C) and summarise so far."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunProgress:
    run: str
    virtual_seconds: float
    duration: float
    events: int
    wall_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0


class StopRequest:
    """Set from a signal handler: a run stops between two events, and the runs after it do not start."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True
