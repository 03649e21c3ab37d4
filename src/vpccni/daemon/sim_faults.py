"""Fault knobs for the daemon's simulated cloud: `--sim-latency ACTION=SECONDS`, `--sim-fail ACTION=CODE[:COUNT]`.

A slow or failing EC2 is what the daemon must survive; these let a test or an operator make the
simulated account slow (extra seconds on every call of one action) or failing (the next COUNT calls
of one action answer with an EC2 error code; no COUNT: until the daemon restarts).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

from vpccni.cloud.sim import SimCloud

ACTIONS = frozenset(
    {
        "AssignPrivateIpAddresses",
        "AttachNetworkInterface",
        "CreateNetworkInterface",
        "CreateTags",
        "DeleteNetworkInterface",
        "DeleteTags",
        "DescribeInstanceTypes",
        "DescribeInstances",
        "DescribeNetworkInterfaces",
        "DescribeSubnets",
        "DetachNetworkInterface",
        "ModifyNetworkInterfaceAttribute",
        "UnassignPrivateIpAddresses",
    }
)
MUTATING = frozenset(a for a in ACTIONS if not a.startswith("Describe"))
UNTIL_RESTART = sys.maxsize
_LATENCY = re.compile(r"([A-Za-z]+)=([0-9]+(?:\.[0-9]*)?)")
_FAIL = re.compile(r"([A-Za-z]+)=([A-Za-z][A-Za-z0-9.]*)(?::([0-9]+))?")


class FaultSpecError(ValueError):
    """A knob that does not parse; the message names the flag and what was expected."""


@dataclass(frozen=True)
class SimFaults:
    latency: tuple[tuple[str, float], ...] = ()
    failures: tuple[tuple[str, str, int], ...] = ()  # (action, code, count)

    def apply(self, cloud: SimCloud) -> None:
        for action, seconds in self.latency:
            cloud.add_latency(action, seconds)
        for action, code, count in self.failures:
            cloud.fail_next(action, code, count=count, message=f"Injected by --sim-fail: {code}")


def _action(flag: str, text: str, action: str) -> str:
    if action in ACTIONS:
        return action
    known = ", ".join(sorted(ACTIONS))
    raise FaultSpecError(f"{flag} {text!r}: unknown action {action!r}; expected one of {known}")


def parse_latency(text: str) -> tuple[str, float]:
    match = _LATENCY.fullmatch(text.strip())
    if not match:
        raise FaultSpecError(f"--sim-latency {text!r}: expected ACTION=SECONDS, e.g. CreateNetworkInterface=3")
    seconds = float(match.group(2))
    if seconds > 3600:
        raise FaultSpecError(f"--sim-latency {text!r}: at most 3600 seconds")
    return _action("--sim-latency", text, match.group(1)), seconds


def parse_failure(text: str) -> tuple[str, str, int]:
    match = _FAIL.fullmatch(text.strip())
    if not match:
        raise FaultSpecError(
            f"--sim-fail {text!r}: expected ACTION=CODE[:COUNT], e.g. AssignPrivateIpAddresses=RequestLimitExceeded:20"
        )
    count = int(match.group(3)) if match.group(3) else UNTIL_RESTART
    if count < 1:
        raise FaultSpecError(f"--sim-fail {text!r}: COUNT must be at least 1 (omit it for until restart)")
    return _action("--sim-fail", text, match.group(1)), match.group(2), count


def parse(latency: list[str], failures: list[str]) -> SimFaults:
    return SimFaults(tuple(parse_latency(t) for t in latency), tuple(parse_failure(t) for t in failures))


CONTROL_PATH = "/v1/sim-faults"


def control(cloud: SimCloud, subnet_id: str, body: bytes) -> dict[str, object]:
    """Change the faults at run time (POST /v1/sim-faults on the introspection port, `--cloud sim` only).

    The body is a JSON object: `clear` (true: forget every fault first), `latency` and `fail` (lists in
    the flags' syntax), `subnet_used` (how many of the node subnet's addresses others hold now).
    Raises FaultSpecError on anything else.
    """
    try:
        request = json.loads(body or b"{}")
    except ValueError as exc:
        raise FaultSpecError(f"{CONTROL_PATH}: body is not JSON: {exc}") from None
    if not isinstance(request, dict) or set(request) - {"clear", "latency", "fail", "subnet_used"}:
        raise FaultSpecError(f"{CONTROL_PATH}: expected an object with clear, latency, fail and/or subnet_used")
    latency, failures = request.get("latency", []), request.get("fail", [])
    if not (isinstance(latency, list) and isinstance(failures, list)):
        raise FaultSpecError(f"{CONTROL_PATH}: latency and fail are lists of strings")
    if not all(isinstance(t, str) for t in (*latency, *failures)):
        raise FaultSpecError(f"{CONTROL_PATH}: latency and fail are lists of strings")
    used = request.get("subnet_used")
    if used is not None and (not isinstance(used, int) or isinstance(used, bool) or used < 0):
        raise FaultSpecError(f"{CONTROL_PATH}: subnet_used must be a non-negative integer")
    faults = parse(latency, failures)
    if request.get("clear"):
        cloud.clear_faults()
    faults.apply(cloud)
    outcome: dict[str, object] = {"latency": len(faults.latency), "fail": len(faults.failures)}
    if used is not None:
        held = len(cloud.subnets[subnet_id].external)
        if used > held:
            cloud.use_by_others(subnet_id, used - held)
        elif used < held:
            cloud.release_by_others(subnet_id, held - used)
        outcome["subnet_used"] = len(cloud.subnets[subnet_id].external)
        outcome["subnet_free"] = cloud.subnet_pool(subnet_id).free_count
    return outcome
