"""`vpccni simulate` on a throttle-bound cluster shows the first few engine warnings of each kind and counts the
rest, instead of printing one line per failed EC2 call."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vpccni.cli.app import app
from vpccni.cli.log_digest import RepeatDigest, digested_warnings
from vpccni.cluster.churn import churn_scenario


def test_first_records_of_each_kind_are_shown_and_the_rest_counted() -> None:
    shown: list[str] = []
    logger = logging.getLogger("vpccni.test_digest")
    with digested_warnings(shown.append, logger="vpccni.test_digest") as digest:
        for n in range(10):
            logger.warning("attaching %s failed", f"eni-{n}")
        logger.warning("subnets not listed: %s", "RequestLimitExceeded")
        logger.info("not a warning")
    assert shown[:4] == [
        "WARNING vpccni.test_digest: attaching eni-0 failed",
        "WARNING vpccni.test_digest: attaching eni-1 failed",
        "WARNING vpccni.test_digest: attaching eni-2 failed",
        "WARNING vpccni.test_digest: subnets not listed: RequestLimitExceeded",
    ]
    assert shown[4:] == ["… 7 more like: WARNING vpccni.test_digest: attaching eni-2 failed"]
    assert isinstance(digest, RepeatDigest) and digest not in logger.handlers and logger.propagate


def test_nothing_reaches_other_handlers_while_digested(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("vpccni.test_digest_quiet")
    with caplog.at_level(logging.WARNING), digested_warnings(lambda line: None, logger="vpccni.test_digest_quiet"):
        logger.warning("hidden from the root logger")
    logger.warning("seen again afterwards")
    assert [r.getMessage() for r in caplog.records] == ["seen again afterwards"]


def test_simulate_digests_a_throttle_bound_clusters_warnings(tmp_path: Path) -> None:
    scenario = tmp_path / "churn.yaml"
    scenario.write_text(yaml.safe_dump(churn_scenario(400, 0.5)), encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    more = [line for line in lines if line.startswith("… ")]
    assert more, "a throttle-bound run warns more than three times of a kind"
    counts = [re.match(r"… ([\d,]+) more like", line) for line in more]
    hidden = sum(int(m.group(1).replace(",", "")) for m in counts if m is not None)
    assert hidden > len(lines)
    kinds = Counter(re.sub(r"eni-[0-9a-f]+", "eni-*", line) for line in lines if line.startswith("WARNING"))
    assert max(kinds.values()) <= 3
