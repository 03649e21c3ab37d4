"""The compiled hot modules (vpccni/native.py): a stale or partial build never loads, and compiled and pure
Python give the same answers."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vpccni.ipam.node
from vpccni import native
from vpccni.cluster import ClusterSimulation
from vpccni.cluster.churn import churn_scenario
from vpccni.cluster.scenario import Scenario

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
MODULES = ("fakepkg.hot", "fakepkg.warm")


def _tree(tmp_path: Path, built: dict[str, str], manifest: bool = True) -> Path:
    """A package of two modules; `built` maps a module to the source its extension was built from."""
    (tmp_path / "fakepkg").mkdir()
    for module in MODULES:
        Path(native.source_path(module, str(tmp_path))).write_text("WHERE = 'source'\n")
    digests = {}
    for module, source in built.items():
        path = Path(native.source_path(module, str(tmp_path)))
        path.with_name(path.stem + SUFFIX).write_bytes(b"")
        digests[module] = hashlib.sha256(source.encode()).hexdigest()
    if manifest and built:
        Path(native.manifest_path(str(tmp_path))).parent.mkdir(exist_ok=True)
        Path(native.manifest_path(str(tmp_path))).write_text(json.dumps(digests))
    return tmp_path


AS_NOW = "WHERE = 'source'\n"


@pytest.mark.parametrize(
    ("built", "manifest", "state"),
    [
        ({}, True, "absent"),
        ({"fakepkg.hot": AS_NOW, "fakepkg.warm": AS_NOW}, True, "current"),
        ({"fakepkg.hot": AS_NOW, "fakepkg.warm": "WHERE = 'old'\n"}, True, "stale"),  # edited since the build
        ({"fakepkg.hot": AS_NOW}, True, "stale"),  # a partial build
        ({"fakepkg.hot": AS_NOW, "fakepkg.warm": AS_NOW}, False, "stale"),  # no record of what was built
    ],
)
def test_build_state(tmp_path: Path, built: dict[str, str], manifest: bool, state: str) -> None:
    assert native.build_state(MODULES, str(_tree(tmp_path, built, manifest))) == state


def test_a_stale_build_loads_every_module_from_source_with_one_warning(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"fakepkg.hot": AS_NOW, "fakepkg.warm": "WHERE = 'old'\n"})
    finder = native._SourceWhenNotCurrent(MODULES, str(root))
    with pytest.warns(RuntimeWarning, match="built from other versions of their sources"):
        spec = finder.find_spec("fakepkg.hot")
    assert spec is not None and spec.origin == native.source_path("fakepkg.hot", str(root))
    warm = finder.find_spec("fakepkg.warm")  # no second warning: the decision is made once
    assert warm is not None and warm.origin is not None and warm.origin.endswith("warm.py")
    assert finder.find_spec("fakepkg.other") is None  # not a compiled module: the normal finders


def test_a_current_build_is_left_to_the_normal_finders(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"fakepkg.hot": AS_NOW, "fakepkg.warm": AS_NOW})
    assert native._SourceWhenNotCurrent(MODULES, str(root)).find_spec("fakepkg.hot") is None


def test_pure_python_is_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path, {"fakepkg.hot": AS_NOW, "fakepkg.warm": AS_NOW})
    monkeypatch.setenv(native.PURE_ENV, "1")
    spec = native._SourceWhenNotCurrent(MODULES, str(root)).find_spec("fakepkg.hot")
    assert spec is not None and spec.origin is not None and spec.origin.endswith("hot.py")


def test_every_compiled_module_has_its_source() -> None:
    for module in native.COMPILED_MODULES:
        assert Path(native.source_path(module)).is_file(), module


def test_the_build_is_used_when_current() -> None:
    if native.build_state() != "current":
        pytest.skip(f"the compiled modules are {native.build_state()} (`make native` builds them)")
    assert native.compiled_in_use(vpccni.ipam.node)


def _summary_in(pure: bool) -> dict[str, object]:
    code = (
        "import json; from vpccni.cluster import ClusterSimulation; from vpccni.cluster.churn import churn_scenario;"
        "from vpccni.cluster.scenario import Scenario; from vpccni import native; import vpccni.ipam.node as n;"
        "s = ClusterSimulation(Scenario.model_validate(churn_scenario(8, 2)), trail='none').run();"
        "print(json.dumps({'compiled': native.compiled_in_use(n), 'summary': s}, default=str))"
    )
    env = {**os.environ, native.PURE_ENV: "1" if pure else "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_pure_python_gives_the_compiled_answers() -> None:
    pure = _summary_in(pure=True)
    assert pure["compiled"] is False
    here = ClusterSimulation(Scenario.model_validate(churn_scenario(8, 2)), trail="none").run()
    assert pure["summary"] == json.loads(json.dumps(here, default=str))
