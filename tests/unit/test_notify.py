"""Notification messages and their delivery, which must never raise."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from cutover import aws, notify, settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mock_aws():
        aws.reset_clients()
        settings.settings.cache_clear()
        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="t")["TopicArn"]
        boto3.client("events", region_name="us-east-1").create_event_bus(Name="bus")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns", region_name="us-east-1").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        monkeypatch.setenv("TABLE_NAME", "t")
        monkeypatch.setenv("TOPIC_ARN", topic)
        monkeypatch.setenv("EVENT_BUS_NAME", "bus")
        yield {"queue": queue, "topic": topic}
        aws.reset_clients()
        settings.settings.cache_clear()


def test_message_shape_and_subject() -> None:
    msg = notify.build_message(
        "StepCompleted", "orders", "exec-1", {"api.example.com": {"legacy": 75, "aws": 25}}, percent=25
    )
    assert msg == {
        "event": "StepCompleted",
        "name": "orders",
        "execution_id": "exec-1",
        "weights": {"api.example.com": {"legacy": 75, "aws": 25}},
        "percent": 25,
    }
    assert notify.subject(msg) == "Cutover orders: step 25% completed"
    long = notify.build_message("RollbackFailed", "x" * 120, "e", {})
    assert len(notify.subject(long)) == 100
    with pytest.raises(ValueError, match="unknown notification event"):
        notify.build_message("Nope", "n", "e", {})


def test_publish_reaches_the_topic(env: dict[str, str]) -> None:
    """Given a topic with a queue subscribed, when a notification is published, then its JSON arrives."""
    msg = notify.build_message("CutoverStarted", "orders", "e1", {})
    assert notify.publish(msg) is True
    body = json.loads(
        boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=env["queue"])["Messages"][0]["Body"]
    )
    assert json.loads(body["Message"])["event"] == "CutoverStarted"
    assert body["Subject"] == "Cutover orders: started"


def test_publish_failure_is_swallowed(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a topic that no longer exists, when publishing, then False is returned and nothing raises."""
    monkeypatch.setenv("TOPIC_ARN", env["topic"] + "-gone")
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    settings.settings.cache_clear()
    assert notify.publish(notify.build_message("CutoverRolledBack", "orders", "e1", {})) is False


def test_missing_configuration_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("TOPIC_ARN", raising=False)
    settings.settings.cache_clear()
    from cutover.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="TABLE_NAME, TOPIC_ARN"):
        settings.settings()
    settings.settings.cache_clear()
