"""Dataclasses of the compiled modules that write their `__init__` out (mypyc compiles a written-out `__init__`; the
one dataclasses generates runs interpreted, about 15× slower) must take exactly their fields: same names, order
and defaults, every field set. A default factory becomes `None` (or `()` for a tuple), filled in by the body;
`field(default=X)` is X."""

from __future__ import annotations

import ast

import pytest

from vpccni.native import COMPILED_MODULES, source_path


def _written_out_inits() -> list[tuple[str, ast.ClassDef, ast.FunctionDef]]:
    found = []
    for module in COMPILED_MODULES:
        with open(source_path(module), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                continue
            init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if init is not None:
                found.append((f"{module}.{node.name}", node, init))
    return found


def _fields(cls: ast.ClassDef, init: bool = True) -> list[tuple[str, str | None]]:
    """(name, default source) of each dataclass field, in order: those `__init__` takes, or (init=False) the rest,
    which the body derives."""
    fields = []
    for statement in cls.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            if "ClassVar" in ast.unparse(statement.annotation):
                continue
            default = None if statement.value is None else ast.unparse(statement.value)
            if (default is not None and "init=False" in default) == init:
                continue
            fields.append((statement.target.id, default))
    return fields


def _expected_default(default: str | None) -> str | None:
    if default is None or not default.startswith("field("):
        return default
    call = ast.parse(default, mode="eval").body
    assert isinstance(call, ast.Call), default
    given = {k.arg: ast.unparse(k.value) for k in call.keywords}
    if "default" in given:
        return given["default"]
    assert "default_factory" in given, default
    return "()" if given["default_factory"] == "tuple" else "None"


WRITTEN_OUT = _written_out_inits()


def test_the_hot_records_write_their_init_out() -> None:
    names = {name.rsplit(".", 1)[1] for name, _, _ in WRITTEN_OUT}
    assert {"AddRequest", "IpamKey", "Stats", "InstanceMetadata", "NetworkInterface", "Pod", "EniState"} <= names


@pytest.mark.parametrize(("name", "cls", "init"), WRITTEN_OUT, ids=[name for name, _, _ in WRITTEN_OUT])
def test_init_takes_exactly_the_fields(name: str, cls: ast.ClassDef, init: ast.FunctionDef) -> None:
    fields = _fields(cls)
    args = init.args.args[1:]
    assert [a.arg for a in args] == [f for f, _ in fields], f"{name}: parameters differ from the fields"
    defaults: list[str | None] = [None] * (len(args) - len(init.args.defaults))
    defaults += [ast.unparse(d) for d in init.args.defaults]
    assert defaults == [_expected_default(d) for _, d in fields], f"{name}: defaults differ from the fields'"
    assigned = set()
    for statement in ast.walk(init):
        if isinstance(statement, ast.Call) and ast.unparse(statement.func) == "object.__setattr__":
            assigned.add(ast.literal_eval(statement.args[1]))
        elif isinstance(statement, ast.Attribute) and isinstance(statement.ctx, ast.Store):
            assigned.add(statement.attr)
    assert assigned == {f for f, _ in fields + _fields(cls, init=False)}, f"{name}: not every field is set"
