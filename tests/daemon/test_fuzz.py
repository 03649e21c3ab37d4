"""The CNI fuzzer's short run (the full 10,000 cases are `bench/fuzz_cni.py`): hypothesis-generated plugin
invocations with ipamd up and down, then malformed protobuf on the gRPC port — no traceback, only CNI error
JSON or valid results, no state change from a rejected case, no crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "fuzz_cni.py"


def test_a_few_hundred_fuzzed_invocations_fail_cleanly_and_change_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--cases", "200", "--seed", "7", "--json", "--examples"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["cases"] == 200 + 20  # plugin cases, then a tenth as many on the gRPC port
    failures = {k: figures[k] for k in ("tracebacks", "invalid_output", "state_changed_on_error", "crashes")}
    assert failures == dict.fromkeys(failures, 0), figures.get("examples")
