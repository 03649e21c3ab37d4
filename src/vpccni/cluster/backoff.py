"""The cluster autoscaler's node-group back-off (cluster spec §2.1 step 2, §2.3 step 7).

A group whose scale-up failed (the cloud refused the instances, or a node did not become Ready within
max-node-provision-time) is not a scale-up option for a while: 5 min after a first failure, doubling per
further failure up to 30 min. A success (a node of the group becoming Ready) forgets the group's
failures, and so do 3 h without a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GroupState:
    duration: float
    until: float
    last_failure: float


@dataclass
class NodeGroupBackoff:
    initial: float = 300.0
    maximum: float = 1800.0
    reset_after: float = 10800.0
    groups: dict[str, GroupState] = field(default_factory=dict)

    def backed_off(self, group: str, now: float) -> bool:
        state = self.groups.get(group)
        return state is not None and now < state.until

    def fail(self, group: str, now: float) -> float:
        """Record a failure at `now`; returns the back-off it starts, in seconds."""
        state = self.groups.get(group)
        if state is None or now - state.last_failure >= self.reset_after:
            duration = self.initial
        else:
            duration = min(state.duration * 2, self.maximum)
        self.groups[group] = GroupState(duration, now + duration, now)
        return duration

    def succeed(self, group: str) -> None:
        self.groups.pop(group, None)
