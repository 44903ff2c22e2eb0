"""Settings: the controller's only reader of the environment, and its errors name the variable."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover import settings as settings_mod
from cutover.errors import ConfigurationError
from cutover.settings import (
    Runtime,
    Settings,
    aws_region,
    runtime,
    settings,
    slack_approvers,
    slack_buttons,
    slack_signing_secret_arn,
    slack_webhook_secret_arn,
)

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"TABLE_NAME": "cutover-table", "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t", "EVENT_BUS_NAME": "b"}
OPTIONAL = (
    "CUTOVER_EVENT_SOURCE",
    "ALLOWED_ZONE_IDS",
    "ALLOWED_RECORD_NAMES",
    "STATE_MACHINE_ARN",
    "MAX_REQUEST_AGE_SECONDS",
    "STARTER_PRINCIPALS",
    "APPROVER_PRINCIPALS",
    "OPERATOR_PRINCIPALS",
    "ALLOW_SELF_APPROVAL",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The three required variables set, every optional one unset, and settings read afresh."""
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()


def test_the_required_variables_and_the_defaults(env: pytest.MonkeyPatch) -> None:
    """Given only the three required variables, then the settings carry them and the documented defaults."""
    assert settings() == Settings(
        table_name="cutover-table",
        topic_arn="arn:aws:sns:eu-west-1:123456789012:t",
        event_bus_name="b",
        event_source="cutover-controller",
        allowed_zone_ids=(),
        allowed_record_names=(),
        state_machine_arn=None,
        max_request_age_seconds=900.0,
    )


@pytest.mark.parametrize(
    ("missing", "named"),
    [(["TABLE_NAME"], "TABLE_NAME"), (["TOPIC_ARN", "EVENT_BUS_NAME"], "TOPIC_ARN, EVENT_BUS_NAME")],
)
def test_a_missing_variable_is_named(env: pytest.MonkeyPatch, missing: list[str], named: str) -> None:
    """Given required variables unset (or empty), then the error names each of them, in one message."""
    for name in missing:
        env.setenv(name, "")
    with pytest.raises(ConfigurationError, match=f"environment variable\\(s\\) {named} not set"):
        settings()


def test_the_optional_variables_are_read_and_normalised(env: pytest.MonkeyPatch) -> None:
    """Given every optional variable, then lists are split on commas (blanks dropped), record names are
    lower-cased without their final dot, and the numbers are numbers."""
    env.setenv("CUTOVER_EVENT_SOURCE", "my.source")
    env.setenv("ALLOWED_ZONE_IDS", " Z1 ,, Z2 ")
    env.setenv("ALLOWED_RECORD_NAMES", "API.Example.com.,www.example.com")
    env.setenv("STATE_MACHINE_ARN", "arn:aws:states:eu-west-1:123456789012:stateMachine:s-cutover")
    env.setenv("MAX_REQUEST_AGE_SECONDS", "120.5")

    got = settings()

    assert got.event_source == "my.source"
    assert got.allowed_zone_ids == ("Z1", "Z2")
    assert got.allowed_record_names == ("api.example.com", "www.example.com")
    assert got.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:s-cutover"
    assert got.max_request_age_seconds == 120.5


def test_the_principals_and_the_self_approval_flag(env: pytest.MonkeyPatch) -> None:
    """Given no principals, then nobody may act (empty tuples) and self-approval is off; given them,
    then each list is split on commas, kept as written (ARNs are case-sensitive), and the flag read."""
    assert (settings().starter_principals, settings().approver_principals, settings().operator_principals) == (
        (),
        (),
        (),
    )
    assert settings().allow_self_approval is False
    settings.cache_clear()
    env.setenv("STARTER_PRINCIPALS", "arn:aws:iam::123456789012:role/CI, arn:aws:iam::123456789012:role/Ops")
    env.setenv("APPROVER_PRINCIPALS", "arn:aws:iam::123456789012:role/Lead")
    env.setenv("OPERATOR_PRINCIPALS", "arn:aws:iam::123456789012:role/Ops*")
    env.setenv("ALLOW_SELF_APPROVAL", " True ")
    got = settings()
    assert got.starter_principals == ("arn:aws:iam::123456789012:role/CI", "arn:aws:iam::123456789012:role/Ops")
    assert got.approver_principals == ("arn:aws:iam::123456789012:role/Lead",)
    assert got.operator_principals == ("arn:aws:iam::123456789012:role/Ops*",)
    assert got.allow_self_approval is True


@pytest.mark.parametrize("raw", ["yes", "1", "on"])
def test_a_flag_that_is_not_true_or_false_is_named(env: pytest.MonkeyPatch, raw: str) -> None:
    env.setenv("ALLOW_SELF_APPROVAL", raw)
    with pytest.raises(ConfigurationError) as caught:
        settings()
    assert str(caught.value) == f"environment variable ALLOW_SELF_APPROVAL must be true or false, not {raw!r}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("soon", "environment variable MAX_REQUEST_AGE_SECONDS must be a number of seconds, not 'soon'"),
        ("0", "environment variable MAX_REQUEST_AGE_SECONDS must be more than 0 seconds, not '0'"),
        ("-5", "environment variable MAX_REQUEST_AGE_SECONDS must be more than 0 seconds, not '-5'"),
        ("nan", "environment variable MAX_REQUEST_AGE_SECONDS must be more than 0 seconds, not 'nan'"),
    ],
)
def test_a_malformed_number_is_named_with_its_value(env: pytest.MonkeyPatch, raw: str, message: str) -> None:
    env.setenv("MAX_REQUEST_AGE_SECONDS", raw)
    with pytest.raises(ConfigurationError) as caught:
        settings()
    assert str(caught.value) == message


def test_runtime_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no Powertools variables, then the defaults; given them, then their values."""
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CUTOVER_LOG_STREAM", raising=False)
    assert runtime() == Runtime("cutover-controller", "CutoverController", False, False)

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "svc")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Ns")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "TRUE")
    monkeypatch.setenv("CUTOVER_LOG_STREAM", "stderr")
    assert runtime() == Runtime("svc", "Ns", True, True)


def test_the_slack_secret_and_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack notifier's secret is named when missing; the region falls back from AWS_REGION to
    AWS_DEFAULT_REGION, then to boto3's own choice."""
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="SLACK_WEBHOOK_SECRET_ARN not set"):
        slack_webhook_secret_arn()
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", " arn:aws:secretsmanager:eu-west-1:123456789012:secret:s ")
    assert slack_webhook_secret_arn() == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s"

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert aws_region() is None
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws_region() == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    assert aws_region() == "us-east-2"


def test_the_slack_actions_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack actions function's signing secret is named when missing; SlackApprovers reads as
    ``TEAM:USER -> ARN`` (empty: nobody), spaces around the entries ignored."""
    monkeypatch.delenv("SLACK_SIGNING_SECRET_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET_ARN not set"):
        slack_signing_secret_arn()
    monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", " arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf ")
    assert slack_signing_secret_arn() == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf"

    monkeypatch.delenv("SLACK_BUTTONS", raising=False)
    assert slack_buttons() is False
    monkeypatch.setenv("SLACK_BUTTONS", "true")
    assert slack_buttons() is True

    monkeypatch.delenv("SLACK_APPROVERS", raising=False)
    assert slack_approvers() == {}
    monkeypatch.setenv(
        "SLACK_APPROVERS",
        "T1:U1=arn:aws:sts::123456789012:assumed-role/Ops/dana , T1:U2=arn:aws:iam::123456789012:user/erin,"
        "T1:U1=arn:aws:sts::123456789012:assumed-role/Ops/dana",
    )
    assert slack_approvers() == {
        "T1:U1": "arn:aws:sts::123456789012:assumed-role/Ops/dana",
        "T1:U2": "arn:aws:iam::123456789012:user/erin",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "U1=arn:aws:iam::123456789012:user/x",
            "'U1=arn:aws:iam::123456789012:user/x' is not SLACKTEAMID:SLACKUSERID=ARN",
        ),
        ("T1:U1", "'T1:U1' is not SLACKTEAMID:SLACKUSERID=ARN"),
        ("T1:U1=erin", "'T1:U1=erin' is not SLACKTEAMID:SLACKUSERID=ARN"),
        ("T1:=arn:aws:iam::123456789012:user/x", "is not SLACKTEAMID:SLACKUSERID=ARN"),
        (
            "T1:U1=arn:aws:iam::123456789012:user/a,T1:U1=arn:aws:iam::123456789012:user/b",
            "SLACK_APPROVERS maps T1:U1 to two identities",
        ),
    ],
)
def test_a_malformed_slack_mapping_is_named(monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv("SLACK_APPROVERS", raw)
    with pytest.raises(ConfigurationError) as caught:
        slack_approvers()
    assert message in str(caught.value)


def _environment_readers(path: Path) -> list[str]:
    """Where a module reads the environment: os.environ, os.getenv, os.environ.get and friends."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_nothing_but_settings_reads_the_environment() -> None:
    """Given every module of the controller (the layer and the functions),
    When their syntax trees are searched for os.environ and os.getenv,
    Then only cutover/settings.py reads the environment."""
    modules = sorted((ROOT / "layers" / "cutover" / "cutover").rglob("*.py")) + sorted(
        (ROOT / "functions").glob("*/app.py")
    )
    readers = sorted({r.rsplit(":", 1)[0] for m in modules for r in _environment_readers(m)})
    assert readers == ["layers/cutover/cutover/settings.py"]
    assert Path(settings_mod.__file__).resolve() == ROOT / "layers" / "cutover" / "cutover" / "settings.py"


def test_the_reader_search_finds_a_reader() -> None:
    """The search above is not blind: a module calling os.getenv is found."""
    module = ROOT / "layers" / "cutover" / "cutover" / "settings.py"
    assert _environment_readers(module), "settings.py reads the environment, and the search must see it"
