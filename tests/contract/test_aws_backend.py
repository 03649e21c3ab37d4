"""The boto3 backend's error mapping (botocore Stubber), its retries (before-send hook) and moto's server mode."""

from __future__ import annotations

import socket
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from vpccni.cloud import errors
from vpccni.cloud.aws import Boto3Ec2, client_config

CODES: list[tuple[str, int, type[errors.Ec2Error]]] = [
    ("InsufficientFreeAddressesInSubnet", 400, errors.InsufficientAddressesError),
    ("InsufficientCidrBlocks", 400, errors.InsufficientAddressesError),
    ("PrivateIpAddressLimitExceeded", 400, errors.AddressLimitError),
    ("AttachmentLimitExceeded", 400, errors.AttachmentLimitError),
    ("InvalidNetworkInterfaceID.NotFound", 400, errors.NotFoundError),
    ("InvalidAttachmentID.NotFound", 400, errors.NotFoundError),
    ("InvalidSubnetID.NotFound", 400, errors.NotFoundError),
    ("InvalidInstanceID.NotFound", 400, errors.NotFoundError),
    ("InvalidInstanceType", 400, errors.NotFoundError),
    ("InvalidNetworkInterface.InUse", 400, errors.InUseError),
    ("InvalidParameterValue", 400, errors.InvalidRequestError),
    ("InvalidParameterCombination", 400, errors.InvalidRequestError),
    ("OperationNotPermitted", 400, errors.InvalidRequestError),
    ("UnauthorizedOperation", 403, errors.UnauthorizedError),
    ("RequestLimitExceeded", 503, errors.ThrottlingError),
    ("SomethingElse", 400, errors.Ec2Error),
]


@pytest.mark.parametrize(("code", "status", "cls"), CODES)
def test_stubbed_error_codes_map_to_exceptions(
    code: str, status: int, cls: type[errors.Ec2Error], fake_aws_credentials: None
) -> None:
    client = boto3.client("ec2", region_name="us-west-2", config=client_config())
    backend = Boto3Ec2(client=client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "assign_private_ip_addresses",
            service_error_code=code,
            service_message=f"message for {code}",
            http_status_code=status,
            expected_params={"NetworkInterfaceId": "eni-1", "SecondaryPrivateIpAddressCount": 2},
        )
        with pytest.raises(cls) as info:
            backend.assign_private_ip_addresses("eni-1", secondary_ip_count=2)
        stub.assert_no_pending_responses()
    assert type(info.value) is cls
    assert info.value.code == code and info.value.message == f"message for {code}"


THROTTLE_BODY = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    b"</Error></Errors><RequestID>5b0e0b2c-0000-4000-8000-000000000000</RequestID></Response>"
)


def _throttle_first(count: int) -> Any:
    calls = {"n": 0}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        calls["n"] += 1
        if calls["n"] <= count:
            return AWSResponse(request.url, 503, {}, _RawBody(THROTTLE_BODY))
        return None

    return handler, calls


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


def test_throttling_is_retried_by_botocore(fake_aws_credentials: None) -> None:
    """Standard mode with 3 attempts (production uses 10): 2 throttles → success, 5 → RequestLimitExceeded."""
    from botocore.config import Config
    from moto import mock_aws

    with mock_aws():
        config = Config(retries={"mode": "standard", "total_max_attempts": 3})
        backend = Boto3Ec2(client=boto3.client("ec2", region_name="us-west-2", config=config))
        vpc = backend.create_vpc("10.0.0.0/16")
        handler, calls = _throttle_first(2)
        backend.client.meta.events.register("before-send.ec2.DescribeVpcs", handler)
        reply = backend.client.describe_vpcs(VpcIds=[vpc.vpc_id])
        assert calls["n"] == 3 and reply["ResponseMetadata"]["RetryAttempts"] == 2
        handler_five, calls_five = _throttle_first(5)
        backend.client.meta.events.register("before-send.ec2.DescribeSubnets", handler_five)
        with pytest.raises(errors.ThrottlingError) as info:
            backend.describe_subnets()
        assert info.value.code == "RequestLimitExceeded" and calls_five["n"] == 3


def test_production_client_config() -> None:
    config = client_config(http_timeout=30)
    assert config.retries == {"mode": "standard", "total_max_attempts": 10}
    assert config.read_timeout == 30 and config.connect_timeout == 10
    assert config.user_agent_extra is not None and config.user_agent_extra.startswith("vpccni/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_against_moto_server_on_loopback(fake_aws_credentials: None) -> None:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        time.sleep(0.2)
        backend = Boto3Ec2(region="us-west-2", endpoint_url=f"http://127.0.0.1:{port}")
        vpc = backend.create_vpc("10.1.0.0/16")
        subnet = backend.create_subnet(vpc.vpc_id, "10.1.0.0/24", "us-west-2a")
        eni = backend.create_network_interface(subnet.subnet_id, secondary_ip_count=2)
        assert len(eni.secondary_ips) == 2
        with pytest.raises(errors.NotFoundError):
            backend.delete_network_interface("eni-0123456789abcdef0")
    finally:
        server.stop()
