"""The simulated VPC/EC2: real limits, error codes, throttling and latency on an injected clock."""

from vpccni.cloud.sim.addresses import parse_subnet_cidr
from vpccni.cloud.sim.config import SimConfig
from vpccni.cloud.sim.ec2 import SimEc2
from vpccni.cloud.sim.state import SimCloud

__all__ = ["SimCloud", "SimConfig", "SimEc2", "parse_subnet_cidr"]
