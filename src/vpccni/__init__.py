"""vpccni: the EKS pod-networking system (AWS VPC CNI) in Python, with a simulated VPC and a cluster simulator."""

__version__ = "0.1.0"
