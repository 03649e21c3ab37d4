"""One case list, every backend: the simulator, the boto3 backend on moto (in process), and the boto3 backend
over HTTP against `vpccni cloud serve` on 127.0.0.1 (the simulator behind EC2's wire protocol)."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vpccni.cloud import Ec2Api, VirtualClock
from vpccni.cloud.aws import Boto3Ec2
from vpccni.cloud.server import CloudServer
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2

AZ = "us-west-2a"


@dataclass
class Backend:
    name: str
    api: Ec2Api
    cloud: SimCloud | None = None
    clock: VirtualClock | None = None


def make_sim(**config: object) -> Backend:
    clock = VirtualClock()
    cloud = SimCloud(clock, random.Random(7), SimConfig(**config))  # type: ignore[arg-type]
    return Backend("sim", SimEc2(cloud), cloud, clock)


@contextlib.contextmanager
def served_sim(**config: object) -> Iterator[Backend]:
    """The simulator behind `vpccni cloud serve` on an ephemeral loopback port, called by the boto3 backend.

    The served cloud never retries (botocore does, as against EC2); the test shares its virtual clock.
    """
    inner = make_sim(retry_max_attempts=1, **config)
    assert inner.cloud is not None
    server = CloudServer(inner.cloud, "127.0.0.1", 0).start()
    try:
        yield Backend("aws-serve", Boto3Ec2(region="us-west-2", endpoint_url=server.url), inner.cloud, inner.clock)
    finally:
        server.stop()


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(params=["sim", "aws-moto", "aws-serve"])
def backend(request: pytest.FixtureRequest, fake_aws_credentials: None) -> Iterator[Backend]:
    if request.param == "sim":
        yield make_sim(address_policy="lowest")
        return
    if request.param == "aws-serve":
        with served_sim(address_policy="lowest") as served:
            yield served
        return
    from moto import mock_aws

    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    with mock_aws():
        yield Backend("aws-moto", Boto3Ec2(region="us-west-2"))


@pytest.fixture(params=["sim", "aws-serve"])
def sim(request: pytest.FixtureRequest, fake_aws_credentials: None) -> Iterator[Backend]:
    """A simulator-backed cloud: in process, or served over HTTP (limits, exhaustion, faults through the wire)."""
    if request.param == "sim":
        yield make_sim(address_policy="lowest")
        return
    with served_sim(address_policy="lowest") as served:
        yield served
