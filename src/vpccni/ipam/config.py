"""ipamd configuration from the reference's environment variables, with its defaults (ipamd spec §1).

The reference never rejects a malformed IP-management value: it silently falls back to the default
(bool: anything but 1/t/T/TRUE/true/True/0/f/F/FALSE/false/False; int: anything but an optional sign
and digits). `IpamConfig.from_env` reproduces that and reports each fallback in `warnings`, so front
ends can say which variable was ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vpccni import catalog

_INT = re.compile(r"[+-]?[0-9]+")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

# "reference" reproduces the reference call for call; "adaptive" is vpccni's own (ipam/adaptive.py).
WARM_POOL_POLICIES = ("reference", "adaptive")
DEFAULT_BACKING_STORE = "/var/run/aws-node/ipam.json"
KNOWN_VARIABLES = frozenset(
    {
        "WARM_ENI_TARGET",
        "WARM_IP_TARGET",
        "MINIMUM_IP_TARGET",
        "WARM_PREFIX_TARGET",
        "ENABLE_PREFIX_DELEGATION",
        "MAX_ENI",
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG",
        "AWS_MANAGE_ENIS_NON_SCHEDULABLE",
        "ENABLE_SUBNET_DISCOVERY",
        "MANAGE_UNTAGGED_ENI",
        "DISABLE_NETWORK_RESOURCE_PROVISIONING",
        "ENABLE_IMDS_ONLY_MODE",
        "DISABLE_LEAKED_ENI_CLEANUP",
        "IP_COOLDOWN_PERIOD",
        "AWS_VPC_K8S_CNI_BACKING_STORE",
        "CLUSTER_NAME",
        "ADDITIONAL_ENI_TAGS",
        "ENABLE_IPv4",
        "ENABLE_IPv6",
        "ENABLE_POD_ENI",
        "AWS_VPC_K8S_CNI_EXTERNALSNAT",
        "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS",
        "AWS_VPC_ENI_MTU",
        "AWS_VPC_K8S_CNI_VETHPREFIX",
        "NETWORK_POLICY_ENFORCING_MODE",
        "VPC_CNI_VERSION",
        "WARM_POOL_POLICY",
        # read by the daemon and the plugin rather than the engine
        "AWS_VPC_K8S_CNI_LOGLEVEL",
        "AWS_VPC_K8S_CNI_LOG_FILE",
        "AWS_VPC_K8S_PLUGIN_LOG_FILE",
        "AWS_VPC_K8S_PLUGIN_LOG_LEVEL",
        "AWS_VPC_K8S_CNI_CONNMARK",
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
        "AWS_VPC_CNI_NODE_PORT_SUPPORT",
        "AWS_EXTERNAL_SERVICE_CIDRS",
    }
)


@dataclass(frozen=True)
class EniConfig:
    """A custom-networking ENIConfig: the subnet and security groups for new ENIs."""

    name: str
    subnet_id: str
    security_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class IpamConfig:
    warm_eni_target: int = 1
    warm_ip_target: int = 0
    minimum_ip_target: int = 0
    warm_prefix_target: int = 0
    enable_prefix_delegation: bool = False
    max_eni: int = -1
    custom_networking: bool = False
    manage_enis_non_schedulable: bool = False
    enable_subnet_discovery: bool = True
    manage_untagged_eni: bool = True
    disable_network_resource_provisioning: bool = False
    enable_imds_only_mode: bool = False
    disable_leaked_eni_cleanup: bool = False
    ip_cooldown_period: int = 30
    backing_store: str = DEFAULT_BACKING_STORE
    cluster_name: str = ""
    additional_eni_tags: Mapping[str, str] = field(default_factory=dict)
    external_snat: bool = False
    exclude_snat_cidrs: tuple[str, ...] = ()
    network_policy_mode: str = ""
    warm_pool_policy: str = "reference"
    warnings: tuple[str, ...] = ()
    # Derived once, not properties: the compiled engine reads these on every pool decision, and a property of this
    # interpreted class would run a Python frame each time. Not init, compared or shown: they follow the fields.
    # WARM_IP_TARGET or MINIMUM_IP_TARGET set: they override WARM_ENI_TARGET and WARM_PREFIX_TARGET.
    defined: bool = field(init=False, repr=False, compare=False)
    provisioning_disabled: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defined", self.warm_ip_target != 0 or self.minimum_ip_target != 0)
        disabled = self.disable_network_resource_provisioning or self.enable_imds_only_mode
        object.__setattr__(self, "provisioning_disabled", disabled)

    @property
    def adaptive(self) -> bool:
        return self.warm_pool_policy == "adaptive"

    @property
    def leaked_eni_cleanup(self) -> bool:
        return not (self.disable_leaked_eni_cleanup or self.provisioning_disabled)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IpamConfig:
        warnings: list[str] = []

        def boolean(name: str, default: bool) -> bool:
            raw = env.get(name)
            if raw is None:
                return default
            if raw in _TRUE:
                return True
            if raw in _FALSE:
                return False
            warnings.append(f"{name}={raw!r} is not a boolean; the default {str(default).lower()} is used")
            return default

        def integer(name: str, default: int, minimum: int | None = 0) -> int:
            raw = env.get(name)
            if raw is None:
                return default
            if not _INT.fullmatch(raw):
                warnings.append(f"{name}={raw!r} is not an integer; the default {default} is used")
                return default
            value = int(raw)
            if minimum is not None and value < minimum:
                warnings.append(f"{name}={raw!r} is negative; the default {default} is used")
                return default
            return value

        tags: dict[str, str] = {}
        raw_tags = env.get("ADDITIONAL_ENI_TAGS")
        if raw_tags:
            try:
                parsed = json.loads(raw_tags)
                if not isinstance(parsed, dict):
                    raise ValueError
                tags = {str(k): str(v) for k, v in parsed.items() if "k8s.amazonaws.com" not in str(k)}
            except ValueError:
                warnings.append(f"ADDITIONAL_ENI_TAGS={raw_tags!r} is not a JSON object; ignored")
        mode = env.get("NETWORK_POLICY_ENFORCING_MODE", "")
        if mode and mode.lower() not in ("none", "strict", "standard"):
            raise ValueError(f"NETWORK_POLICY_ENFORCING_MODE={mode!r}: expected none, strict or standard")
        policy = env.get("WARM_POOL_POLICY", "reference")
        if policy not in WARM_POOL_POLICIES:
            warnings.append(
                f"WARM_POOL_POLICY={policy!r} is not one of {', '.join(WARM_POOL_POLICIES)}; "
                "the default reference is used"
            )
            policy = "reference"
        for name in sorted(set(env) - KNOWN_VARIABLES):
            warnings.append(f"{name} is not an ipamd setting vpccni knows; ignored")
        return cls(
            warm_eni_target=integer("WARM_ENI_TARGET", 1),
            warm_ip_target=integer("WARM_IP_TARGET", 0),
            minimum_ip_target=integer("MINIMUM_IP_TARGET", 0),
            warm_prefix_target=integer("WARM_PREFIX_TARGET", 0),
            enable_prefix_delegation=boolean("ENABLE_PREFIX_DELEGATION", False),
            max_eni=integer("MAX_ENI", -1, minimum=None),
            custom_networking=boolean("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", False),
            manage_enis_non_schedulable=boolean("AWS_MANAGE_ENIS_NON_SCHEDULABLE", False),
            enable_subnet_discovery=boolean("ENABLE_SUBNET_DISCOVERY", True),
            manage_untagged_eni=boolean("MANAGE_UNTAGGED_ENI", True),
            disable_network_resource_provisioning=boolean("DISABLE_NETWORK_RESOURCE_PROVISIONING", False),
            enable_imds_only_mode=boolean("ENABLE_IMDS_ONLY_MODE", False),
            disable_leaked_eni_cleanup=boolean("DISABLE_LEAKED_ENI_CLEANUP", False),
            ip_cooldown_period=integer("IP_COOLDOWN_PERIOD", 30, minimum=None),
            backing_store=env.get("AWS_VPC_K8S_CNI_BACKING_STORE") or DEFAULT_BACKING_STORE,
            cluster_name=env.get("CLUSTER_NAME", ""),
            additional_eni_tags=tags,
            external_snat=boolean("AWS_VPC_K8S_CNI_EXTERNALSNAT", False),
            exclude_snat_cidrs=tuple(
                c.strip() for c in env.get("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "").split(",") if c.strip()
            ),
            network_policy_mode=mode,
            warm_pool_policy=policy,
            warnings=tuple(warnings),
        )


# The engine's settings by the reference's variable name, for showing what is in force after fallbacks.
EFFECTIVE_FIELDS = {
    "WARM_ENI_TARGET": "warm_eni_target",
    "WARM_IP_TARGET": "warm_ip_target",
    "MINIMUM_IP_TARGET": "minimum_ip_target",
    "WARM_PREFIX_TARGET": "warm_prefix_target",
    "ENABLE_PREFIX_DELEGATION": "enable_prefix_delegation",
    "MAX_ENI": "max_eni",
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "custom_networking",
    "AWS_MANAGE_ENIS_NON_SCHEDULABLE": "manage_enis_non_schedulable",
    "ENABLE_SUBNET_DISCOVERY": "enable_subnet_discovery",
    "MANAGE_UNTAGGED_ENI": "manage_untagged_eni",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "disable_network_resource_provisioning",
    "ENABLE_IMDS_ONLY_MODE": "enable_imds_only_mode",
    "DISABLE_LEAKED_ENI_CLEANUP": "disable_leaked_eni_cleanup",
    "IP_COOLDOWN_PERIOD": "ip_cooldown_period",
    "CLUSTER_NAME": "cluster_name",
    "WARM_POOL_POLICY": "warm_pool_policy",
}


def effective_settings(config: IpamConfig, env: Mapping[str, str]) -> dict[str, str]:
    """The given variables as the engine reads them: a fallback shows its default, an unknown name is left
    out (its warning says it was ignored), any other known name keeps its text."""
    out = {}
    for name, raw in env.items():
        if name in EFFECTIVE_FIELDS:
            value = getattr(config, EFFECTIVE_FIELDS[name])
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        elif name in KNOWN_VARIABLES:
            out[name] = raw
    return out


def effective_max_eni(config: IpamConfig, eni_limit: int) -> int:
    """MAX_ENI applies only when 1 ≤ MAX_ENI < the type's limit (ipamd spec §0.1)."""
    return config.max_eni if 1 <= config.max_eni < eni_limit else eni_limit


def pod_address_capacity(limits: catalog.InstanceLimits, config: IpamConfig) -> int:
    """Pod addresses a node can ever hold: the engine's M per ENI over the ENIs it may use (awscni_ip_max
    before any ENI is known); custom networking keeps pods off the primary ENI."""
    enis = effective_max_eni(config, limits.max_enis) - (1 if config.custom_networking else 0)
    per_eni = limits.ipv4_per_eni - 1
    if config.enable_prefix_delegation and limits.supports_prefix_delegation:
        per_eni *= 16
    return enis * per_eni


def checkpoint_path(config: IpamConfig, card: int = 0) -> str:
    """Card 0 uses the backing store; card N the same path with `.json` → `-nic-N.json`."""
    path = config.backing_store
    return path if card == 0 else path.replace(".json", f"-nic-{card}.json")


SETTING_PREFIXES = ("AWS_VPC_", "AWS_MANAGE_", "WARM_", "MINIMUM_", "ENABLE_", "DISABLE_", "MAX_ENI", "IP_COOLDOWN")


def ipamd_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of a whole process environment that are (or look like) ipamd settings.

    A daemon's environment holds PATH, HOME and the like; only these go to `IpamConfig.from_env`, so a
    misspelt setting (WARM_IP_TARGT) still gets its warning and PATH does not.
    """
    return {k: v for k, v in environ.items() if k in KNOWN_VARIABLES or k.startswith(SETTING_PREFIXES)}


def default_max_pods(limits: catalog.InstanceLimits, cfg: IpamConfig) -> int:
    """What `vpccni max-pods` recommends for the node's mode: kubelet's max-pods unless overridden."""
    return catalog.max_pods(
        limits,
        prefix_delegation=cfg.enable_prefix_delegation,
        custom_networking=cfg.custom_networking,
        max_eni=cfg.max_eni if cfg.max_eni >= 1 else None,
    ).max_pods
