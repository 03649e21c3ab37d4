"""The search space: which warm-pool settings to try on each node group.

A candidate only ever sets the warm-pool variables below; every other ipamd variable of the group
(custom networking, MAX_ENI...) is kept as the scenario gives it, so a candidate answers "which warm
pool", not "which cluster". The generated grid scales with the pods a node of the group really runs
(measured on the reference-default run), because a good WARM_IP_TARGET for 8 pods per node is a bad
one for 100.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vpccni import catalog
from vpccni.cluster.scenario import NodeGroupSpec

WARM_POOL_VARIABLES = (
    "WARM_ENI_TARGET",
    "WARM_IP_TARGET",
    "MINIMUM_IP_TARGET",
    "WARM_PREFIX_TARGET",
    "ENABLE_PREFIX_DELEGATION",
    "WARM_POOL_POLICY",
)
INTEGER_VARIABLES = frozenset({"WARM_ENI_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_PREFIX_TARGET"})
POLICIES = ("reference", "adaptive")
_INT = re.compile(r"[0-9]+")


class SpaceError(Exception):
    """An empty or contradictory search space; the message names the file and the entry."""


@dataclass(frozen=True, order=True)
class Candidate:
    """One warm-pool setting for one node group; the empty one is the reference default."""

    settings: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, env: Mapping[str, str]) -> Candidate:
        return cls(tuple(sorted(env.items())))

    @property
    def env(self) -> dict[str, str]:
        return dict(self.settings)

    @property
    def is_default(self) -> bool:
        return not self.settings

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings) or "default"


DEFAULT = Candidate()


def warm_pool_part(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in WARM_POOL_VARIABLES}


def without_warm_pool(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in WARM_POOL_VARIABLES}


def generated_candidates(group: NodeGroupSpec, pods_per_node: int) -> list[Candidate]:
    """The built-in grid for a group whose busiest sample ran `pods_per_node` pods per node (the reference
    default first, then: WARM_ENI_TARGET=0, WARM_IP_TARGET × MINIMUM_IP_TARGET, prefix delegation on types
    that support it, and the adaptive policy)."""
    limits = catalog.get(group.instance_type)
    pods = max(1, pods_per_node)
    warm_ips = sorted({1, 2, math.ceil(pods / 8), math.ceil(pods / 4)})
    minimums = sorted({0, math.ceil(pods / 2), math.ceil(pods * 3 / 4), pods})
    out = [DEFAULT, Candidate.of({"WARM_ENI_TARGET": "0"})]
    current = warm_pool_part(group.ipamd)
    if current:
        out.append(Candidate.of(current))  # what the group runs today, beside the reference default
    for warm, minimum in itertools.product(warm_ips, minimums):
        out.append(_ip_targets({}, warm, minimum))
    if limits.supports_prefix_delegation:
        prefix = {"ENABLE_PREFIX_DELEGATION": "true"}
        out.append(Candidate.of({**prefix, "WARM_PREFIX_TARGET": "1"}))
        for warm, minimum in itertools.product(sorted({2, math.ceil(pods / 4)}), sorted({0, pods})):
            out.append(_ip_targets(prefix, warm, minimum))
    out.append(Candidate.of({"WARM_POOL_POLICY": "adaptive"}))
    return _unique(out)


def _ip_targets(base: dict[str, str], warm: int, minimum: int) -> Candidate:
    env = {**base, "WARM_IP_TARGET": str(warm)}
    if minimum:
        env["MINIMUM_IP_TARGET"] = str(minimum)
    return Candidate.of(env)


def _unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: dict[Candidate, None] = {}
    for candidate in candidates:
        seen.setdefault(candidate, None)
    return list(seen)


# --- --space FILE -----------------------------------------------------------------------------------
Scalar = str | int | bool


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[dict[str, Scalar]] = Field(default_factory=list, description="explicit settings")
    grid: dict[str, list[Scalar]] = Field(default_factory=dict, description="every combination of these values")


class _SpaceFile(_Block):
    node_groups: dict[str, _Block] = Field(default_factory=dict, description="per-group space (replaces the top)")


def load_space(path: str | Path, groups: Sequence[NodeGroupSpec]) -> dict[str, list[Candidate]]:
    """A --space file → candidates per node group (the reference default always first)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        raise SpaceError(f"{path}: empty search space (give candidates: or grid:)")
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: expected a mapping with candidates:, grid: or node_groups:")
    try:
        space = _SpaceFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise SpaceError(f"{path}: {where}: {error['msg']}") from None
    by_name = {g.name: g for g in groups}
    for name in space.node_groups:
        if name not in by_name:
            raise SpaceError(f"{path}: node_groups.{name}: unknown node group (the scenario has {', '.join(by_name)})")
    out: dict[str, list[Candidate]] = {}
    for group in groups:
        block: _Block = space
        where = ""
        if group.name in space.node_groups:
            block, where = space.node_groups[group.name], f"node_groups.{group.name}."
        candidates = _expand(block, group, f"{path}: {where}")
        out[group.name] = _unique([DEFAULT, *candidates])
    if all(len(c) == 1 for c in out.values()):
        raise SpaceError(f"{path}: empty search space: no candidate besides the reference default")
    return out


def _expand(block: _Block, group: NodeGroupSpec, where: str) -> list[Candidate]:
    out = [_candidate(raw, group, f"{where}candidates[{i}]") for i, raw in enumerate(block.candidates)]
    if block.grid:
        names = sorted(block.grid)
        for name in names:
            if not block.grid[name]:
                raise SpaceError(f"{where}grid.{name}: empty list of values")
        for values in itertools.product(*(block.grid[n] for n in names)):
            out.append(_candidate(dict(zip(names, values, strict=True)), group, f"{where}grid"))
    return out


def _candidate(raw: Mapping[str, Any], group: NodeGroupSpec, where: str) -> Candidate:
    env: dict[str, str] = {}
    for name, value in raw.items():
        if name not in WARM_POOL_VARIABLES:
            raise SpaceError(f"{where}: {name} is not a warm-pool setting (one of {', '.join(WARM_POOL_VARIABLES)})")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if name in INTEGER_VARIABLES and not _INT.fullmatch(text):
            raise SpaceError(f"{where}: {name}={value!r} is not a non-negative integer")
        if name == "ENABLE_PREFIX_DELEGATION" and text not in ("true", "false"):
            raise SpaceError(f"{where}: ENABLE_PREFIX_DELEGATION={value!r} is not true or false")
        if name == "WARM_POOL_POLICY" and text not in POLICIES:
            raise SpaceError(f"{where}: WARM_POOL_POLICY={value!r} is not one of {', '.join(POLICIES)}")
        env[name] = text
    prefix = env.get("ENABLE_PREFIX_DELEGATION") == "true"
    if "WARM_PREFIX_TARGET" in env and not prefix:
        raise SpaceError(f"{where}: WARM_PREFIX_TARGET without ENABLE_PREFIX_DELEGATION=true contradicts itself")
    if prefix and not catalog.get(group.instance_type).supports_prefix_delegation:
        raise SpaceError(
            f"{where}: ENABLE_PREFIX_DELEGATION=true on node group {group.name!r}: "
            f"{group.instance_type} is not a Nitro type, prefix delegation does not apply"
        )
    if env.get("ENABLE_PREFIX_DELEGATION") == "false":
        del env["ENABLE_PREFIX_DELEGATION"]  # the reference default: one spelling, one cache entry
    if env.get("WARM_POOL_POLICY") == "reference":
        del env["WARM_POOL_POLICY"]
    return Candidate.of(env)
