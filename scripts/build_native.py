"""Compile `vpccni.native.COMPILED_MODULES` with mypyc, in place next to their sources (`make native`).

Run from the repository root with the project's virtualenv (mypy, which ships mypyc, is a dev dependency).
The C sources, objects and extensions are built under build/mypyc, then the extension modules (and the shared
library they link, `vpccni_native__mypyc`) are renamed into src/, where the editable install's path finds
them, with src/vpccni/.native-build.json, the digest of each source they were built from. Git ignores them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def main() -> None:
    sys.path.insert(0, str(SRC))
    from mypyc.build import mypycify
    from setuptools import setup

    from vpccni.native import COMPILED_MODULES, manifest_path, source_digest, source_path

    digests = {m: source_digest(m) for m in COMPILED_MODULES}  # before compiling: what the build is made from
    if os.path.exists(manifest_path()):
        os.remove(manifest_path())  # a build that fails half-way must not pass for a current one
    os.chdir(SRC)  # mypyc names modules by their path from here
    paths = [os.path.relpath(source_path(m), SRC) for m in COMPILED_MODULES]
    build = ROOT / "build" / "mypyc"
    shutil.rmtree(build / "lib", ignore_errors=True)  # only this build's extensions are installed below
    os.environ.setdefault("MYPY_CACHE_DIR", str(build / "mypy-cache"))
    extensions = mypycify(paths, opt_level="3", group_name="vpccni_native", target_dir=str(build / "c"))
    setup(
        name="vpccni-native",
        ext_modules=extensions,
        script_args=["-q", "build_ext", "--build-temp", str(build / "temp"), "--build-lib", str(build / "lib")],
    )
    for built in (build / "lib").rglob("*.so"):
        _install(built, SRC / built.relative_to(build / "lib"))

    with open(manifest_path(), "w", encoding="utf-8") as handle:
        json.dump(digests, handle, indent=1, sort_keys=True)


def _install(built: Path, target: Path) -> None:
    """Copy then rename: a process running the previous build keeps its mapped file (an in-place overwrite
    would change the code under it)."""
    temp = target.with_name(target.name + ".tmp")
    shutil.copyfile(built, temp)
    os.chmod(temp, 0o755)
    os.replace(temp, target)


if __name__ == "__main__":
    main()
