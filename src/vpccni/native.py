"""The engine's and simulator's hot modules, compiled with mypyc (`make native`), and the guard that keeps a stale
build out.

The compiled modules are the same source files, built next to them as extension modules, which Python prefers
to the source. A build is used only when every compiled module was built from its source as it is now (a
digest recorded at build time): an edited source makes all of them load from source again, with one warning,
because compiled modules call each other directly and must never be mixed with interpreted copies of one
another. `VPCCNI_PURE_PYTHON=1` asks for the source even when the build is current (profiling, the
benchmarks' same-run baseline).

Hot dataclasses of these modules write their `__init__` out (tests/unit/test_explicit_inits.py keeps it equal to
the fields): mypyc compiles a written-out one, while the one dataclasses generates runs interpreted, ~15× slower.

Standard library only: `vpccni/__init__.py` installs the guard, so the CNI plugin's import path pays for one
list entry; nothing is looked at until a compiled module is imported.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing would cost the plugin's start ~9 ms (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

PURE_ENV = "VPCCNI_PURE_PYTHON"

# Chosen by profile (issue #14): each is on the simulator's or the engine's per-event path. Not here: modules whose
# classes are subclassed by interpreted code or read class attributes set per subclass (cloud/errors.py).
COMPILED_MODULES: tuple[str, ...] = (
    "vpccni.cloud.clock",
    "vpccni.cloud.records",
    "vpccni.cloud.sim.addresses",
    "vpccni.cloud.sim.draws",
    "vpccni.cloud.sim.ec2",
    "vpccni.cloud.sim.state",
    "vpccni.cloud.sim.throttle",
    "vpccni.cloud.sim.trail",
    "vpccni.cluster.clocks",
    "vpccni.cluster.efficiency",
    "vpccni.cluster.model",
    "vpccni.cluster.node_metrics",
    "vpccni.cluster.rounding",
    "vpccni.cluster.scheduler",
    "vpccni.cluster.simulation",
    "vpccni.cluster.stepping",
    "vpccni.ipam.adaptive",
    "vpccni.ipam.backend",
    "vpccni.ipam.checkpoint",
    "vpccni.ipam.datastore",
    "vpccni.ipam.facts",
    "vpccni.ipam.lifecycle",
    "vpccni.ipam.node",
    "vpccni.ipam.policy",
    "vpccni.ipam.timing",
    "vpccni.metrics_helper.aggregate",
    "vpccni.metrics_helper.simulated",
)
# the directory holding the `vpccni` package (os.path, not pathlib: this module is on the plugin's import path)
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_path(module: str, root: str = SOURCE_ROOT) -> str:
    return os.path.join(root, *module.split(".")) + ".py"


def extension_path(module: str, root: str = SOURCE_ROOT) -> str | None:
    """The module's built extension next to its source, if there is one."""
    stem = os.path.join(root, *module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(stem + suffix):
            return stem + suffix
    return None


def manifest_path(root: str = SOURCE_ROOT) -> str:
    """What the build was made from: each compiled module's source digest (written by scripts/build_native.py)."""
    return os.path.join(root, "vpccni", ".native-build.json")


def source_digest(module: str, root: str = SOURCE_ROOT) -> str:
    import hashlib

    with open(source_path(module, root), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def build_state(modules: Sequence[str] = COMPILED_MODULES, root: str = SOURCE_ROOT) -> str:
    """'current' (every module built from its source as it is now), 'stale' (a source changed since, a module
    missing from the build, or no record of what was built) or 'absent' (nothing built).

    Digests, not file times: the build step leaves an extension file untouched when only the shared library
    behind it changed, and a checkout can give an unchanged source a new time."""
    if not any(extension_path(m, root) for m in modules):
        return "absent"
    import json

    try:
        with open(manifest_path(root), encoding="utf-8") as handle:
            built = json.load(handle)
    except (OSError, ValueError):
        return "stale"  # extensions without a readable record of their sources
    for module in modules:
        if extension_path(module, root) is None or built.get(module) != source_digest(module, root):
            return "stale"
    return "current"


class _SourceWhenNotCurrent:
    """A meta-path finder: the compiled modules load from source unless the whole build is current."""

    def __init__(self, modules: Sequence[str], root: str = SOURCE_ROOT) -> None:
        self.modules = frozenset(modules)
        self.root = root
        self.decided: bool | None = None  # True: use the build

    def use_build(self) -> bool:
        if self.decided is None:
            if os.environ.get(PURE_ENV, "") not in ("", "0"):
                self.decided = False
            else:
                state = build_state(sorted(self.modules), self.root)
                if state == "stale":
                    import warnings

                    warnings.warn(
                        "vpccni: the compiled modules were built from other versions of their sources; running "
                        "the pure-Python ones (`make native` rebuilds them)",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                self.decided = state == "current"
        return self.decided

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in self.modules or self.use_build():
            return None  # the normal finders (which prefer a built extension)
        source = source_path(name, self.root)
        if not os.path.exists(source):
            return None
        import importlib.util

        return importlib.util.spec_from_file_location(name, source)


def compiled_in_use(module: ModuleType) -> bool:
    """Whether a module was loaded from its built extension."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)


def install_guard() -> None:
    if not any(isinstance(f, _SourceWhenNotCurrent) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceWhenNotCurrent(COMPILED_MODULES))
