"""Who is calling: the access key id in an AWS Signature Version 4 `Authorization` header (or presigned query).

The signature is parsed, never verified — the server has no secret keys to check it with. The key id
becomes the caller's identity in the trail; a request that carries no SigV4 at all is refused as EC2
refuses it (`AuthFailure`), and a malformed one gets `IncompleteSignature`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from vpccni.cloud.errors import Ec2Error, make_error

ALGORITHM = "AWS4-HMAC-SHA256"
_DATE = re.compile(r"[0-9]{8}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
)


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str


def _incomplete(message: str) -> Ec2Error:
    return make_error("IncompleteSignature", message)


def auth_failure() -> Ec2Error:
    return make_error("AuthFailure", "AWS was not able to validate the provided access credentials", 401)


def parse_credential(credential: str) -> Caller:
    """`AKID/20260101/us-west-2/ec2/aws4_request` → Caller."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _incomplete(f"Credential should be scoped to a valid region, not '{credential}'")
    if not _DATE.fullmatch(parts[1]):
        raise _incomplete(f"Credential should be scoped with a date as YYYYMMDD, not '{parts[1]}'")
    if not parts[2] or not parts[3]:
        raise _incomplete(f"Credential should name a region and a service, not '{credential}'")
    return Caller(parts[0], parts[1], parts[2], parts[3])


def parse_authorization(header: str) -> Caller:
    """`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` → Caller (signature format checked only)."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Authorization header must use {ALGORITHM}, not '{algorithm}'")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise _incomplete(f"Authorization header field '{item.strip()}' is not KEY=VALUE")
        fields[key] = value
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise _incomplete(f"Authorization header requires '{required}' parameter")
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise _incomplete("Authorization header Signature must be 64 hexadecimal digits")
    return parse_credential(fields["Credential"])


def caller_of(headers: Mapping[str, str], query: Mapping[str, str]) -> Caller:
    """The caller of a request: its Authorization header, else its presigned query; neither is AuthFailure."""
    header = headers.get("Authorization")
    if header:
        return parse_authorization(header)
    if "X-Amz-Credential" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM or not _SIGNATURE.fullmatch(query.get("X-Amz-Signature", "")):
            raise _incomplete(f"A presigned request needs X-Amz-Algorithm={ALGORITHM} and X-Amz-Signature")
        return parse_credential(query["X-Amz-Credential"])
    raise auth_failure()
