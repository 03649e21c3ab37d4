"""EC2 API throttling: a token bucket per action, refilled continuously on the injected clock (ec2 spec §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# (capacity, refill per second) per action; "unfiltered" is the bucket for describes called with
# neither Filters nor pagination.
ACTION_BUCKETS: Final[dict[str, tuple[float, float]]] = {
    "AssignPrivateIpAddresses": (100, 5),
    "UnassignPrivateIpAddresses": (100, 5),
    "CreateNetworkInterface": (100, 5),
    "DeleteNetworkInterface": (100, 5),
    "ModifyNetworkInterfaceAttribute": (100, 5),
    "AssignIpv6Addresses": (100, 5),
    "AttachNetworkInterface": (50, 5),
    "DetachNetworkInterface": (50, 5),
    "CreateTags": (100, 10),
    "DeleteTags": (100, 10),
    "DescribeNetworkInterfaces": (100, 20),
    "DescribeInstances": (100, 20),
    "DescribeSubnets": (100, 20),
    "DescribeInstanceTypes": (100, 20),
    "CreateSubnetCidrReservation": (5, 1),
    "DeleteSubnetCidrReservation": (5, 1),
    "RunInstances": (5, 2),
    "TerminateInstances": (100, 5),
}
UNFILTERED_DESCRIBE = (50.0, 10.0)
UNFILTERED_ACTIONS: Final = frozenset({"DescribeInstances", "DescribeNetworkInterfaces"})
INSTANCE_BUCKETS: Final[dict[str, tuple[float, float]]] = {"RunInstances": (1000, 2), "TerminateInstances": (1000, 20)}
DEFAULT_MUTATING = (50.0, 5.0)
DEFAULT_READ = (100.0, 20.0)


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
            self.updated = now

    def try_take(self, now: float, amount: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens + 1e-9 < amount:
            return False
        self.tokens -= amount
        return True

    def seconds_until(self, now: float, amount: float = 1.0) -> float:
        self._refill(now)
        missing = amount - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.refill_per_second


class Throttler:
    """All buckets of one account and region; `scale` multiplies capacities and rates, `enabled=False` turns it off."""

    def __init__(
        self,
        enabled: bool = True,
        scale: float = 1.0,
        overrides: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.enabled = enabled
        self.scale = scale
        self.overrides = dict(overrides or {})
        self._buckets: dict[str, TokenBucket] = {}

    def _figures(self, key: str, action: str, mutating: bool) -> tuple[float, float]:
        if key in self.overrides:
            return self.overrides[key]
        if action in self.overrides:
            return self.overrides[action]
        if key.endswith(":unfiltered"):
            return UNFILTERED_DESCRIBE
        if key.endswith(":instances"):
            return INSTANCE_BUCKETS[action]
        return ACTION_BUCKETS.get(action, DEFAULT_MUTATING if mutating else DEFAULT_READ)

    def _bucket(self, key: str, action: str, mutating: bool, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity, rate = self._figures(key, action, mutating)
            capacity, rate = capacity * self.scale, rate * self.scale
            bucket = self._buckets[key] = TokenBucket(capacity, rate, capacity, now)
        return bucket

    @staticmethod
    def bucket_key(action: str, unfiltered: bool = False) -> str:
        return f"{action}:unfiltered" if unfiltered and action in UNFILTERED_ACTIONS else action

    def admit(self, action: str, now: float, *, mutating: bool, unfiltered: bool = False, instances: int = 0) -> bool:
        """Take a token for one request (and `instances` resource tokens); False = throttled, nothing taken."""
        if not self.enabled:
            return True
        request = self._bucket(self.bucket_key(action, unfiltered), action, mutating, now)
        resource = (
            self._bucket(f"{action}:instances", action, mutating, now)
            if instances and action in INSTANCE_BUCKETS
            else None
        )
        if request.seconds_until(now) > 0 or (resource and resource.seconds_until(now, instances) > 0):
            return False
        request.try_take(now)
        if resource:
            resource.try_take(now, instances)
        return True

    def wait_time(self, action: str, now: float, *, mutating: bool, unfiltered: bool = False) -> float:
        """Seconds until a request of `action` would be admitted (0 when it would be now)."""
        if not self.enabled:
            return 0.0
        return self._bucket(self.bucket_key(action, unfiltered), action, mutating, now).seconds_until(now)
