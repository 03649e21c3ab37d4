"""vpccni: the EKS pod-networking system (AWS VPC CNI) in Python, with a simulated VPC and a cluster simulator."""

from vpccni import native

__version__ = "0.1.0"

native.install_guard()  # before any compiled module is imported: a stale build must not load (see native.py)
