"""One CloudTrail record → one compact EC2 event, whatever shape and spelling the record arrived in.

Real trails differ in small ways that would otherwise leak into every rule: error codes with or without a
`Client.`/`Server.` prefix, exhaustion reported as `InsufficientFreeAddressesInSubnet` or as a generic code
with an "insufficient free address to allocate N address" message, Athena exports with lower-case keys and
JSON-string parameters, times with or without fractions. This module settles all of that once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EC2_SOURCE = "ec2.amazonaws.com"

# Canonical field names; records from Athena or CloudTrail Lake exports may spell them in lower case.
_FIELDS = (
    "eventTime",
    "eventSource",
    "eventName",
    "eventID",
    "userAgent",
    "userIdentity",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "awsRegion",
    "sourceIPAddress",
)
_LOWER = {name.lower(): name for name in _FIELDS}

THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException"}
)
EXHAUSTION_CODES = frozenset({"InsufficientFreeAddressesInSubnet", "InsufficientCidrBlocks"})
_INSUFFICIENT = re.compile(r"insufficient free address(?:es)? to allocate (\d+) address", re.IGNORECASE)
_EXHAUSTION_MESSAGES = (
    re.compile(r"does not have enough free (?:addresses|cidr blocks)", re.IGNORECASE),
    re.compile(r"aren't sufficient free ipv4 addresses", re.IGNORECASE),
    _INSUFFICIENT,
)
_SESSION_INSTANCE = re.compile(r"(?:^|[/:])(i-[0-9a-f]{8,17})$")


@dataclass(slots=True)
class Ec2Event:
    """The parts of an EC2 CloudTrail record the analysis reads (the rest is dropped to keep memory small)."""

    time: float  # Unix seconds, UTC
    name: str
    event_id: str
    user_agent: str
    agent: str  # agent family, see agent_family()
    caller_instance: str | None  # the instance whose role session made the call, when the session says so
    error_code: str | None  # without the Client./Server. prefix
    error_message: str | None
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    order: int = 0  # position in the input, to keep equal times in arrival order

    @property
    def ok(self) -> bool:
        return self.error_code is None

    @property
    def throttled(self) -> bool:
        return self.error_code in THROTTLING_CODES

    @property
    def exhaustion(self) -> bool:
        """The subnet had too few free addresses (or /28 blocks) for the request, however EC2 worded it."""
        if self.error_code is None:
            return False
        if self.error_code in EXHAUSTION_CODES:
            return True
        message = self.error_message or ""
        return any(pattern.search(message) for pattern in _EXHAUSTION_MESSAGES)

    @property
    def iso_time(self) -> str:
        return iso(self.time)


class Unparsed(Exception):
    """A record that is CloudTrail but cannot be used (no time, no name, no requestParameters where needed)."""


def iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if stamp.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return stamp.strftime(fmt)


def parse_time(value: Any) -> float:
    """eventTime as Unix seconds: ISO 8601 with Z, an offset or none (UTC), a space instead of T, or epoch."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)  # epoch milliseconds from some exports
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a time: {value!r}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def strip_code(code: str) -> str:
    """`Client.InsufficientFreeAddressesInSubnet` → `InsufficientFreeAddressesInSubnet`."""
    for prefix in ("Client.", "Server."):
        if code.startswith(prefix):
            return code[len(prefix) :]
    return code


def requested_from_message(message: str | None) -> int | None:
    """N from "insufficient free address to allocate N address(es)"."""
    match = _INSUFFICIENT.search(message or "")
    return int(match.group(1)) if match else None


def agent_family(user_agent: str) -> str:
    """Who made the call, by userAgent: the reference CNI, vpccni, the console, AWS services, tools, others."""
    ua = user_agent.lower()
    if "amazon-vpc-cni-k8s" in ua:
        return "amazon-vpc-cni-k8s"
    if "vpccni" in ua:
        return "vpccni"
    if ua.startswith(("console.", "signin.")) or "console.amazonaws.com" in ua or ua == "aws internal":
        return "console"
    if "autoscaling" in ua:
        return "autoscaling"
    if ua.startswith("eks") or "eks.amazonaws.com" in ua or "eks-nodegroup" in ua:
        return "eks"
    if ua.startswith("aws-cli"):
        return "aws-cli"
    if "terraform" in ua:
        return "terraform"
    return "other"


def is_cni_agent(user_agent: str) -> bool:
    """The call came from a CNI's ipamd: the reference's user agent, or vpccni's ipamd clients."""
    ua = user_agent.lower()
    return "amazon-vpc-cni-k8s" in ua or ("vpccni" in ua and "ipamd" in ua)


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """Field names as CloudTrail spells them, parameters as objects (Athena keeps them as JSON strings)."""
    if all(name in record or name.lower() not in record for name in _FIELDS):
        out = record
    else:
        out = {_LOWER.get(key, key): value for key, value in record.items()}
    for name in ("requestParameters", "responseElements", "userIdentity"):
        value = out.get(name)
        if isinstance(value, str):
            try:
                out[name] = json.loads(value) if value.strip() else None
            except ValueError:
                out[name] = None  # unreadable parameters: the event is then counted as unparsed
    return out


def caller_instance(identity: Any) -> str | None:
    """An instance profile's role session is named after the instance: ".../assumed-role/ROLE/i-0abc…"."""
    if not isinstance(identity, dict):
        return None
    for key in ("arn", "principalId"):
        value = identity.get(key)
        if isinstance(value, str):
            match = _SESSION_INSTANCE.search(value)
            if match:
                return match.group(1)
    return None


def is_ec2(record: dict[str, Any]) -> bool:
    return record.get("eventSource") == EC2_SOURCE


def to_event(record: dict[str, Any], order: int = 0) -> Ec2Event:
    """A canonical EC2 record → Ec2Event; raises Unparsed when the time or the name is unusable."""
    try:
        when = parse_time(record.get("eventTime"))
    except (ValueError, TypeError, OverflowError):
        raise Unparsed(f"bad eventTime {record.get('eventTime')!r}") from None
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        raise Unparsed("no eventName")
    user_agent = str(record.get("userAgent") or "")
    code = record.get("errorCode")
    request = record.get("requestParameters")
    response = record.get("responseElements")
    return Ec2Event(
        time=when,
        name=name,
        event_id=str(record.get("eventID") or f"#{order}"),
        user_agent=user_agent,
        agent=agent_family(user_agent),
        caller_instance=caller_instance(record.get("userIdentity")),
        error_code=strip_code(str(code)) if code else None,
        error_message=str(record["errorMessage"]) if record.get("errorMessage") else None,
        request=request if isinstance(request, dict) else None,
        response=response if isinstance(response, dict) else None,
        order=order,
    )


def listed(container: Any, key: str, inner: str | None = None) -> list[Any]:
    """An EC2 list member in any of its spellings: {"items": [...]}, {"item": [...]}, a list, or one object.

    `inner` names the list inside a set object when EC2 uses its own (assignedPrivateIpAddressSetType).
    """
    if not isinstance(container, dict):
        return []
    value = container.get(key)
    if isinstance(value, dict):
        for name in (inner, "items", "item"):
            if name and name in value:
                value = value[name]
                break
        else:
            return [value] if value else []
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_int(value: Any) -> int:
    """A count parameter (EC2 trails show numbers; some exports show strings)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
