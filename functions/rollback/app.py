"""Write the snapshot weights back exactly and wait for INSYNC."""

# Loaded at init, not in the first request: it writes Route 53 back and may check the reverse replication.
from cutover import plan, route53, signals  # noqa: F401
from cutover.observability import instrument
from cutover.steps.rollback import restore

lambda_handler = instrument(restore)
