"""The cloud a daemon runs against: its own simulated instance (persisted in the state dir) or AWS."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from vpccni import __version__, catalog
from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2, parse_subnet_cidr, persist

SIM_STATE_FILE = "sim-cloud.state"
SIM_AZ = "us-west-2a"
USER_AGENT = f"vpccni/{__version__} ipamd"


class CloudSetupError(Exception):
    pass


@dataclass(frozen=True)
class SimNodeSpec:
    instance_type: str = "m5.large"
    subnet_cidr: str = "10.0.0.0/24"
    subnet_used: int = 0
    seed: int = 0
    latency: bool = True


@dataclass
class NodeCloud:
    ec2: Ec2Api
    instance_id: str
    region: str
    sim: SimCloud | None = None


def sim_node(spec: SimNodeSpec, state_dir: str, clock: Clock) -> NodeCloud:
    """A simulated account holding one instance; reloaded from `state_dir` when the daemon restarts."""
    cloud = SimCloud(clock, random.Random(spec.seed), SimConfig(latency=spec.latency))
    path = os.path.join(state_dir, SIM_STATE_FILE)
    try:
        restored = persist.load(cloud, path)
    except (ValueError, OSError, EOFError) as exc:
        raise CloudSetupError(f"cannot load the simulated account: {exc}") from None
    if restored:
        if len(cloud.instances) != 1:
            raise CloudSetupError(f"{path}: expected one instance, found {len(cloud.instances)}")
        instance = next(iter(cloud.instances.values()))
        (primary,) = SimEc2(cloud).describe_network_interfaces([instance.primary_eni])
        instance_id, private_ip = instance.instance_id, primary.primary_ip
    else:
        instance_id, private_ip = _create_sim_node(cloud, spec)
        persist.save(cloud, path)
    persist.persist_on_change(cloud, path)
    return NodeCloud(SimEc2(cloud, instance_id, USER_AGENT, private_ip), instance_id, cloud.config.region, cloud)


def _create_sim_node(cloud: SimCloud, spec: SimNodeSpec) -> tuple[str, str]:
    try:
        catalog.get(spec.instance_type)
    except catalog.UnknownInstanceType as exc:
        raise CloudSetupError(str(exc)) from None
    try:
        subnet = parse_subnet_cidr(spec.subnet_cidr)
    except ValueError as exc:
        raise CloudSetupError(f"--subnet-cidr {exc}") from None
    tool = SimEc2(cloud)
    vpc = tool.create_vpc(str(subnet.supernet(new_prefix=min(16, subnet.prefixlen))))
    subnet_id = tool.create_subnet(vpc.vpc_id, str(subnet), SIM_AZ).subnet_id
    if spec.subnet_used:
        cloud.use_by_others(subnet_id, spec.subnet_used)
    (instance,) = tool.run_instances(spec.instance_type, subnet_id)
    return instance.instance_id, instance.private_ip


def aws_node(instance_id: str, region: str, endpoint_url: str = "", imds_endpoint: str = "") -> NodeCloud:
    """The real EC2 API (or any endpoint speaking it) for an existing instance; metadata from `imds_endpoint`.

    Without --instance-id the instance is the metadata service's own, as in the reference.
    """
    from vpccni.cloud.aws import Boto3Ec2
    from vpccni.cloud.imds import ImdsClient, ImdsError

    try:
        imds = ImdsClient(imds_endpoint) if imds_endpoint else None
    except ValueError as exc:
        raise CloudSetupError(f"--imds-endpoint {exc}") from None
    if not instance_id:
        if imds is None:
            raise CloudSetupError("--cloud aws needs --instance-id or --imds-endpoint")
        try:
            instance_id = (imds.get("meta-data/instance-id") or "").strip()
        except ImdsError as exc:
            raise CloudSetupError(f"--cloud aws without --instance-id: {exc}") from None
        finally:
            imds.close()
        if not instance_id:
            raise CloudSetupError(f"the metadata service at {imds_endpoint} has no instance-id")
    return NodeCloud(Boto3Ec2(region, endpoint_url or None, imds_endpoint=imds_endpoint or None), instance_id, region)
