"""Route 53 adapter: moto for reading and writing records, botocore's Stubber for what moto cannot show
(PENDING changes, throttling, rejected batches) with request shapes checked against the real service model."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from cutover import route53 as r53
from cutover.errors import ChangeRejected, RecordsInvalid, Route53Unavailable, SyncTimeout, UnsafeWeights
from cutover.plan import Plan, validate_plan
from cutover.weights import drift, plan_weights, weights_of_snapshot

ELB_ZONE = "Z35SXDOTRQ7X7K"
SUBMITTED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region: nothing here may reach a real account."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture
def r53_client() -> Iterator[Any]:
    """A Route 53 client talking to moto's in-process emulator."""
    with mock_aws():
        yield boto3.client("route53", region_name="us-east-1")


@pytest.fixture
def stub_client() -> Iterator[tuple[Any, Stubber]]:
    """A Route 53 client whose every call must be one the test queued (and shaped as the real API wants)."""
    client = boto3.client("route53", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class FakeTime:
    """A clock that only moves when someone sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ------------------------------------------------------------------ helpers


def make_zone(client: Any, name: str = "example.com") -> str:
    zone_id: str = client.create_hosted_zone(Name=name, CallerReference=f"ref-{name}")["HostedZone"]["Id"]
    return zone_id.rsplit("/", 1)[-1]


def weighted(
    name: str,
    set_id: str,
    weight: int | None,
    *,
    rtype: str = "CNAME",
    ttl: int = 60,
    value: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    rrset: dict[str, Any] = {"Name": name, "Type": rtype, "SetIdentifier": set_id}
    if weight is not None:
        rrset["Weight"] = weight
    if "AliasTarget" not in extra:
        default = "192.0.2.10" if rtype == "A" else f"{set_id}.example.net"
        rrset["TTL"] = ttl
        rrset["ResourceRecords"] = [{"Value": value or default}]
    rrset.update(extra)
    return rrset


def create(client: Any, zone_id: str, *rrsets: dict[str, Any]) -> None:
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in rrsets]},
    )


def make_plan(*records: tuple[str, str, str]) -> Plan:
    return validate_plan(
        {
            "name": "orders",
            "records": [
                {"hosted_zone_id": zone, "name": name, "type": rtype, "from": "legacy", "to": "aws"}
                for zone, name, rtype in records
            ],
            "steps": [10, 50, 100],
        }
    )


def listed(client: Any, zone_id: str, name: str, rtype: str) -> dict[str, dict[str, Any]]:
    """The record sets of a name and type, straight from Route 53, by SetIdentifier."""
    out = client.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name, StartRecordType=rtype)
    return {
        r["SetIdentifier"]: r
        for r in out["ResourceRecordSets"]
        if r["Name"].rstrip(".").lower() == name and r["Type"] == rtype and "SetIdentifier" in r
    }


def change_info(change_id: str = "/change/C123", status: str = "PENDING") -> dict[str, Any]:
    return {"ChangeInfo": {"Id": change_id, "Status": status, "SubmittedAt": SUBMITTED}}


BATCH = {
    "Comment": "step 10",
    "Changes": [{"Action": "UPSERT", "ResourceRecordSet": weighted("api.example.com.", "aws", 10)}],
}


# ------------------------------------------------------------------ read_pairs (moto)


def test_read_pairs_snapshots_full_record_sets(r53_client: Any) -> None:
    """Given a zone with a weighted CNAME pair, a weighted A pair, and unrelated neighbours
    When the plan's pairs are read
    Then the snapshot holds exactly the two records of each pair, as Route 53 returned them."""
    zone = make_zone(r53_client)
    create(
        r53_client,
        zone,
        weighted("api.example.com", "legacy", 100),
        weighted("api.example.com", "aws", 0),
        weighted("www.example.com", "legacy", 100, rtype="A", ttl=300),
        weighted("www.example.com", "aws", 0, rtype="A", ttl=300, value="192.0.2.20"),
        weighted("api2.example.com", "legacy", 1),
        {"Name": "api.example.com", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"hello"'}]},
    )
    plan = make_plan((zone, "api.example.com", "CNAME"), (f"/hostedzone/{zone}", "WWW.Example.com.", "A"))

    snapshot = r53.read_pairs(r53_client, plan)

    assert snapshot == {
        f"{zone}|api.example.com|CNAME": {
            "zone_id": zone,
            "name": "api.example.com",
            "type": "CNAME",
            "from": "legacy",
            "to": "aws",
            "records": listed(r53_client, zone, "api.example.com", "CNAME"),
        },
        f"{zone}|www.example.com|A": {
            "zone_id": zone,
            "name": "www.example.com",
            "type": "A",
            "from": "legacy",
            "to": "aws",
            "records": listed(r53_client, zone, "www.example.com", "A"),
        },
    }
    assert snapshot[f"{zone}|www.example.com|A"]["records"]["legacy"]["TTL"] == 300
    assert weights_of_snapshot(snapshot) == {
        f"{zone}|api.example.com|CNAME": {"legacy": 100, "aws": 0},
        f"{zone}|www.example.com|A": {"legacy": 100, "aws": 0},
    }


def test_read_pairs_keeps_alias_targets_and_health_checks(r53_client: Any) -> None:
    """Given an A pair where ``aws`` is an alias to a load balancer and ``legacy`` has a health check
    When the pair is read
    Then the snapshot keeps the AliasTarget and the HealthCheckId untouched."""
    zone = make_zone(r53_client)
    check = r53_client.create_health_check(
        CallerReference="hc",
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "old.example.net", "Port": 80},
    )["HealthCheck"]["Id"]
    alias = {"HostedZoneId": ELB_ZONE, "DNSName": "lb-1.us-east-1.elb.amazonaws.com.", "EvaluateTargetHealth": True}
    create(
        r53_client,
        zone,
        weighted("api.example.com", "legacy", 100, rtype="A", HealthCheckId=check),
        weighted("api.example.com", "aws", 0, rtype="A", AliasTarget=alias),
    )

    records = r53.read_pairs(r53_client, make_plan((zone, "api.example.com", "A")))[f"{zone}|api.example.com|A"][
        "records"
    ]

    assert records["aws"]["AliasTarget"] == alias
    assert "TTL" not in records["aws"]
    assert records["legacy"]["HealthCheckId"] == check


def test_read_pairs_lists_every_problem(r53_client: Any) -> None:
    """Given one plan whose records are missing, not weighted, of different TTLs, shared with a third
    record that takes traffic, and in a zone that does not exist
    When the pairs are read
    Then one RecordsInvalid names every problem with its record index."""
    zone = make_zone(r53_client)
    create(
        r53_client,
        zone,
        weighted("a.example.com", "legacy", 100),  # 'aws' missing
        weighted("b.example.com", "legacy", None, Failover="PRIMARY"),  # not weighted
        weighted("b.example.com", "aws", 0),
        weighted("c.example.com", "legacy", 100, ttl=60),
        weighted("c.example.com", "aws", 0, ttl=300),
        weighted("d.example.com", "legacy", 90),
        weighted("d.example.com", "aws", 0),
        weighted("d.example.com", "canary", 10),
    )
    plan = make_plan(
        (zone, "a.example.com", "CNAME"),
        (zone, "b.example.com", "CNAME"),
        (zone, "c.example.com", "CNAME"),
        (zone, "d.example.com", "CNAME"),
        ("ZNOSUCHZONE", "e.example.com", "CNAME"),
        (zone, "f.example.com", "A"),
    )

    with pytest.raises(RecordsInvalid) as err:
        r53.read_pairs(r53_client, plan)

    assert err.value.problems == [
        f"records[0]: no record a.example.com CNAME with SetIdentifier 'aws' in zone {zone}",
        f"records[1]: record b.example.com CNAME 'legacy' in zone {zone} is not weighted",
        "records[2]: TTLs differ (legacy 60, aws 300)",
        f"records[3]: record d.example.com CNAME 'canary' in zone {zone} also takes traffic (weight 10); "
        "only 'legacy' and 'aws' may have a weight above 0",
        "records[4].hosted_zone_id: hosted zone ZNOSUCHZONE does not exist",
        f"records[5]: no record f.example.com A with SetIdentifier 'legacy' in zone {zone}",
        f"records[5]: no record f.example.com A with SetIdentifier 'aws' in zone {zone}",
    ]


def test_read_pairs_tolerates_a_third_record_without_traffic(r53_client: Any) -> None:
    """Given a pair plus a third record of weight 0 (a standby that takes no traffic)
    When the pair is read
    Then it is accepted and the snapshot holds only the pair."""
    zone = make_zone(r53_client)
    create(
        r53_client,
        zone,
        weighted("api.example.com", "legacy", 100),
        weighted("api.example.com", "aws", 0),
        weighted("api.example.com", "standby", 0),
    )
    snapshot = r53.read_pairs(r53_client, make_plan((zone, "api.example.com", "CNAME")))
    assert sorted(snapshot[f"{zone}|api.example.com|CNAME"]["records"]) == ["aws", "legacy"]


def test_read_pairs_unescapes_route53_names() -> None:
    """Given Route 53 spells a wildcard name with an octal escape (``\\052``), in upper case, with a trailing dot
    When a plan for ``*.example.com`` is read
    Then the record still matches."""
    assert r53.route53_name("\\052.Example.COM.") == "*.example.com"


# ------------------------------------------------------------------ pagination (Stubber)


def _list_params(name: str = "api.example.com", **extra: str) -> dict[str, str]:
    return {"HostedZoneId": "Z1", "StartRecordName": name, "StartRecordType": "CNAME", **extra}


def _page(*rrsets: dict[str, Any], next_id: str | None = None, truncated: bool = False) -> dict[str, Any]:
    page: dict[str, Any] = {"ResourceRecordSets": list(rrsets), "IsTruncated": truncated, "MaxItems": "1"}
    if truncated:
        page["NextRecordName"] = "api.example.com."
        page["NextRecordType"] = "CNAME"
        if next_id:
            page["NextRecordIdentifier"] = next_id
    return page


def test_read_pairs_follows_pages_within_a_group(stub_client: tuple[Any, Stubber]) -> None:
    """Given Route 53 splits a weighted group across two pages (NextRecordIdentifier)
    When the pair is read
    Then the second page is asked for from that identifier and reading stops at the next name."""
    client, stubber = stub_client
    legacy = weighted("api.example.com.", "legacy", 100)
    aws = weighted("api.example.com.", "aws", 0)
    other = weighted("other.example.com.", "x", 1)
    stubber.add_response("list_resource_record_sets", _page(legacy, truncated=True, next_id="aws"), _list_params())
    stubber.add_response(
        "list_resource_record_sets",
        _page(aws, other, truncated=True),
        _list_params("api.example.com.", StartRecordIdentifier="aws"),
    )

    snapshot = r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")))

    assert snapshot["Z1|api.example.com|CNAME"]["records"] == {"legacy": legacy, "aws": aws}


def test_read_pairs_stops_when_a_page_brings_nothing_new(stub_client: tuple[Any, Stubber]) -> None:
    """Given a service that ignores StartRecordIdentifier and returns the same truncated page again (as moto does)
    When the pair is read
    Then reading stops after that page instead of looping, and the missing record is reported."""
    client, stubber = stub_client
    legacy = weighted("api.example.com.", "legacy", 100)
    stubber.add_response("list_resource_record_sets", _page(legacy, truncated=True), _list_params())
    stubber.add_response("list_resource_record_sets", _page(legacy, truncated=True), _list_params("api.example.com."))

    with pytest.raises(RecordsInvalid, match="SetIdentifier 'aws'"):
        r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")))


def test_read_pairs_stops_at_the_next_name(stub_client: tuple[Any, Stubber]) -> None:
    """Given a truncated page whose next record is another name
    When the pair is read
    Then no further page is asked for."""
    client, stubber = stub_client
    pair = (weighted("api.example.com.", "legacy", 100), weighted("api.example.com.", "aws", 0))
    page = {**_page(*pair, truncated=True), "NextRecordName": "api2.example.com."}
    stubber.add_response("list_resource_record_sets", page, _list_params())

    snapshot = r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")))

    assert sorted(snapshot["Z1|api.example.com|CNAME"]["records"]) == ["aws", "legacy"]


def test_read_pairs_retries_throttled_listing(stub_client: tuple[Any, Stubber]) -> None:
    """Given listing is throttled once, then answers
    When the pair is read
    Then it is retried after a jittered pause and the snapshot is complete."""
    client, stubber = stub_client
    pair = (weighted("api.example.com.", "legacy", 100), weighted("api.example.com.", "aws", 0))
    stubber.add_client_error("list_resource_record_sets", "Throttling", "Rate exceeded", 400)
    stubber.add_response("list_resource_record_sets", _page(*pair), _list_params())
    fake = FakeTime()

    snapshot = r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")), sleep=fake.sleep, rng=lambda: 0.5)

    assert sorted(snapshot["Z1|api.example.com|CNAME"]["records"]) == ["aws", "legacy"]
    assert fake.sleeps == [pytest.approx(0.1)]


def test_read_pairs_gives_up_when_listing_stays_throttled(stub_client: tuple[Any, Stubber]) -> None:
    """Given listing is throttled on every attempt
    When the pair is read
    Then Route53Unavailable names the record, the zone and the number of attempts."""
    client, stubber = stub_client
    for _ in range(8):
        stubber.add_client_error("list_resource_record_sets", "Throttling", "Rate exceeded", 400)
    with pytest.raises(Route53Unavailable, match=r"api\.example\.com CNAME in zone Z1 after 8 attempts: Throttling"):
        r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")), sleep=lambda s: None)


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [("InvalidInput", 400, RecordsInvalid), ("AccessDenied", 403, ClientError)],
)
def test_read_pairs_other_listing_errors(
    stub_client: tuple[Any, Stubber], code: str, status: int, outcome: type[Exception]
) -> None:
    """Given listing fails with InvalidInput (a problem of the plan) or AccessDenied (a problem of the deployment)
    When the pair is read
    Then the first becomes a RecordsInvalid problem and the second surfaces as itself, unretried."""
    client, stubber = stub_client
    stubber.add_client_error("list_resource_record_sets", code, "nope", status)
    with pytest.raises(outcome, match=code):
        r53.read_pairs(client, make_plan(("Z1", "api.example.com", "CNAME")))


# ------------------------------------------------------------------ current_weights (moto)


def test_current_weights_show_drift(r53_client: Any) -> None:
    """Given the controller read a pair, then someone changed a weight, deleted nothing, and added a canary
    When the current weights are compared with the expected ones
    Then drift names both differences."""
    zone = make_zone(r53_client)
    create(r53_client, zone, weighted("api.example.com", "legacy", 90), weighted("api.example.com", "aws", 10))
    plan = make_plan((zone, "api.example.com", "CNAME"))
    expected = plan_weights(plan, 10)
    assert drift(expected, r53.current_weights(r53_client, plan)) == []

    r53_client.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": weighted("api.example.com", "aws", 30)},
                {"Action": "CREATE", "ResourceRecordSet": weighted("api.example.com", "canary", 5)},
            ]
        },
    )

    assert drift(expected, r53.current_weights(r53_client, plan)) == [
        f"api.example.com ({zone}, CNAME) aws: expected 10, found 30",
        f"api.example.com ({zone}, CNAME) canary: expected no record, found 5",
    ]


def test_current_records_read_each_group_once_for_weights_and_health_checks(
    stub_client: tuple[Any, Stubber],
) -> None:
    """Given one weighted pair whose `to` record carries a health check, listed in one page
    When the weights and the association are read together (a fail-safe shift's drift check)
    Then one ListResourceRecordSets answers both (the stubber holds exactly one response)."""
    client, stubber = stub_client
    legacy = weighted("api.example.com.", "legacy", 90)
    aws = {**weighted("api.example.com.", "aws", 10), "HealthCheckId": "hc-1"}
    stubber.add_response("list_resource_record_sets", _page(legacy, aws), _list_params())

    weights, carried = r53.current_records(client, make_plan(("Z1", "api.example.com", "CNAME")))

    stubber.assert_no_pending_responses()
    assert weights == {"Z1|api.example.com|CNAME": {"aws": 10, "legacy": 90}}
    assert carried == {"Z1|api.example.com|CNAME": {"legacy": None, "aws": "hc-1"}}


def test_current_weights_leave_out_what_is_gone(r53_client: Any) -> None:
    """Given a record that lost its weight, a record that is missing, and a zone that does not exist
    When the current weights are read
    Then no RecordsInvalid is raised; what is gone is left out so drift reports it."""
    zone = make_zone(r53_client)
    create(
        r53_client,
        zone,
        weighted("api.example.com", "legacy", None, Failover="PRIMARY"),
        weighted("api.example.com", "aws", 10),
        weighted("www.example.com", "legacy", 100),
    )
    plan = make_plan(
        (zone, "api.example.com", "CNAME"), (zone, "www.example.com", "CNAME"), ("ZGONE", "x.example.com", "A")
    )

    assert r53.current_weights(r53_client, plan) == {
        f"{zone}|api.example.com|CNAME": {"aws": 10},
        f"{zone}|www.example.com|CNAME": {"legacy": 100},
        "ZGONE|x.example.com|A": {},
    }


# ------------------------------------------------------------------ change batches (pure)


def _snapshot() -> dict[str, Any]:
    alias = {"HostedZoneId": ELB_ZONE, "DNSName": "lb.example.net.", "EvaluateTargetHealth": False}

    def entry(zone: str, name: str, rtype: str, legacy: dict[str, Any], aws: dict[str, Any]) -> dict[str, Any]:
        records = {"legacy": legacy, "aws": aws}
        return {"zone_id": zone, "name": name, "type": rtype, "from": "legacy", "to": "aws", "records": records}

    return {
        "Z1|www.example.com|A": entry(
            "Z1",
            "www.example.com",
            "A",
            weighted("www.example.com.", "legacy", 100, rtype="A", HealthCheckId="hc-1"),
            weighted("www.example.com.", "aws", 0, rtype="A", AliasTarget=alias),
        ),
        "Z1|api.example.com|CNAME": entry(
            "Z1",
            "api.example.com",
            "CNAME",
            weighted("api.example.com.", "legacy", 100),
            weighted("api.example.com.", "aws", 0),
        ),
        "Z2|api.example.org|CNAME": entry(
            "Z2",
            "api.example.org",
            "CNAME",
            weighted("api.example.org.", "legacy", 100),
            weighted("api.example.org.", "aws", 0),
        ),
    }


def test_build_change_batches_one_batch_per_zone_with_full_records() -> None:
    """Given a snapshot of three pairs in two zones
    When the batches for 25 % are built
    Then there is one batch per zone, records in a stable order, each the full snapshot record with the new weight."""
    snapshot = _snapshot()
    target = {key: {"legacy": 75, "aws": 25} for key in snapshot}

    batches = r53.build_change_batches(snapshot, target, "orders: step 25%")

    assert list(batches) == ["Z1", "Z2"]
    z1 = batches["Z1"]
    assert z1["Comment"] == "orders: step 25%"
    assert [
        (c["Action"], c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["SetIdentifier"]) for c in z1["Changes"]
    ] == [
        ("UPSERT", "api.example.com.", "aws"),
        ("UPSERT", "api.example.com.", "legacy"),
        ("UPSERT", "www.example.com.", "aws"),
        ("UPSERT", "www.example.com.", "legacy"),
    ]
    www_aws = z1["Changes"][2]["ResourceRecordSet"]
    assert www_aws == {**snapshot["Z1|www.example.com|A"]["records"]["aws"], "Weight": 25}
    assert z1["Changes"][3]["ResourceRecordSet"]["HealthCheckId"] == "hc-1"
    assert len(batches["Z2"]["Changes"]) == 2
    assert snapshot == _snapshot(), "the snapshot itself is never modified"
    assert r53.build_change_batches(snapshot, target, "orders: step 25%") == batches


@pytest.mark.parametrize("bad", [{"legacy": 0, "aws": 0}, {"legacy": 0, "aws": 256}, {"legacy": -1, "aws": 100}])
def test_build_change_batches_refuses_unsafe_weights(bad: dict[str, int]) -> None:
    """Given target weights that are all 0, above 255 or negative (the emulator would accept them)
    When batches are built
    Then UnsafeWeights is raised before anything is built."""
    with pytest.raises(UnsafeWeights):
        r53.build_change_batches(_snapshot(), {"Z1|api.example.com|CNAME": bad}, "x")


def test_build_change_batches_needs_the_snapshot_record() -> None:
    """Given a target naming a record or a SetIdentifier the snapshot does not hold
    When batches are built
    Then ValueError says the full record set is unknown."""
    with pytest.raises(ValueError, match=r"nope\.example\.com \(Z1, A\): is not in the snapshot"):
        r53.build_change_batches(_snapshot(), {"Z1|nope.example.com|A": {"legacy": 1}}, "x")
    with pytest.raises(ValueError, match="canary: is not in the snapshot"):
        r53.build_change_batches(_snapshot(), {"Z1|api.example.com|CNAME": {"canary": 1}}, "x")


def test_batches_comment_is_bounded_and_optional() -> None:
    """Given a comment longer than Route 53's 256 characters, and no comment
    When batches are built
    Then the comment is cut to 256 characters, or left out."""
    target = {"Z2|api.example.org|CNAME": {"legacy": 50, "aws": 50}}
    assert len(r53.build_change_batches(_snapshot(), target, "x" * 300)["Z2"]["Comment"]) == 256
    assert "Comment" not in r53.restore_batches(_snapshot(), "")["Z2"]


def test_restore_batches_write_the_snapshot_back_exactly() -> None:
    """Given a snapshot
    When its restore batches are built
    Then every record set of the snapshot is UPSERTed unchanged, one batch per zone."""
    snapshot = _snapshot()
    batches = r53.restore_batches(snapshot, "rollback")
    restored = {
        (zone, c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["SetIdentifier"]): c["ResourceRecordSet"]
        for zone, batch in batches.items()
        for c in batch["Changes"]
    }
    expected = {
        (e["zone_id"], rrset["Name"], set_id): rrset
        for e in snapshot.values()
        for set_id, rrset in e["records"].items()
    }
    assert restored == expected
    assert {c["Action"] for b in batches.values() for c in b["Changes"]} == {"UPSERT"}
    assert r53.restore_batches({}, "rollback") == {}


# ------------------------------------------------------------------ round trip (moto)


def test_shift_then_restore_round_trip(r53_client: Any) -> None:
    """Given a CNAME pair with a health check and an alias A pair, snapshotted
    When the 50 % step is applied for real, then the snapshot is restored
    Then the step changed only the weights, and the restore reads back exactly the snapshot."""
    zone = make_zone(r53_client)
    check = r53_client.create_health_check(
        CallerReference="hc",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "old.example.net", "Port": 443},
    )["HealthCheck"]["Id"]
    alias = {"HostedZoneId": ELB_ZONE, "DNSName": "lb-1.us-east-1.elb.amazonaws.com.", "EvaluateTargetHealth": True}
    create(
        r53_client,
        zone,
        weighted("api.example.com", "legacy", 100, ttl=30, HealthCheckId=check),
        weighted("api.example.com", "aws", 0, ttl=30),
        weighted("www.example.com", "legacy", 100, rtype="A", ttl=60),
        weighted("www.example.com", "aws", 0, rtype="A", AliasTarget=alias),
    )
    plan = make_plan((zone, "api.example.com", "CNAME"), (zone, "www.example.com", "A"))
    snapshot = json.loads(json.dumps(r53.read_pairs(r53_client, plan)))  # as it travels between workflow states

    submitted = r53.submit_all(r53_client, r53.build_change_batches(snapshot, plan_weights(plan, 50), "step 50"))
    stepped = r53.read_pairs(r53_client, plan)

    assert [s["zone_id"] for s in submitted] == [zone]
    assert drift(plan_weights(plan, 50), weights_of_snapshot(stepped)) == []
    for key, entry in snapshot.items():
        for set_id, rrset in entry["records"].items():
            assert stepped[key]["records"][set_id] == {**rrset, "Weight": 50}

    r53.submit_all(r53_client, r53.restore_batches(snapshot, "rollback"))
    r53.wait_insync(r53_client, [s["change_id"] for s in submitted], timeout=5)

    assert r53.read_pairs(r53_client, plan) == snapshot


def test_submit_change_real_upsert(r53_client: Any) -> None:
    """Given a weighted pair in the emulator
    When one batch is submitted
    Then the change is applied and the result carries the bare change id, status, time and attempts."""
    zone = make_zone(r53_client)
    create(r53_client, zone, weighted("api.example.com", "legacy", 100), weighted("api.example.com", "aws", 0))
    plan = make_plan((zone, "api.example.com", "CNAME"))
    batches = r53.build_change_batches(r53.read_pairs(r53_client, plan), plan_weights(plan, 10), "step 10")

    result = r53.submit_change(r53_client, f"/hostedzone/{zone}", batches[zone])

    assert result["zone_id"] == zone
    assert result["change_id"] and "/" not in result["change_id"]
    assert result["status"] in ("PENDING", "INSYNC")
    assert dt.datetime.fromisoformat(result["submitted_at"])
    assert result["attempts"] == 1
    assert r53.current_weights(r53_client, plan) == {f"{zone}|api.example.com|CNAME": {"aws": 10, "legacy": 90}}


@pytest.mark.parametrize(("zones", "calls"), [(["example.com"], 1), (["example.com", "example.org"], 2)])
def test_one_call_per_zone(r53_client: Any, zones: list[str], calls: int) -> None:
    """Given two records in one zone, or one record in each of two zones
    When the step is submitted
    Then Route 53 receives exactly one ChangeResourceRecordSets call per zone."""
    zone_ids = [make_zone(r53_client, z) for z in zones]
    records = []
    for i, name in enumerate(["api", "www"]):
        zone_id, domain = zone_ids[i % len(zone_ids)], zones[i % len(zones)]
        fqdn = f"{name}.{domain}"
        create(r53_client, zone_id, weighted(fqdn, "legacy", 100), weighted(fqdn, "aws", 0))
        records.append((zone_id, fqdn, "CNAME"))
    plan = make_plan(*records)
    batches = r53.build_change_batches(r53.read_pairs(r53_client, plan), plan_weights(plan, 10), "step 10")
    seen: list[str] = []
    r53_client.meta.events.register(
        "before-parameter-build.route53.ChangeResourceRecordSets",
        lambda params, **_: seen.append(params["HostedZoneId"]),
    )

    results = r53.submit_all(r53_client, batches)

    assert len(seen) == calls == len(results)
    assert [r["zone_id"] for r in results] == sorted(zone_ids)
    assert sum(len(b["Changes"]) for b in batches.values()) == 4


def test_submit_all_sends_each_batch_as_is(stub_client: tuple[Any, Stubber]) -> None:
    """Given batches for two zones
    When they are submitted
    Then each zone gets one call carrying exactly its batch, in zone id order, shaped as the real API wants."""
    client, stubber = stub_client
    batches = {"Z2": BATCH, "Z1": BATCH}
    stubber.add_response(
        "change_resource_record_sets", change_info("/change/CA"), {"HostedZoneId": "Z1", "ChangeBatch": BATCH}
    )
    stubber.add_response(
        "change_resource_record_sets", change_info("/change/CB"), {"HostedZoneId": "Z2", "ChangeBatch": BATCH}
    )

    results = r53.submit_all(client, batches)

    assert results == [
        {"zone_id": "Z1", "change_id": "CA", "status": "PENDING", "submitted_at": SUBMITTED.isoformat(), "attempts": 1},
        {"zone_id": "Z2", "change_id": "CB", "status": "PENDING", "submitted_at": SUBMITTED.isoformat(), "attempts": 1},
    ]


# ------------------------------------------------------------------ retries (Stubber)


def _expect_submit() -> dict[str, Any]:
    return {"HostedZoneId": "Z1", "ChangeBatch": BATCH}


def test_throttling_twice_then_success(stub_client: tuple[Any, Stubber]) -> None:
    """Given Route 53 throttles the change twice, then accepts it
    When it is submitted
    Then it is retried after jittered pauses of rng * min(cap, base * 2**n), and succeeds on attempt 3."""
    client, stubber = stub_client
    stubber.add_client_error("change_resource_record_sets", "Throttling", "Rate exceeded", 400)
    stubber.add_client_error("change_resource_record_sets", "ThrottlingException", "Rate exceeded", 400)
    stubber.add_response("change_resource_record_sets", change_info(), _expect_submit())
    fake = FakeTime()

    result = r53.submit_change(client, "Z1", BATCH, sleep=fake.sleep, rng=lambda: 0.5)

    assert result["attempts"] == 3
    assert result["change_id"] == "C123"
    assert fake.sleeps == [pytest.approx(0.1), pytest.approx(0.2)]


def test_backoff_is_capped_and_fully_jittered(stub_client: tuple[Any, Stubber]) -> None:
    """Given Route 53 throttles every attempt
    When the change is submitted with base 1 s and a 3 s cap
    Then each pause is rng() times the capped exponential, and there is no pause after the last attempt."""
    client, stubber = stub_client
    for _ in range(6):
        stubber.add_client_error("change_resource_record_sets", "Throttling", "Rate exceeded", 400)
    draws = iter([1.0, 1.0, 1.0, 0.999, 0.0])
    fake = FakeTime()

    with pytest.raises(Route53Unavailable):
        r53.submit_change(
            client,
            "Z1",
            BATCH,
            max_attempts=6,
            base_delay=1.0,
            max_delay=3.0,
            sleep=fake.sleep,
            rng=lambda: next(draws),
        )

    assert fake.sleeps == [1.0, 2.0, 3.0, pytest.approx(2.997), 0.0]
    assert all(0 <= s <= 3.0 for s in fake.sleeps)


@pytest.mark.parametrize(("code", "status"), [("PriorRequestNotComplete", 400), ("ServiceUnavailable", 503)])
def test_transient_errors_are_retried(stub_client: tuple[Any, Stubber], code: str, status: int) -> None:
    """Given Route 53 answers PriorRequestNotComplete (an earlier change to the zone is in progress) or a 5xx
    When the change is submitted
    Then it is retried and succeeds."""
    client, stubber = stub_client
    stubber.add_client_error("change_resource_record_sets", code, "busy", status)
    stubber.add_response("change_resource_record_sets", change_info(), _expect_submit())
    fake = FakeTime()

    assert r53.submit_change(client, "Z1", BATCH, sleep=fake.sleep, rng=lambda: 1.0)["attempts"] == 2
    assert fake.sleeps == [0.2]


@pytest.mark.parametrize("code", ["InvalidChangeBatch", "InvalidInput", "NoSuchHostedZone", "AccessDenied"])
def test_rejections_are_not_retried(stub_client: tuple[Any, Stubber], code: str) -> None:
    """Given Route 53 refuses the batch
    When it is submitted
    Then exactly one call is made, nobody sleeps, and ChangeRejected carries the zone and the code."""
    client, stubber = stub_client
    stubber.add_client_error(
        "change_resource_record_sets", code, "Tried to create resource record set but it already exists", 400
    )
    fake = FakeTime()

    with pytest.raises(ChangeRejected) as err:
        r53.submit_change(client, "Z1", BATCH, sleep=fake.sleep)

    assert (err.value.zone_id, err.value.code) == ("Z1", code)
    assert "zone Z1" in str(err.value) and "already exists" in str(err.value)
    assert fake.sleeps == []


def test_exhaustion_raises_route53_unavailable(stub_client: tuple[Any, Stubber]) -> None:
    """Given Route 53 keeps answering PriorRequestNotComplete
    When the change is submitted with 3 attempts
    Then Route53Unavailable names the zone, the error and the attempts, after 2 pauses."""
    client, stubber = stub_client
    for _ in range(3):
        stubber.add_client_error("change_resource_record_sets", "PriorRequestNotComplete", "still busy", 400)
    fake = FakeTime()

    with pytest.raises(Route53Unavailable) as err:
        r53.submit_change(client, "Z1", BATCH, max_attempts=3, sleep=fake.sleep, rng=lambda: 1.0)

    assert str(err.value) == (
        "Route 53 did not accept the change for zone Z1 after 3 attempts: PriorRequestNotComplete: still busy"
    )
    assert fake.sleeps == [0.2, 0.4]


def test_connection_errors_are_retried() -> None:
    """Given the endpoint cannot be reached once (an UPSERT of the same batch is safe to repeat)
    When the change is submitted
    Then it is retried."""

    class FlakyClient:
        calls = 0

        def change_resource_record_sets(self, **params: Any) -> dict[str, Any]:
            self.calls += 1
            if self.calls == 1:
                raise EndpointConnectionError(endpoint_url="https://route53.amazonaws.com")
            return change_info()

    client = FlakyClient()
    assert r53.submit_change(client, "Z1", BATCH, sleep=lambda s: None)["attempts"] == 2
    with pytest.raises(Route53Unavailable, match="EndpointConnectionError"):
        r53.submit_change(FlakyClient(), "Z1", BATCH, max_attempts=1)


def test_max_attempts_must_be_positive() -> None:
    """Given max_attempts of 0
    When a change is submitted
    Then ValueError is raised before any call."""
    with pytest.raises(ValueError, match="max_attempts"):
        r53.submit_change(object(), "Z1", BATCH, max_attempts=0)


# ------------------------------------------------------------------ status and waiting (Stubber)


def test_wait_insync_polls_pending_until_insync(stub_client: tuple[Any, Stubber]) -> None:
    """Given two changes, one PENDING twice then INSYNC, the other INSYNC at once
    When we wait for them
    Then GetChange is polled with bare ids, only the pending one is re-polled, every poll seconds."""
    client, stubber = stub_client
    stubber.add_response("get_change", change_info("/change/CA", "PENDING"), {"Id": "CA"})
    stubber.add_response("get_change", change_info("/change/CB", "INSYNC"), {"Id": "CB"})
    stubber.add_response("get_change", change_info("/change/CA", "PENDING"), {"Id": "CA"})
    stubber.add_response("get_change", change_info("/change/CA", "INSYNC"), {"Id": "CA"})
    fake = FakeTime()

    r53.wait_insync(client, ["/change/CA", "CB", "CA"], timeout=60, poll=3, sleep=fake.sleep, clock=fake.clock)

    assert fake.sleeps == [3, 3]


def test_wait_insync_times_out_naming_pending_changes(stub_client: tuple[Any, Stubber]) -> None:
    """Given one change that never leaves PENDING and one that is INSYNC
    When we wait 5 s, polling every 2 s, on a fake clock
    Then SyncTimeout names only the pending change, and the last pause is cut to the deadline."""
    client, stubber = stub_client
    stubber.add_response("get_change", change_info("/change/CA", "PENDING"), {"Id": "CA"})
    stubber.add_response("get_change", change_info("/change/CB", "INSYNC"), {"Id": "CB"})
    for _ in range(3):
        stubber.add_response("get_change", change_info("/change/CA", "PENDING"), {"Id": "CA"})
    fake = FakeTime()

    with pytest.raises(SyncTimeout) as err:
        r53.wait_insync(client, ["CA", "CB"], timeout=5, poll=2, sleep=fake.sleep, clock=fake.clock)

    assert "CA" in str(err.value) and "CB" not in str(err.value)
    assert fake.sleeps == [2, 2, 1]


def test_wait_insync_checks_once_even_without_time(stub_client: tuple[Any, Stubber]) -> None:
    """Given an INSYNC change and no time left, and then no change at all
    When we wait
    Then the change is still checked once and the wait succeeds; nothing to wait for returns at once."""
    client, stubber = stub_client
    stubber.add_response("get_change", change_info("/change/CA", "INSYNC"), {"Id": "CA"})
    r53.wait_insync(client, ["CA"], timeout=0, sleep=lambda s: pytest.fail("no sleep expected"))
    r53.wait_insync(client, [], timeout=0)


def test_change_status_retries_throttling(stub_client: tuple[Any, Stubber]) -> None:
    """Given GetChange is throttled once
    When the status is asked for
    Then it is retried and the status returned."""
    client, stubber = stub_client
    stubber.add_client_error("get_change", "Throttling", "Rate exceeded", 400)
    stubber.add_response("get_change", change_info("/change/C1", "INSYNC"), {"Id": "C1"})
    fake = FakeTime()

    assert r53.change_status(client, "/change/C1", sleep=fake.sleep, rng=lambda: 1.0) == "INSYNC"
    assert fake.sleeps == [0.2]


def test_change_status_gives_up(stub_client: tuple[Any, Stubber]) -> None:
    """Given GetChange is throttled on every attempt
    When the status is asked for with 2 attempts
    Then Route53Unavailable names the change and the attempts."""
    client, stubber = stub_client
    for _ in range(2):
        stubber.add_client_error("get_change", "Throttling", "Rate exceeded", 400)
    with pytest.raises(Route53Unavailable, match="change C1 after 2 attempts: Throttling: Rate exceeded"):
        r53.change_status(client, "C1", max_attempts=2, sleep=lambda s: None)


def test_all_insync(stub_client: tuple[Any, Stubber]) -> None:
    """Given one INSYNC change and one PENDING change
    When asked whether all are INSYNC
    Then the answer is yes for the first alone and no for both."""
    client, stubber = stub_client
    stubber.add_response("get_change", change_info("/change/CA", "INSYNC"), {"Id": "CA"})
    stubber.add_response("get_change", change_info("/change/CA", "INSYNC"), {"Id": "CA"})
    stubber.add_response("get_change", change_info("/change/CB", "PENDING"), {"Id": "CB"})

    assert r53.all_insync(client, ["CA"]) is True
    assert r53.all_insync(client, ["CA", "CB"]) is False
    assert r53.all_insync(client, []) is True


def test_error_helpers() -> None:
    """Given errors of several kinds
    When they are described and classified
    Then 5xx and throttling are retryable, a rejection is not, and the text is Code: message."""
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetChange")
    server_response: Any = {"Error": {"Code": "Boom"}, "ResponseMetadata": {"HTTPStatusCode": 502}}
    server = ClientError(server_response, "GetChange")
    rejected = ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "no"}}, "ChangeResourceRecordSets")
    assert [r53.is_retryable(e) for e in (throttled, server, rejected)] == [True, True, False]
    assert r53.describe_error(throttled) == "Throttling: Rate exceeded"
    assert r53.describe_error(server) == "Boom"
    assert r53.describe_error(ValueError("plain")) == "plain"
    assert r53.bare_change_id("/change/C123") == r53.bare_change_id("C123") == "C123"
