"""The Pareto front of feasible candidates, the pick among them, and what binds when none is feasible."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vpccni.advise.objectives import CONSTRAINTS, WAIT, Evaluation
from vpccni.advise.space import Candidate

Scored = tuple[Candidate, Evaluation]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is no worse than `b` on every objective and strictly better on one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def front(scored: Sequence[Scored]) -> list[Scored]:
    """The feasible candidates no other feasible candidate dominates, in input order."""
    feasible = [s for s in scored if s[1].feasible]
    return [s for s in feasible if not any(dominates(o[1].objectives, s[1].objectives) for o in feasible)]


def recommend(scored: Sequence[Scored]) -> Scored | None:
    """Fewest idle addresses; ties broken by fewer EC2 calls, then the shorter wait, then input order."""
    feasible = [(i, s) for i, s in enumerate(scored) if s[1].feasible]
    if not feasible:
        return None
    _, best = min(
        feasible,
        key=lambda item: (item[1][1].objectives[0], item[1][1].objectives[2], item[1][1].objectives[1], item[0]),
    )
    return best


def closest(scored: Sequence[Scored]) -> Scored:
    """When nothing is feasible: the candidate breaking the fewest constraints, then (when the wait is one
    of them) the shortest wait, then as `recommend`."""

    def distance(item: tuple[int, Scored]) -> tuple[int, float, float, float, int]:
        index, (_, evaluation) = item
        idle, wait, calls = evaluation.objectives
        return (len(evaluation.violations), wait if WAIT in evaluation.violations else 0.0, idle, calls, index)

    return min(enumerate(scored), key=distance)[1]


def rank(evaluation: Evaluation) -> tuple[int, float, float, float]:
    """Fewer broken constraints first, then as `recommend`: to compare the joint pick with one setting."""
    idle, wait, calls = evaluation.objectives
    return (len(evaluation.violations), idle, calls, wait)


def binding_constraint(scored: Sequence[Scored]) -> str | None:
    """None when some candidate is feasible; else the constraint the most candidates break."""
    if any(s[1].feasible for s in scored):
        return None
    counts = Counter(v for s in scored for v in s[1].violations)
    return max(CONSTRAINTS, key=lambda c: (counts[c], -CONSTRAINTS.index(c)))
