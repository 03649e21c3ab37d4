"""EC2 error codes as exceptions; both cloud backends raise these, keeping the exact code string."""

from __future__ import annotations

import re


class Ec2Error(Exception):
    """An EC2 API error: `code` is EC2's code (e.g. "AttachmentLimitExceeded"), `message` its text."""

    http_status = 400

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        if http_status is not None:
            self.http_status = http_status


class ThrottlingError(Ec2Error):
    http_status = 503


class InsufficientAddressesError(Ec2Error):
    """InsufficientFreeAddressesInSubnet or InsufficientCidrBlocks: the subnet cannot satisfy a request."""


class AddressLimitError(Ec2Error):
    """PrivateIpAddressLimitExceeded: the ENI holds as many addresses/prefixes as its type allows."""


class AttachmentLimitError(Ec2Error):
    """AttachmentLimitExceeded: the instance holds as many ENIs as its type allows."""


class NotFoundError(Ec2Error):
    """Any *.NotFound code, and InvalidInstanceType."""


class InUseError(Ec2Error):
    """InvalidNetworkInterface.InUse."""


class UnauthorizedError(Ec2Error):
    http_status = 403


class InvalidRequestError(Ec2Error):
    """InvalidParameterValue, InvalidParameterCombination, OperationNotPermitted."""


THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

_BY_CODE: dict[str, type[Ec2Error]] = {
    "InsufficientFreeAddressesInSubnet": InsufficientAddressesError,
    "InsufficientCidrBlocks": InsufficientAddressesError,
    "PrivateIpAddressLimitExceeded": AddressLimitError,
    "AttachmentLimitExceeded": AttachmentLimitError,
    "InvalidNetworkInterface.InUse": InUseError,
    "UnauthorizedOperation": UnauthorizedError,
    "InvalidParameterValue": InvalidRequestError,
    "InvalidParameterCombination": InvalidRequestError,
    "OperationNotPermitted": InvalidRequestError,
    "InvalidInstanceType": NotFoundError,
}


def error_class(code: str) -> type[Ec2Error]:
    if code in THROTTLING_CODES:
        return ThrottlingError
    if code.endswith(".NotFound"):
        return NotFoundError
    return _BY_CODE.get(code, Ec2Error)


def make_error(code: str, message: str, http_status: int | None = None) -> Ec2Error:
    """The exception class for an EC2 code, e.g. make_error("InvalidSubnetID.NotFound", "...")."""
    return error_class(code)(code, message, http_status)


_ENI_ID_IN_MESSAGE = re.compile(r"'(eni-[0-9a-f]+)'")


def eni_id_from_not_found(message: str) -> str:
    """The ENI id quoted in an InvalidNetworkInterfaceID.NotFound message, or "" (ipamd spec §13.35)."""
    match = _ENI_ID_IN_MESSAGE.search(message)
    return match.group(1) if match else ""
