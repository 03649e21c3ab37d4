"""The cloud layer: one EC2 protocol (`Ec2Api`) and its backends, `sim` and `aws`."""

from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock, RealClock, VirtualClock
from vpccni.cloud.errors import Ec2Error

__all__ = ["Clock", "Ec2Api", "Ec2Error", "RealClock", "VirtualClock"]
