"""`vpccni advise`: simulate the user's cluster under many warm-pool settings (on Dask distributed), keep
the Pareto front, recommend one, forecast the subnets and say how to apply it."""

from vpccni.advise.advisor import Advice, AdviseOptions, advise, check_buildable
from vpccni.advise.cache import RunCache
from vpccni.advise.runner import SchedulerUnreachable, SweepRunner
from vpccni.advise.space import Candidate, SpaceError, load_space

__all__ = [
    "Advice",
    "AdviseOptions",
    "Candidate",
    "RunCache",
    "SchedulerUnreachable",
    "SpaceError",
    "SweepRunner",
    "advise",
    "check_buildable",
    "load_space",
]
