"""A whole cluster on virtual time: node groups, scheduler, cluster autoscaler, one ipam engine per node."""

from vpccni.cluster.runner import run_scenario
from vpccni.cluster.scenario import Scenario, ScenarioError, load_scenario
from vpccni.cluster.simulation import ClusterSimulation

__all__ = ["ClusterSimulation", "Scenario", "ScenarioError", "load_scenario", "run_scenario"]
