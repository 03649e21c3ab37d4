"""CloudWatch publishing: PutMetricData in the reference's shape (namespace `Kubernetes`, unit Count, one
`CLUSTER_ID` dimension), at most `BATCH_SIZE` datums a request.

Throttling is retried here with exponential back-off (botocore's own retries are off, so the number of
attempts is ours and testable). Any other failure keeps the datums queued, with their timestamps, for the
next poll; the queue is bounded, the oldest datums go first, and every loss is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vpccni.metrics_helper.names import BATCH_SIZE, DIMENSION, NAMESPACE

log = logging.getLogger("vpccni.metrics_helper.cloudwatch")

THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"})
MAX_QUEUED = 20 * BATCH_SIZE  # about ten minutes of polls at the default interval


def cloudwatch_client(region: str, endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=10, read_timeout=30)
    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url or None, config=config)


class CloudWatchPublisher:
    def __init__(
        self,
        client: Any,
        cluster_id: str,
        *,
        namespace: str = NAMESPACE,
        attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.namespace = namespace
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.on_error = on_error
        self.queued: list[dict[str, Any]] = []
        self.sent = 0
        self.last_error: str | None = None

    def publish(self, figures: Mapping[str, float], timestamp: datetime) -> bool:
        """Queue one poll's figures and send everything queued; False if something is left unsent."""
        dimensions = [{"Name": DIMENSION, "Value": self.cluster_id}]
        self.queued.extend(
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Unit": "Count", "Value": value}
            for name, value in figures.items()
        )
        if len(self.queued) > MAX_QUEUED:
            dropped = len(self.queued) - MAX_QUEUED
            del self.queued[:dropped]
            log.warning("CloudWatch queue full: dropped the oldest datums", extra={"status": f"{dropped} dropped"})
        return self.flush()

    def flush(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        self.last_error = None
        while self.queued:
            batch = self.queued[:BATCH_SIZE]
            try:
                self._put(batch)
            except (ClientError, BotoCoreError) as exc:
                self.last_error = _describe(exc)
                log.warning("PutMetricData failed; datums kept for the next poll", extra={"error": self.last_error})
                if self.on_error is not None:
                    self.on_error(_code(exc) or type(exc).__name__)
                return False
            del self.queued[: len(batch)]
            self.sent += len(batch)
        return True

    def _put(self, batch: list[dict[str, Any]]) -> None:
        from botocore.exceptions import ClientError

        for attempt in range(self.attempts):
            try:
                self.client.put_metric_data(Namespace=self.namespace, MetricData=batch)
                return
            except ClientError as exc:
                if _code(exc) not in THROTTLING_CODES or attempt == self.attempts - 1:
                    raise
                delay = self.backoff * 2**attempt
                log.info("PutMetricData throttled; retrying", extra={"error": _code(exc), "status": f"{delay}s"})
                self.sleep(delay)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
