"""The fail-safe's health checks: the pure core (cutover.health_checks) and the Route 53 adapter's create, delete
and read of them, against botocore's Stubber (which checks every request against Route 53's real service model).
Expectations are written from the Route 53 API reference and Developer Guide, not from the code's output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cutover import health_checks as hc
from cutover import route53 as r53
from cutover.errors import HealthCheckRefused, Route53Unavailable

HC1 = "11111111-2222-3333-4444-555555555555"
HC2 = "66666666-7777-8888-9999-000000000000"
OWN = "abcdefab-cdef-abcd-efab-cdefabcdefab"
KEY = "Z1|api.example.com|CNAME"


@pytest.fixture
def stub_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    client = boto3.client("route53", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_sleep(_: float) -> None:
    return None


# ------------------------------------------------------------------ configs


def test_caller_reference_is_stable_per_cutover_and_subject_and_fits_route53() -> None:
    """A retry in one cutover reuses the reference (CreateHealthCheck then returns the same health check); another
    cutover or another alarm gets another; CallerReference is 1 to 64 characters."""
    first = hc.caller_reference("exec-1", "orders-aws-5xx")
    assert first == hc.caller_reference("exec-1", "orders-aws-5xx")
    assert first != hc.caller_reference("exec-2", "orders-aws-5xx")
    assert first != hc.caller_reference("exec-1", "orders-aws-p50")
    assert 1 <= len(hc.caller_reference("e" * 500, "a" * 255)) <= 64


def test_an_alarm_health_check_names_the_alarm_and_its_region() -> None:
    assert hc.alarm_config("orders-aws-5xx", "eu-west-1", "Unhealthy") == {
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Region": "eu-west-1", "Name": "orders-aws-5xx"},
        "InsufficientDataHealthStatus": "Unhealthy",
    }


def test_a_calculated_health_check_is_unhealthy_as_soon_as_one_child_is() -> None:
    """HealthThreshold is how many children must be healthy: all of them."""
    assert hc.calculated_config([HC1, HC2]) == {
        "Type": "CALCULATED",
        "ChildHealthChecks": [HC1, HC2],
        "HealthThreshold": 2,
    }
    with pytest.raises(ValueError):
        hc.calculated_config([])
    with pytest.raises(ValueError):
        hc.calculated_config([HC1] * 257)


def test_the_records_carry_the_alarms_own_health_check_or_the_parent() -> None:
    assert hc.record_health_check({"a": HC1}) == HC1
    assert hc.record_health_check({"a": HC1, "b": HC2, hc.CALCULATED: OWN}) == OWN
    with pytest.raises(ValueError):
        hc.record_health_check({"a": HC1, "b": HC2})


# ------------------------------------------------------------------ association


def rrset(set_id: str, weight: int, health_check: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": "api.example.com.",
        "Type": "CNAME",
        "SetIdentifier": set_id,
        "Weight": weight,
        "TTL": 60,
        "ResourceRecords": [{"Value": f"{set_id}.example.net"}],
    }
    if health_check:
        out["HealthCheckId"] = health_check
    return out


def test_only_the_to_records_carry_the_fail_safe_and_the_input_is_not_changed() -> None:
    batches = {
        "Z1": {
            "Comment": "step 25%",
            "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": rrset("aws", 25)},
                {"Action": "UPSERT", "ResourceRecordSet": rrset("legacy", 75)},
            ],
        }
    }
    out = hc.associate(batches, {KEY: "aws"}, HC1)
    changed = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"] for c in out["Z1"]["Changes"]}
    assert changed["aws"] == {**rrset("aws", 25), "HealthCheckId": HC1}
    assert changed["legacy"] == rrset("legacy", 75)
    assert "HealthCheckId" not in batches["Z1"]["Changes"][0]["ResourceRecordSet"]
    assert out["Z1"]["Comment"] == "step 25%"


def test_the_fail_safe_replaces_an_operators_health_check_for_the_cutover_only() -> None:
    """The operator's own health check on `to` gives way to the fail-safe during the cutover; the snapshot keeps it,
    so every outcome writes it back."""
    snapshot = {KEY: {"zone_id": "Z1", "records": {"aws": rrset("aws", 0, OWN), "legacy": rrset("legacy", 100)}}}
    out = hc.associate(r53.build_change_batches(snapshot, {KEY: {"aws": 25, "legacy": 75}}, "s"), {KEY: "aws"}, HC1)
    assert out["Z1"]["Changes"][0]["ResourceRecordSet"]["HealthCheckId"] == HC1
    assert hc.association(snapshot) == {KEY: {"aws": OWN, "legacy": None}}
    restored = r53.restore_batches(snapshot, "rollback")["Z1"]["Changes"]
    assert [c["ResourceRecordSet"].get("HealthCheckId") for c in restored] == [OWN, None]


def test_association_drift_names_each_record_someone_else_changed() -> None:
    expected = {KEY: {"aws": HC1, "legacy": None}}
    assert hc.association_drift(expected, {KEY: {"aws": HC1, "legacy": None}}) == []
    assert hc.association_drift(expected, {KEY: {"aws": None, "legacy": OWN}}) == [
        f"api.example.com (Z1, CNAME) aws: health check none, expected {HC1}",
        f"api.example.com (Z1, CNAME) legacy: health check {OWN}, expected none",
    ]
    assert hc.association_drift(expected, {}) == [f"api.example.com (Z1, CNAME) aws: health check none, expected {HC1}"]


# ------------------------------------------------------------------ what Route 53 answers with


@pytest.mark.parametrize(
    ("weights", "unhealthy", "effective"),
    [
        # healthy: the weights as written
        ({"legacy": 75, "aws": 25}, set(), {"legacy": 75, "aws": 25}),
        # the new side fails: the old side, with no health check, takes it all
        ({"legacy": 75, "aws": 25}, {"aws"}, {"legacy": 75, "aws": 0}),
        # at 100%: the only non-zero record is unhealthy, so the zero-weight old side answers
        ({"legacy": 0, "aws": 100}, {"aws"}, {"legacy": 1, "aws": 0}),
        # every record unhealthy: Route 53 answers as if all were healthy
        ({"legacy": 75, "aws": 25}, {"aws", "legacy"}, {"legacy": 75, "aws": 25}),
    ],
)
def test_effective_weights_follow_route53s_choice_of_healthy_records(
    weights: dict[str, int], unhealthy: set[str], effective: dict[str, int]
) -> None:
    assert hc.effective_weights({KEY: weights}, {KEY: unhealthy}) == {KEY: effective}


# ------------------------------------------------------------------ the adapter (Stubber)


CONFIG = hc.alarm_config("orders-aws-5xx", "us-east-1", "Unhealthy")


def created(health_check_id: str, reference: str) -> dict[str, Any]:
    return {
        "HealthCheck": {
            "Id": health_check_id,
            "CallerReference": reference,
            "HealthCheckConfig": CONFIG,
            "HealthCheckVersion": 1,
        },
        "Location": f"https://route53.amazonaws.com/2013-04-01/healthcheck/{health_check_id}",
    }


def test_create_sends_the_reference_and_config_and_retries_throttling(stub_client: tuple[Any, Stubber]) -> None:
    client, stubber = stub_client
    request = {"CallerReference": "cutover-abc", "HealthCheckConfig": CONFIG}
    stubber.add_client_error("create_health_check", "Throttling", "Rate exceeded", 400, expected_params=request)
    stubber.add_response("create_health_check", created(HC1, "cutover-abc"), request)
    assert r53.create_health_check(client, "cutover-abc", CONFIG, sleep=no_sleep) == HC1


def test_create_refused_is_a_typed_error_not_retried(stub_client: tuple[Any, Stubber]) -> None:
    client, stubber = stub_client
    stubber.add_client_error("create_health_check", "TooManyHealthChecks", "limit", 400)
    with pytest.raises(HealthCheckRefused) as err:
        r53.create_health_check(client, "cutover-abc", CONFIG, sleep=no_sleep)
    assert err.value.code == "TooManyHealthChecks"


def test_create_throttled_every_time_is_route53_unavailable(stub_client: tuple[Any, Stubber]) -> None:
    client, stubber = stub_client
    for _ in range(8):
        stubber.add_client_error("create_health_check", "Throttling", "Rate exceeded", 400)
    with pytest.raises(Route53Unavailable):
        r53.create_health_check(client, "cutover-abc", CONFIG, sleep=no_sleep)


def test_delete_is_safe_to_retry(stub_client: tuple[Any, Stubber]) -> None:
    """Deleted: True; already gone (a retried cleanup): False; refused: a typed error."""
    client, stubber = stub_client
    stubber.add_response("delete_health_check", {}, {"HealthCheckId": HC1})
    stubber.add_client_error("delete_health_check", "NoSuchHealthCheck", "gone", 404, {"HealthCheckId": HC1})
    stubber.add_client_error("delete_health_check", "AccessDenied", "no", 403, {"HealthCheckId": HC2})
    assert r53.delete_health_check(client, HC1, sleep=no_sleep) is True
    assert r53.delete_health_check(client, HC1, sleep=no_sleep) is False
    with pytest.raises(HealthCheckRefused) as err:
        r53.delete_health_check(client, HC2, sleep=no_sleep)
    assert err.value.code == "AccessDenied"


def test_current_health_checks_reads_each_records_association_from_route53(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the pair with the operator's health check on `to` (moto stores HealthCheckId as given), then the read
    says so per SetIdentifier, and a pair that vanished has no entry to compare (the drift names it)."""
    from moto import mock_aws

    from cutover.plan import validate_plan

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        client = boto3.client("route53", region_name="us-east-1")
        zone = client.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"].split("/")[-1]
        changes = [{"Action": "CREATE", "ResourceRecordSet": rrset("aws", 0, OWN)}]
        changes.append({"Action": "CREATE", "ResourceRecordSet": rrset("legacy", 100)})
        client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        plan = validate_plan(
            {
                "name": "orders-cutover",
                "steps": [100],
                "records": [
                    {"hosted_zone_id": zone, "name": "api.example.com", "type": "CNAME", "from": "legacy", "to": "aws"},
                    {
                        "hosted_zone_id": zone,
                        "name": "gone.example.com",
                        "type": "CNAME",
                        "from": "legacy",
                        "to": "aws",
                    },
                ],
            }
        )
        found = r53.current_health_checks(client, plan, sleep=no_sleep)
    assert found == {
        f"{zone}|api.example.com|CNAME": {"aws": OWN, "legacy": None},
        f"{zone}|gone.example.com|CNAME": {},
    }
