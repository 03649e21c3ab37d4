"""One case list, every backend: the simulator and the boto3 backend on moto (in process)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vpccni.cloud import Ec2Api, VirtualClock
from vpccni.cloud.aws import Boto3Ec2
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


@pytest.fixture(params=["sim", "aws-moto"])
def backend(request: pytest.FixtureRequest, fake_aws_credentials: None) -> Iterator[Backend]:
    if request.param == "sim":
        yield make_sim(address_policy="lowest")
        return
    from moto import mock_aws

    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    with mock_aws():
        yield Backend("aws-moto", Boto3Ec2(region="us-west-2"))


@pytest.fixture
def sim() -> Backend:
    return make_sim(address_policy="lowest")
