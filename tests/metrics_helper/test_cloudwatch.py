"""PutMetricData: the reference's shape, batches within the API's limit, throttling retried, failures kept
for the next poll (botocore's Stubber), and a read-back through moto's in-process CloudWatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from vpccni.metrics_helper.cloudwatch import MAX_QUEUED, CloudWatchPublisher
from vpccni.metrics_helper.names import BATCH_SIZE, PUBLISHED_NAMES

AT = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def figures(base: float = 0.0) -> dict[str, float]:
    return {name: base + i for i, name in enumerate(PUBLISHED_NAMES)}


def client() -> Any:
    return boto3.client("cloudwatch", region_name="us-west-2", aws_access_key_id="k", aws_secret_access_key="s")


def datum(name: str, value: float, at: datetime = AT, cluster: str = "prod") -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": "CLUSTER_ID", "Value": cluster}],
        "Timestamp": at,
        "Unit": "Count",
        "Value": value,
    }


def test_one_poll_is_one_request_of_twenty_datums_in_the_references_shape() -> None:
    cw = client()
    with Stubber(cw) as stubber:
        expected = [datum(name, float(i)) for i, name in enumerate(PUBLISHED_NAMES)]
        stubber.add_response("put_metric_data", {}, {"Namespace": "Kubernetes", "MetricData": expected})
        publisher = CloudWatchPublisher(cw, "prod")
        assert publisher.publish(figures(), AT) is True
        stubber.assert_no_pending_responses()
    assert (publisher.sent, publisher.queued) == (20, [])


def test_throttling_is_retried_with_growing_back_off_then_succeeds() -> None:
    cw = client()
    slept: list[float] = []
    with Stubber(cw) as stubber:
        stubber.add_client_error("put_metric_data", "Throttling", "Rate exceeded", 400)
        stubber.add_client_error("put_metric_data", "Throttling", "Rate exceeded", 400)
        stubber.add_response("put_metric_data", {}, {"Namespace": "Kubernetes", "MetricData": ANY})
        publisher = CloudWatchPublisher(cw, "prod", backoff=0.25, sleep=slept.append)
        assert publisher.publish(figures(), AT) is True
        stubber.assert_no_pending_responses()
    assert slept == [0.25, 0.5]


def test_a_failure_keeps_the_datums_for_the_next_poll_which_sends_both_polls_in_batches_of_twenty() -> None:
    cw = client()
    errors: list[str] = []
    later = AT + timedelta(seconds=30)
    with Stubber(cw) as stubber:
        stubber.add_client_error("put_metric_data", "InternalServiceError", "try later", 500)
        first_poll = [datum(name, float(i)) for i, name in enumerate(PUBLISHED_NAMES)]
        second_poll = [datum(name, 100.0 + i, later) for i, name in enumerate(PUBLISHED_NAMES)]
        for batch in (first_poll, second_poll):
            stubber.add_response("put_metric_data", {}, {"Namespace": "Kubernetes", "MetricData": batch})
        publisher = CloudWatchPublisher(cw, "prod", sleep=lambda s: None, on_error=errors.append)
        assert publisher.publish(figures(), AT) is False
        assert len(publisher.queued) == 20 and publisher.last_error is not None
        assert publisher.publish(figures(100.0), later) is True
        stubber.assert_no_pending_responses()
    assert errors == ["InternalServiceError"]
    assert publisher.sent == 40 == 2 * BATCH_SIZE


def test_throttling_that_never_ends_gives_up_after_the_attempts_and_the_queue_stays_bounded() -> None:
    cw = client()
    with Stubber(cw) as stubber:
        for _ in range(3 * 60):
            stubber.add_client_error("put_metric_data", "Throttling", "Rate exceeded", 400)
        publisher = CloudWatchPublisher(cw, "prod", attempts=3, sleep=lambda s: None)
        for poll in range(60):
            assert publisher.publish(figures(), AT + timedelta(seconds=30 * poll)) is False
    assert len(publisher.queued) == MAX_QUEUED
    assert publisher.queued[-1]["Timestamp"] == AT + timedelta(seconds=30 * 59)  # the oldest were dropped


@pytest.mark.parametrize("cluster", ["prod", "team-a/eks"])
def test_get_metric_data_reads_back_what_was_published(cluster: str) -> None:
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="eu-west-1")
        now = datetime.now(UTC).replace(microsecond=0)
        publisher = CloudWatchPublisher(cw, cluster)
        assert publisher.publish(figures(7.0), now)
        queries = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Kubernetes",
                        "MetricName": name,
                        "Dimensions": [{"Name": "CLUSTER_ID", "Value": cluster}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
            for i, name in enumerate(PUBLISHED_NAMES)
        ]
        answer = cw.get_metric_data(
            MetricDataQueries=queries, StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5)
        )
        values = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
        assert [values[f"q{i}"] for i in range(len(PUBLISHED_NAMES))] == [[7.0 + i] for i in range(20)]
