"""MaxResults/NextToken for the describes EC2 paginates; the simulated cloud itself always answers whole.

A token encodes the offset and a digest of the query it belongs to, so a token replayed with other
filters is refused (InvalidPaginationToken) instead of silently paging through a different list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vpccni.cloud.errors import Ec2Error, make_error

T = TypeVar("T")


@dataclass(frozen=True)
class PageRule:
    low: int
    high: int
    default: int | None = None  # page size without MaxResults; None = everything


RULES: dict[str, PageRule] = {
    "DescribeInstances": PageRule(5, 1000),
    "DescribeNetworkInterfaces": PageRule(5, 1000),
    "DescribeSubnets": PageRule(5, 1000),
    "DescribeVpcs": PageRule(5, 1000),
    "DescribeInstanceTypes": PageRule(5, 100, default=100),
}


def query_digest(params: dict[str, Any]) -> str:
    """What a token is bound to: the request's parameters other than the paging ones."""
    rest = {k: v for k, v in params.items() if k not in ("MaxResults", "NextToken", "DryRun")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


def check_max_results(action: str, max_results: int | None) -> None:
    rule = RULES[action]
    if max_results is not None and not rule.low <= max_results <= rule.high:
        raise make_error(
            "InvalidParameterValue",
            f"Value ({max_results}) for parameter maxResults is invalid. "
            f"Expecting a value between {rule.low} and {rule.high}.",
        )


def _bad_token() -> Ec2Error:
    return make_error("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")


def _offset(token: str, digest: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise _bad_token() from None
    if not isinstance(decoded, dict) or decoded.get("q") != digest or not isinstance(decoded.get("o"), int):
        raise _bad_token()
    offset = decoded["o"]
    if offset < 0:
        raise _bad_token()
    return offset


def page(action: str, items: Sequence[T], params: dict[str, Any]) -> tuple[list[T], str | None]:
    """The page `params` asks for, and the token of the next one (None on the last page)."""
    max_results: int | None = params.get("MaxResults")
    check_max_results(action, max_results)
    digest = query_digest(params)
    start = _offset(params["NextToken"], digest) if params.get("NextToken") else 0
    size = max_results or RULES[action].default
    end = len(items) if size is None else start + size
    if end >= len(items):
        return list(items[start:]), None
    token = base64.urlsafe_b64encode(json.dumps({"o": end, "q": digest}).encode()).decode("ascii")
    return list(items[start:end]), token
