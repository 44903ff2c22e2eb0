"""Logger, Tracer and Metrics, created once for every function, and the one
decorator that wraps a workflow step into a Lambda handler.

Decorator order follows Powertools' guidance:
``inject_lambda_context`` -> ``log_metrics`` -> ``capture_lambda_handler``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from cutover.settings import runtime

_RUNTIME = runtime()
SERVICE = _RUNTIME.service

# Rehearsals print their own report on stdout; their logs go to stderr.
_stream = sys.stderr if _RUNTIME.log_to_stderr else sys.stdout

logger = Logger(service=SERVICE, stream=_stream)
# X-Ray traces the AWS calls: patch botocore only. By default the Tracer tries every library the X-Ray SDK
# supports, which here adds a dozen failed imports and a patched sqlite3 (unused) to every cold start.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
NAMESPACE = _RUNTIME.metrics_namespace
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = Callable[[dict[str, Any], Any], Any]

# The running invocation's Lambda context, so a step can see how long it has left (a step takes only the event).
_context: ContextVar[Any] = ContextVar("lambda_context", default=None)


def remaining_seconds() -> float | None:
    """Seconds left before Lambda stops this invocation; None outside Lambda (no context)."""
    context = _context.get()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if callable(remaining) else None


def instrument(step: Callable[[dict[str, Any]], Any]) -> Handler:
    """Turn ``step(event) -> result`` into a Lambda handler with logging, metrics and tracing."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        token = _context.set(context)
        try:
            return step(event)
        finally:
            _context.reset(token)

    lambda_handler.__name__ = f"{step.__name__}_handler"
    return lambda_handler


def gauge(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric with its own dimensions (e.g. traffic per record); never raises."""
    if runtime().metrics_disabled:
        return
    from aws_lambda_powertools.metrics import single_metric

    try:
        with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=dim[:250])
    except Exception:  # pragma: no cover - defensive
        logger.exception("could not record metric", extra={"metric": name})


def traffic_gauges(records: Any, written: dict[str, dict[str, int]]) -> None:
    """Percent of traffic on `to` per record (``records``: the plan's), for the dashboard."""
    for rec in records:
        group = written.get(rec.key, {})
        total = sum(group.values())
        if total:
            gauge(
                "TrafficPercentOnTarget",
                100.0 * group.get(rec.to, 0) / total,
                unit=MetricUnit.Percent,
                record=rec.normalized_name,
            )


def count(name: str, value: float = 1) -> None:
    """Add to a custom metric; never raises (metrics must not break a cutover)."""
    # With metrics disabled Powertools keeps the buffer and still prints it once it
    # holds 100 values; the local engine disables them, and its stdout is the report.
    if runtime().metrics_disabled:
        return
    try:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    except Exception:  # pragma: no cover - defensive: a bad metric must not fail a step
        logger.exception("could not record metric", extra={"metric": name})
