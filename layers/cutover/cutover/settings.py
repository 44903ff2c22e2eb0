"""Configuration from the environment, read here and nowhere else in the controller, and validated: a
missing or malformed variable is a ConfigurationError naming it, at the first use, never a KeyError deep in a
step. (The AWS SDK reads the credentials itself; that is boto3's business.)

Readers: :func:`settings` (the workflow functions: table, topic, bus), :func:`runtime` (every
function, including the Slack notifier, which has no table: logging and metrics),
:func:`slack_webhook_secret_arn` and :func:`slack_buttons` (the Slack notifier only),
:func:`slack_signing_secret_arn` and :func:`slack_approvers` (the Slack actions function only), and
:func:`route53_requests_per_second` (the functions that call Route 53, for cutover/pacing.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from cutover.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    table_name: str
    topic_arn: str
    event_bus_name: str
    event_source: str = "cutover-controller"
    # Empty means "not restricted here" (IAM still is): the local engine sets none.
    allowed_zone_ids: tuple[str, ...] = ()
    allowed_record_names: tuple[str, ...] = ()
    # Only the start function knows its state machine; the others run without it.
    state_machine_arn: str | None = None
    # The wave workflow (the wave function starts it; the control function stops its cutovers on an abort).
    wave_state_machine_arn: str | None = None
    max_request_age_seconds: float = 900.0
    # Who may do what through the control function (cutover/authz.py); empty: nobody.
    starter_principals: tuple[str, ...] = ()
    approver_principals: tuple[str, ...] = ()
    operator_principals: tuple[str, ...] = ()
    allow_self_approval: bool = False


@cache
def settings() -> Settings:
    """The controller's settings; a missing variable fails with a message naming it."""
    missing = [v for v in ("TABLE_NAME", "TOPIC_ARN", "EVENT_BUS_NAME") if not os.environ.get(v)]
    if missing:
        raise ConfigurationError(
            f"environment variable(s) {', '.join(missing)} not set; the SAM template sets them for every function"
        )
    return Settings(
        table_name=os.environ["TABLE_NAME"],
        topic_arn=os.environ["TOPIC_ARN"],
        event_bus_name=os.environ["EVENT_BUS_NAME"],
        event_source=os.environ.get("CUTOVER_EVENT_SOURCE", "cutover-controller"),
        allowed_zone_ids=_csv("ALLOWED_ZONE_IDS"),
        allowed_record_names=tuple(n.rstrip(".").lower() for n in _csv("ALLOWED_RECORD_NAMES")),
        state_machine_arn=os.environ.get("STATE_MACHINE_ARN") or None,
        wave_state_machine_arn=os.environ.get("WAVE_STATE_MACHINE_ARN") or None,
        max_request_age_seconds=_seconds("MAX_REQUEST_AGE_SECONDS", 900.0),
        starter_principals=_csv("STARTER_PRINCIPALS"),
        approver_principals=_csv("APPROVER_PRINCIPALS"),
        operator_principals=_csv("OPERATOR_PRINCIPALS"),
        allow_self_approval=_flag("ALLOW_SELF_APPROVAL"),
    )


def route53_requests_per_second() -> float:
    """The Route 53 requests per second this stack's functions pace their calls to, all executions together
    (ROUTE53_REQUESTS_PER_SECOND, from the Route53RequestsPerSecond parameter; cutover/pacing.py). 0, or unset
    (the local engine's rehearsals, `cutover check`), paces nothing. Read at each call: it is one variable."""
    raw = os.environ.get("ROUTE53_REQUESTS_PER_SECOND", "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable ROUTE53_REQUESTS_PER_SECOND must be a number of requests per second, not {raw!r}"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise ConfigurationError(
            f"environment variable ROUTE53_REQUESTS_PER_SECOND must be 0 (no pacing) or more, not {raw!r}"
        )
    return value


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigurationError(f"environment variable {name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Runtime:
    """Logging and metrics, for every function. Read at each call (cheap): tests and the local engine
    switch metrics off for a process."""

    service: str = "cutover-controller"
    metrics_namespace: str = "CutoverController"
    metrics_disabled: bool = False
    # The `cutover` command prints its own report on stdout; the handlers it runs log to stderr.
    log_to_stderr: bool = False


def runtime() -> Runtime:
    """Powertools' own variables (the template sets them) and the command's log stream."""
    return Runtime(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME") or Runtime.service,
        metrics_namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or Runtime.metrics_namespace,
        metrics_disabled=os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true",
        log_to_stderr=os.environ.get("CUTOVER_LOG_STREAM") == "stderr",
    )


def aws_region() -> str | None:
    """The region Lambda runs in (AWS_REGION), or the one a person's shell names; None leaves it to boto3."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _secret_arn(variable: str, parameter: str) -> str:
    arn = os.environ.get(variable, "").strip()
    if not arn:
        raise ConfigurationError(
            f"environment variable {variable} not set; the SAM template sets it when the {parameter} parameter is given"
        )
    return arn


def slack_webhook_secret_arn() -> str:
    """The Secrets Manager secret holding the Slack webhook URL (the Slack notifier's only setting)."""
    return _secret_arn("SLACK_WEBHOOK_SECRET_ARN", "SlackWebhookSecretArn")


def slack_buttons() -> bool:
    """Whether the Slack notifier's messages carry buttons: only when the stack takes them (SLACK_BUTTONS,
    true when SlackSigningSecretArn is given), else a press would reach no one."""
    return _flag("SLACK_BUTTONS")


def slack_signing_secret_arn() -> str:
    """The Secrets Manager secret holding the Slack app's signing secret (the Slack actions function)."""
    return _secret_arn("SLACK_SIGNING_SECRET_ARN", "SlackSigningSecretArn")


def slack_approvers() -> dict[str, str]:
    """Who a Slack user acts as: ``"TEAM:USER"`` -> the AWS identity's ARN, from SLACK_APPROVERS
    (``T123:U456=arn:aws:...,T123:U789=arn:aws:...``; empty: nobody). A malformed entry, or one Slack user
    given two identities, is a ConfigurationError naming it."""
    mapping: dict[str, str] = {}
    for entry in _csv("SLACK_APPROVERS"):
        user, sep, arn = (part.strip() for part in entry.partition("="))
        team, colon, member = user.partition(":")
        if not sep or not colon or not team or not member or ":" in member or not arn.startswith("arn:"):
            raise ConfigurationError(
                f"environment variable SLACK_APPROVERS: {entry!r} is not SLACKTEAMID:SLACKUSERID=ARN"
            )
        if mapping.get(user, arn) != arn:
            raise ConfigurationError(f"environment variable SLACK_APPROVERS maps {user} to two identities")
        mapping[user] = arn
    return mapping


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"environment variable {name} must be more than 0 seconds, not {raw!r}")
    return value


def _csv(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())
