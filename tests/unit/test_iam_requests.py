"""How the local engine turns an AWS call into the IAM requests AWS authorizes for it (engine/iam.py).

Expectations are written by hand from the Service Authorization Reference and the services' IAM guides:
the resource ARN each action is authorized on, and the condition keys the service sets.
"""

from __future__ import annotations

from typing import Any

import pytest

from cutover_cli.engine.iam import LocalStack, Request, normalized_record_name, requests_for

STACK = LocalStack.of_local_engine()
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/cutover-table"
LEADING = "dynamodb:LeadingKeys"


def _requests(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    return requests_for(service, operation, params, STACK, "pk")


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("API.Example.com.", "api.example.com"),
        ("*.example.com", "\\052.example.com"),  # Route 53's developer guide: '*' is \052 to IAM
        ("a_b-c.example.com", "a_b-c.example.com"),
        ("a b.example.com", "a\\040b.example.com"),
    ],
)
def test_record_names_are_normalized_as_route53_condition_keys_see_them(name: str, normalized: str) -> None:
    assert normalized_record_name(name) == normalized


def test_a_change_batch_is_one_request_on_its_zone_with_its_names_types_and_actions() -> None:
    changes = [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "API.example.com.", "Type": "CNAME"}},
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "www.example.com", "Type": "A"}},
    ]
    params = {"HostedZoneId": "/hostedzone/Z1", "ChangeBatch": {"Changes": changes}}
    assert _requests("route53", "ChangeResourceRecordSets", params) == [
        Request(
            "route53:ChangeResourceRecordSets",
            "arn:aws:route53:::hostedzone/Z1",
            {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["api.example.com", "www.example.com"],
                "route53:ChangeResourceRecordSetsRecordTypes": ["A", "CNAME"],
                "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
            },
        )
    ]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        (
            "ListResourceRecordSets",
            {"HostedZoneId": "Z2"},
            Request("route53:ListResourceRecordSets", "arn:aws:route53:::hostedzone/Z2"),
        ),
        ("GetChange", {"Id": "/change/C9"}, Request("route53:GetChange", "arn:aws:route53:::change/C9")),
        ("ListHostedZones", {}, Request("route53:ListHostedZones", "*")),
    ],
)
def test_route53_reads_name_their_zone_or_change(operation: str, params: dict[str, Any], expected: Request) -> None:
    assert _requests("route53", operation, params) == [expected]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        # The client's typed values and boto3 Table's plain ones alike.
        (
            "GetItem",
            {"TableName": "cutover-table", "Key": {"pk": {"S": "TOKEN#x"}, "sk": {"S": "T"}}},
            [("dynamodb:GetItem", ["TOKEN#x"])],
        ),
        (
            "PutItem",
            {"TableName": "cutover-table", "Item": {"pk": "CONTROL#e", "sk": "C"}},
            [("dynamodb:PutItem", ["CONTROL#e"])],
        ),
        (
            "Query",
            {
                "TableName": "cutover-table",
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
                "ExpressionAttributeValues": {":pk": {"S": "CUTOVER#e"}, ":p": {"S": "LEDGER#"}},
            },
            [("dynamodb:Query", ["CUTOVER#e"])],
        ),
        (
            "Query",
            {
                "TableName": "cutover-table",
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": "pk"},
                "ExpressionAttributeValues": {":v": "TOKEN#e"},
            },
            [("dynamodb:Query", ["TOKEN#e"])],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "cutover-table", "Item": {"pk": {"S": "LOCK#a"}}}},
                    {"Delete": {"TableName": "cutover-table", "Key": {"pk": {"S": "LOCK#b"}}}},
                    {"ConditionCheck": {"TableName": "cutover-table", "Key": {"pk": {"S": "STATE#c"}}}},
                ]
            },
            [
                ("dynamodb:PutItem", ["LOCK#a"]),
                ("dynamodb:DeleteItem", ["LOCK#b"]),
                ("dynamodb:ConditionCheckItem", ["STATE#c"]),
            ],
        ),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    "cutover-table": [
                        {"PutRequest": {"Item": {"pk": {"S": "LOCK#a"}}}},
                        {"DeleteRequest": {"Key": {"pk": {"S": "LOCK#b"}}}},
                    ]
                }
            },
            [("dynamodb:BatchWriteItem", ["LOCK#a", "LOCK#b"])],
        ),
        ("Scan", {"TableName": "cutover-table"}, [("dynamodb:Scan", None)]),
    ],
)
def test_dynamodb_requests_carry_their_partition_keys_as_leading_keys(
    operation: str, params: dict[str, Any], expected: list[tuple[str, list[str] | None]]
) -> None:
    got = _requests("dynamodb", operation, params)
    assert [(r.action, r.resource) for r in got] == [(action, TABLE) for action, _ in expected]
    assert [r.context.get(LEADING) for r in got] == [keys for _, keys in expected]


def test_a_query_without_a_key_condition_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="KeyConditionExpression"):
        _requests("dynamodb", "Query", {"TableName": "cutover-table"})


def test_each_event_of_a_put_is_authorized_with_its_own_source_and_detail_type() -> None:
    params = {
        "Entries": [
            {"EventBusName": "cutover", "Source": "cutover.control", "DetailType": "Cutover Requested"},
            {"Source": "cutover-controller", "DetailType": "CutoverCompleted"},
        ]
    }
    assert _requests("events", "PutEvents", params) == [
        Request(
            "events:PutEvents",
            "arn:aws:events:us-east-1:123456789012:event-bus/cutover",
            {"events:source": ["cutover.control"], "events:detail-type": ["Cutover Requested"]},
        ),
        Request(
            "events:PutEvents",
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            {"events:source": ["cutover-controller"], "events:detail-type": ["CutoverCompleted"]},
        ),
    ]


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("sns", "Publish", {"TopicArn": STACK.topic_arn, "Message": "m"}, Request("sns:Publish", STACK.topic_arn)),
        (
            "stepfunctions",
            "StartExecution",
            {"stateMachineArn": STACK.state_machine_arn},
            Request("states:StartExecution", STACK.state_machine_arn),
        ),
        (
            "stepfunctions",
            "DescribeExecution",
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:cutover:e"},
            Request("states:DescribeExecution", "arn:aws:states:us-east-1:123456789012:execution:cutover:e"),
        ),
        (
            "stepfunctions",
            "SendTaskSuccess",
            {"taskToken": "t", "output": "{}"},
            Request("states:SendTaskSuccess", STACK.state_machine_arn),
        ),
        (
            "mgn",
            "FinalizeCutover",
            {"sourceServerID": "s-1"},
            Request("mgn:FinalizeCutover", "arn:aws:mgn:us-east-1:123456789012:source-server/s-1"),
        ),
        ("secretsmanager", "GetSecretValue", {"SecretId": "arn:s"}, Request("secretsmanager:GetSecretValue", "arn:s")),
        ("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a"]}, Request("cloudwatch:DescribeAlarms", "*")),
        ("dms", "DescribeReplicationTasks", {}, Request("dms:DescribeReplicationTasks", "*")),
    ],
)
def test_other_calls_name_the_resource_they_act_on(
    service: str, operation: str, params: dict[str, Any], expected: Request
) -> None:
    assert _requests(service, operation, params) == [expected]
