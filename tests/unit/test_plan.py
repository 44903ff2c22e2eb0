"""Plan validation: every rule, one message per problem, naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.errors import PlanInvalid
from cutover.plan import (
    load_plan_file,
    parse_document,
    plan_json_schema,
    plan_json_schema_text,
    plan_problems,
    validate_plan,
)

ROOT = Path(__file__).resolve().parents[2]


def base(**overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "orders-cutover",
        "records": [
            {
                "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
                "name": "api.example.com",
                "type": "CNAME",
                "from": "legacy",
                "to": "aws",
            }
        ],
        "steps": [10, 25, 50, 100],
    }
    plan.update(overrides)
    return plan


def test_minimal_plan_gets_documented_defaults() -> None:
    """Given only the required fields, then the defaults of contracts.md apply."""
    plan = validate_plan(base())
    assert (plan.bake_seconds, plan.check_interval_seconds, plan.failure_threshold) == (600, 60, 1)
    assert plan.preflight_timeout_seconds == 900
    assert plan.gates.missing_data == "breach"
    assert plan.approvals.timeout_seconds == 3600
    assert plan.evaluations_per_step == 10
    assert plan.preflight_max_checks == 16


def test_record_identity_is_case_and_dot_insensitive() -> None:
    """Given a name with capitals and a trailing dot, then its key is normalised."""
    rec = validate_plan(
        base(records=[{**base()["records"][0], "name": "API.Example.com.", "hosted_zone_id": "/hostedzone/Z1"}])
    ).records[0]
    assert rec.key == "Z1|api.example.com|CNAME"
    assert rec.zone_id == "Z1"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"steps": [10, 25, 25, 100]}, "steps[2]: must be greater than 25"),
        ({"steps": [10, 50, 25, 100]}, "steps[2]: must be greater than 50"),
        ({"steps": [10, 50]}, "steps[1]: the last step must be 100, not 50"),
        ({"steps": [0, 100]}, "steps[0]: must be between 1 and 100"),
        ({"steps": [10, 101]}, "steps[1]: must be between 1 and 100"),
        ({"steps": []}, "steps: must have at least 1 item(s)"),
        ({"steps": [10, "x", 100]}, "steps[1]: must be a whole number"),
        ({"name": "Orders_Cutover"}, "name: does not match the pattern"),
        ({"name": "x" * 65}, "name: does not match the pattern"),
        ({"bake_seconds": -1}, "bake_seconds: must be at least 0"),
        ({"check_interval_seconds": 0}, "check_interval_seconds: must be greater than 0"),
        ({"failure_threshold": 0}, "failure_threshold: must be at least 1"),
        ({"preflight_timeout_seconds": -5}, "preflight_timeout_seconds: must be at least 0"),
        ({"records": []}, "records: must have at least 1 item(s)"),
        ({"surprise": 1}, "surprise: is not a known field"),
        ({"gates": {"missing_data": "maybe"}}, "gates.missing_data: must be one of"),
        (
            {"gates": {"dms": [{"replication_instance": "ri", "replication_task": "t"}]}},
            "gates.dms[0].max_cdc_latency_seconds: is required",
        ),
        (
            {"gates": {"mgn": [{"source_server_id": "bad", "max_lag_seconds": 5}]}},
            "gates.mgn[0].source_server_id: does not match",
        ),
        ({"gates": {"alarms": ["a", "a"]}}, "gates.alarms[1]: 'a' is listed twice"),
        (
            {"gates": {"alarms": ["a"], "dry_run_alarms": ["b", "a"]}},
            "gates.dry_run_alarms[1]: 'a' is also in gates.alarms: an alarm either decides or is a dry run",
        ),
        ({"gates": {"dry_run_alarms": [""]}}, "gates.dry_run_alarms[0]: an alarm name is 1 to 255 characters"),
        ({"approvals": {"before_percent": [75]}}, "approvals.before_percent[0]: 75 is not one of the steps"),
        ({"approvals": {"timeout_seconds": 0}}, "approvals.timeout_seconds: must be at least 1"),
        (
            {"bake_seconds": 60, "check_interval_seconds": 60, "failure_threshold": 3},
            "failure_threshold: 3 can never be reached",
        ),
        (
            # 5 steps of 7 days each: 35 days, and a record's lock lasts 30.
            {"bake_seconds": 604800, "check_interval_seconds": 3600, "steps": [10, 25, 50, 75, 100]},
            "bake_seconds: the plan lasts at least 35.0 days (5 step(s) of 604800 s), longer than the 30 days",
        ),
    ],
)
def test_each_rule_names_its_field(overrides: dict[str, Any], expected: str) -> None:
    """Given a plan that breaks one rule, then the message starts with the field path."""
    problems = plan_problems(base(**overrides))
    assert any(p.startswith(expected) for p in problems), problems


def test_record_rules() -> None:
    """Given from == to and a duplicated record, then both are reported, each naming its record."""
    rec = base()["records"][0]
    problems = plan_problems(base(records=[{**rec, "to": "legacy"}, {**rec, "to": "legacy"}]))
    assert "records[0].to: must differ from records[0].from ('legacy')" in problems
    assert "records[1]: same zone, name and type as records[0]" in problems


def test_rules_still_run_when_another_field_has_a_shape_problem() -> None:
    """Given an unknown key and non-increasing steps, then both are reported in one run."""
    problems = plan_problems(base(steps=[10, 50, 25, 100], bake_minutes=10))
    assert problems == ["bake_minutes: is not a known field (check the spelling)", "steps[2]: must be greater than 50"]
    # A broken field is reported once, by its shape problem, not again by a rule on a placeholder.
    assert plan_problems(base(steps="x", approvals={"before_percent": [75]})) == ["steps: must be a list"]


def test_every_problem_is_reported_at_once() -> None:
    """Given several shape problems, then one message each, not just the first."""
    problems = plan_problems({"name": "BAD", "records": "nope", "steps": "x", "extra": True})
    fields = sorted(p.split(":")[0] for p in problems)
    assert fields == ["extra", "name", "records", "steps"]


def test_missing_required_and_wrong_types() -> None:
    """Given an empty mapping or a non-mapping, then the message says what is required."""
    assert sorted(plan_problems({})) == ["name: is required", "records: is required", "steps: is required"]
    assert plan_problems([1, 2]) == ["plan: must be a mapping of fields, not list"]
    with pytest.raises(PlanInvalid) as err:
        validate_plan("steps")
    assert "mapping" in str(err.value)


def test_record_type_must_be_weighted_kind() -> None:
    rec = {**base()["records"][0], "type": "MX"}
    assert any(p.startswith("records[0].type: must be one of") for p in plan_problems(base(records=[rec])))


def test_parse_document_errors_name_the_source() -> None:
    """Given malformed YAML or non-UTF-8 bytes, then the error names the source and the place."""
    with pytest.raises(PlanInvalid) as err:
        parse_document("name: [unclosed", source="plan.yaml")
    assert err.value.problems[0].startswith("plan.yaml: is not valid YAML or JSON at line")
    with pytest.raises(PlanInvalid) as err2:
        parse_document(b"\xff\xfe\x00bad", source="plan.json")
    assert err2.value.problems[0].startswith("plan.json: is not UTF-8 text")


def test_load_plan_file_yaml_json_and_missing(tmp_path: Path) -> None:
    """Given the same plan as YAML and as JSON, then both load the same; a missing file is named."""
    (tmp_path / "p.json").write_text(json.dumps(base()))
    (tmp_path / "p.yaml").write_text(
        "name: orders-cutover\nrecords:\n  - {hosted_zone_id: Z0123456789ABCDEFGHIJ, "
        "name: api.example.com, type: CNAME, from: legacy, to: aws}\nsteps: [10, 25, 50, 100]\n"
    )
    assert load_plan_file(tmp_path / "p.json") == load_plan_file(tmp_path / "p.yaml")
    with pytest.raises(PlanInvalid) as err:
        load_plan_file(tmp_path / "nope.yaml")
    assert "cannot be read" in err.value.problems[0]
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(PlanInvalid) as err3:
        load_plan_file(big)
    assert "at most" in err3.value.problems[0]


def test_round_trip_keeps_from_key() -> None:
    """Given a validated plan, then its data uses the plan's own key names and validates again."""
    data = validate_plan(base()).to_data()
    assert data["records"][0]["from"] == "legacy"
    assert validate_plan(data).to_data() == data


def test_schema_in_repo_matches_the_library() -> None:
    """The committed JSON Schema is exactly what the library exports (regenerate with `cutover schema`)."""
    committed = (ROOT / "schemas" / "plan.schema.json").read_text()
    assert committed == plan_json_schema_text()
    schema = plan_json_schema()
    assert schema["properties"]["records"]["items"]["$ref"].endswith("RecordRef")
    assert "from" in schema["$defs"]["RecordRef"]["properties"]


def test_example_plans_are_valid_and_match_the_schema() -> None:
    """Every plan in examples/plans validates with the library and with the exported JSON Schema."""
    import jsonschema

    schema = plan_json_schema()
    plans = sorted(p for p in (ROOT / "examples" / "plans").glob("*.yaml") if not p.name.startswith("invalid-"))
    assert len(plans) >= 2
    for path in plans:
        plan = load_plan_file(path)
        jsonschema.validate(parse_document(path.read_bytes()), schema)
        assert plan.steps[-1] == 100


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
        max_leaves=20,
    )
)
def test_validation_never_crashes_on_arbitrary_data(data: Any) -> None:
    """Fuzz: arbitrary JSON-like data is either a valid plan or a list of named problems, never a crash."""
    problems = plan_problems(data)
    assert all(isinstance(p, str) and ": " in p for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=8, unique=True))
def test_sorted_unique_steps_ending_at_100_are_valid(steps: list[int]) -> None:
    steps = sorted(set(steps) | {100})
    assert plan_problems(base(steps=steps)) == []


def test_data_safety_rules_and_warnings() -> None:
    """validation needs only the task's name (the task is looked up); the final flip must be a step; a drain
    needs a DMS gate; a plan without reverse replication validates with a warning, not an error."""
    from cutover.plan import plan_warnings

    gate = {"replication_instance": "ri", "replication_task": "t", "max_cdc_latency_seconds": 5, "validation": True}
    assert plan_problems(base(gates={"dms": [gate]})) == []
    flip = {"before_percent": 75, "drain": {"max_cdc_latency_seconds": 5}}
    problems = plan_problems(base(final_flip=flip))
    assert "final_flip.before_percent: 75 is not one of the steps [10, 25, 50, 100]" in problems
    assert "final_flip.drain: there is no DMS gate to drain (add gates.dms)" in problems
    warnings = plan_warnings(validate_plan(base()))
    assert warnings[0].startswith("reverse_replication: not set; a rollback after the final step cannot bring back")
    reverse = {"replication_instance": "ri", "replication_task": "rev", "max_cdc_latency_seconds": 60}
    assert plan_warnings(validate_plan(base(reverse_replication=reverse))) == []


ARN = "arn:aws:dms:eu-west-1:123456789012:task:5HKBYSZ6ZATYKQ"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"replication_task": "orders-cdc"}, []),
        ({"replication_task": ARN}, []),
        ({"replication_task": "orders-cdc", "task_arn": ARN}, []),
        ({"replication_task": ARN, "task_arn": ARN}, []),
        (
            {"replication_task": "arn:aws:s3:::orders"},
            [
                "gates.dms[0].replication_task: an ARN here must be a DMS task's: "
                + "arn:aws:dms:REGION:ACCOUNT:task:RESOURCE-ID"
            ],
        ),
        (
            {"replication_task": ARN, "task_arn": ARN + "X"},
            ["gates.dms[0]: replication_task and task_arn are two different ARNs: name one task"],
        ),
    ],
)
def test_a_dms_task_is_named_by_its_name_its_arn_or_both(task: dict[str, str], expected: list[str]) -> None:
    """Given a DMS gate naming its task by name, by ARN (in replication_task), or both, then the plan is valid;
    an ARN of another service, or two different ARNs, is refused naming the field."""
    gate = {"replication_instance": "orders-ri", "max_cdc_latency_seconds": 30, **task}
    assert plan_problems(base(gates={"dms": [gate]})) == expected


def test_a_wildcard_record_is_refused_naming_why() -> None:
    """Given a record named *.example.com, then the plan is refused: IAM sees the name as \\052."""
    rec = {**base()["records"][0], "name": "*.example.com"}
    assert plan_problems(base(records=[rec])) == [
        "records[0].name: '*.example.com' is a wildcard record, which the controller does not shift "
        "(IAM sees its name as \\052, which AllowedRecordNames cannot hold)"
    ]


METRIC = {"namespace": "Orders/Web", "metric_name": "Errors5xx", "dimensions": {"Side": "aws"}, "stat": "Sum"}


def metric_gate(**fields: Any) -> dict[str, Any]:
    return {"name": "aws-5xx", "metric": METRIC, "breach_when": "GreaterThanThreshold", "threshold": 10, **fields}


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (metric_gate(expression="m1 / m2"), "gates.metrics[0]: give either metric or expression"),
        ({**metric_gate(), "metric": None}, "gates.metrics[0]: give either metric or expression"),
        (metric_gate(metrics={"m1": METRIC}), "gates.metrics[0]: metrics are the inputs of an expression"),
        (
            {**metric_gate(), "metric": None, "expression": "M1 * 2", "metrics": {"M1": METRIC}},
            "gates.metrics[0]: metrics: 'M1' must start with a lower-case letter",
        ),
        (metric_gate(metric={**METRIC, "stat": "Median"}), "gates.metrics[0].metric.stat: does not match"),
        (metric_gate(period_seconds=90), "gates.metrics[0].period_seconds: must be a multiple of 60"),
        (metric_gate(period_seconds=0), "gates.metrics[0].period_seconds: must be at least 60"),
        (metric_gate(breach_when="Above"), "gates.metrics[0].breach_when: must be one of"),
        (metric_gate(min_samples=0), "gates.metrics[0].min_samples: must be at least 1"),
        (metric_gate(name="AWS 5xx"), "gates.metrics[0].name: does not match the pattern"),
        ({k: v for k, v in metric_gate().items() if k != "threshold"}, "gates.metrics[0].threshold: is required"),
    ],
)
def test_a_metric_gate_names_what_is_wrong(gate: dict[str, Any], expected: str) -> None:
    problems = plan_problems(base(gates={"metrics": [gate]}))
    assert any(p.startswith(expected) for p in problems), problems


def test_metric_gates_have_unique_names_and_documented_defaults() -> None:
    assert plan_problems(base(gates={"metrics": [metric_gate(), metric_gate()]})) == [
        "gates.metrics[1]: 'aws-5xx' is listed twice (first at [0])"
    ]
    gate = validate_plan(base(gates={"metrics": [metric_gate()]})).gates.metrics[0]
    assert (gate.period_seconds, gate.lookback_periods, gate.min_samples, gate.dry_run) == (60, 3, 1, False)
    expression = {**metric_gate(), "metric": None, "expression": "errors / requests * 100"}
    expression["metrics"] = {"errors": METRIC, "requests": {**METRIC, "metric_name": "Requests"}}
    assert plan_problems(base(gates={"metrics": [expression]})) == []


@pytest.mark.parametrize("family", ["dms", "mgn"])
def test_any_gate_may_be_a_dry_run(family: str) -> None:
    gate = (
        {"replication_instance": "ri", "replication_task": "t", "max_cdc_latency_seconds": 30, "dry_run": True}
        if family == "dms"
        else {"source_server_id": "s-1234567890abcdef0", "max_lag_seconds": 60, "dry_run": True}
    )
    plan = validate_plan(base(gates={family: [gate]}))
    assert getattr(plan.gates, family)[0].dry_run is True
