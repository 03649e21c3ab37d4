"""Suite-wide isolation: commands run in-process (the CLI tables) may configure the root logger the way a
real process would (`logs.setup`, `basicConfig`); restore it after each test so later tests do not log to a
closed capture stream at another level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
