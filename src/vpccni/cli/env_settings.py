"""ipamd settings given on the command line as `--env NAME=VALUE` (node-sim, ipamd, and any command to come)."""

from __future__ import annotations

import re

from vpccni.cli.output import fail

_ENV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


def parse_env(pairs: list[str]) -> dict[str, str]:
    """NAME=VALUE pairs as a dict; a malformed pair is bad input (one line, exit 2)."""
    env = {}
    for pair in pairs:
        match = _ENV.fullmatch(pair)
        if not match:
            fail(f"--env {pair!r}: expected NAME=VALUE, e.g. --env WARM_IP_TARGET=5")
        env[match.group(1)] = match.group(2)
    return env
