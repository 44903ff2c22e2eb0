"""boto3 clients, created once per container with an explicit retry policy.

Clients are cached per (service, region) so a warm Lambda reuses its HTTP
connections.  botocore's ``standard`` retry mode retries throttling and
transient errors with capped exponential backoff and jitter; Route 53 gets a
larger budget because its change API throttles per account (see route53.py
for the errors we retry ourselves on top of this).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from cutover.settings import aws_region

_DEFAULT = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
_PER_SERVICE = {
    "route53": Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20),
}


@cache
def client(service: str, region: str | None = None) -> Any:
    """A cached boto3 client for ``service``."""
    region = region or aws_region()
    return boto3.client(service, region_name=region, config=_PER_SERVICE.get(service, _DEFAULT))  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch regions and emulators)."""
    client.cache_clear()
