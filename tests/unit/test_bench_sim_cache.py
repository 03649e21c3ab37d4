"""bench/sim_cache.py's instruments: the read chain visits every cache line once per lap, and each child mode
answers with the JSON its parent reads."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).parents[2] / "bench" / "sim_cache.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_cache", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_chain_is_one_cycle_through_every_line() -> None:
    bench = load_bench()
    chain = bench.read_chain(64 * 1024)
    stride = bench.LINE // chain.itemsize
    lines = len(chain) // stride
    assert lines == 1024
    seen, at = set(), 0
    for _ in range(lines):
        assert at % stride == 0 and at not in seen
        seen.add(at)
        at = chain[at]
    assert at == 0 and len(seen) == lines
    assert [chain[i] for i in range(0, 8 * stride, stride)] != list(range(stride, 9 * stride, stride))  # shuffled


def test_child_modes_answer_json() -> None:
    def child(*args: str) -> dict[str, float]:
        out = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))

    assert child("--read-cost", "65536")["ns"] > 0
    rate = child("--rate", "4")
    assert rate["nodes"] == 4 and rate["steady_events"] > 0 and rate["steady_events_per_s"] > 0
    assert child("--heap", "4")["bytes_per_node"] > 0
