"""JSON-lines logging like the reference's ipamd.log: level, ts, caller, msg, plus context fields.

Context goes in `extra=`, e.g. log.info("assigned", extra={"pod": "ns/name", "eni": eni_id}).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

CONTEXT_KEYS = ("pod", "eni", "call", "address", "container", "request", "error", "path", "status", "endpoints")
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "caller": f"{record.module}.py:{record.lineno}",
            "msg": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: str = "INFO", log_file: str = "stderr") -> None:
    """Configure the root logger; `level` and `log_file` take the reference's AWS_VPC_K8S_CNI_LOG* values."""
    handler: logging.Handler
    if log_file in ("", "stderr"):
        handler = logging.StreamHandler(sys.stderr)
    elif log_file == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.FileHandler(log_file)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level.upper(), logging.INFO))
