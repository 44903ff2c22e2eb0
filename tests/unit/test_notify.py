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


def _checks(count: int, evidence_bytes: int) -> dict[str, object]:
    """A gate report of ``count`` checks whose evidence holds ``evidence_bytes`` bytes of text each."""
    checks = [
        {
            "family": "alarm",
            "subject": f"alarm-{i}",
            "status": "pass",
            "reason": "ok",
            "evidence": {"x": "e" * evidence_bytes},
        }
        for i in range(count)
    ]
    return {"healthy": True, "reasons": [], "checks": checks}


def test_a_small_message_is_sent_as_it_is() -> None:
    """Given a notification far under the limit, when fitted, then it is the same message, untouched."""
    msg = notify.build_message("PreflightPassed", "orders", "e1", {}, evidence=_checks(3, 100))
    assert notify.fit(msg) is msg


def test_evidence_past_the_limit_becomes_a_pointer_to_the_ledger() -> None:
    """Given PreflightPassed carrying 300 checks of 1,000 bytes of evidence each (about 330 KB),
    When fitted,
    Then the evidence alone is replaced by a pointer to this execution's ledger (with its size), the history
    is kept, and both SNS's and EventBridge's counts are under 256 KiB."""
    history = [{"percent": 10, "status": "passed"}]
    msg = notify.build_message("PreflightPassed", "orders", "e1", {}, evidence=_checks(300, 1000), history=history)
    assert max(notify.sizes(msg).values()) > 256 * 1024

    fitted = notify.fit(msg)

    assert fitted["evidence"]["trimmed"] is True
    assert fitted["evidence"]["ledger"] == "CUTOVER#e1"
    assert fitted["evidence"]["bytes"] > 300_000
    assert fitted["history"] == history
    assert max(notify.sizes(fitted).values()) <= 256 * 1024
    assert msg["evidence"]["checks"], "the caller's message is not changed"


def test_the_manual_change_batches_go_last() -> None:
    """Given RollbackFailed whose manual change batches alone pass the limit (and evidence besides),
    When fitted,
    Then the evidence is cut first, then the history, and only then the batches, each pointing to the ledger."""
    batches = {f"record-{i}.example.com": [{"Action": "UPSERT", "pad": "b" * 3000}] for i in range(100)}
    msg = notify.build_message(
        "RollbackFailed", "orders", "e9", {}, evidence=_checks(10, 10), history=[], manual_change_batches=batches
    )

    fitted = notify.fit(msg)

    assert [k for k in notify.TRIMMABLE if isinstance(fitted[k], dict) and fitted[k].get("trimmed")] == [
        "evidence",
        "history",
        "manual_change_batches",
    ]
    assert max(notify.sizes(fitted).values()) <= 256 * 1024


def test_a_notification_past_the_limit_still_reaches_the_topic(env: dict[str, str]) -> None:
    """Given a notification of about 330 KB, which SNS refuses as it is,
    When published,
    Then it arrives, fitted, with its evidence pointing to the ledger."""
    msg = notify.build_message("PreflightPassed", "orders", "e1", {}, evidence=_checks(300, 1000))
    sns = boto3.client("sns", region_name="us-east-1")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=env["topic"], Message=notify.sns_payload(msg), MessageStructure="json")

    assert notify.publish(msg) is True

    received = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=env["queue"])["Messages"]
    body = json.loads(json.loads(received[0]["Body"])["Message"])
    assert body["evidence"]["ledger"] == "CUTOVER#e1"
