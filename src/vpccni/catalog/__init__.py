"""Instance-type limits and the max-pods arithmetic built on them."""

from vpccni.catalog.limits import InstanceLimits, UnknownInstanceType, all_types, get, suggest
from vpccni.catalog.maxpods import MaxPods, Mode, max_pods

__all__ = [
    "InstanceLimits",
    "MaxPods",
    "Mode",
    "UnknownInstanceType",
    "all_types",
    "get",
    "max_pods",
    "suggest",
]
