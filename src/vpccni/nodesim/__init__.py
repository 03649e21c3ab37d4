"""One node on virtual time over the simulated EC2: what a node holds for a given pod count and settings."""

from vpccni.nodesim.runner import NodeSimError, NodeSimSpec, NodeSimulation, run_node_sim

__all__ = ["NodeSimError", "NodeSimSpec", "NodeSimulation", "run_node_sim"]
