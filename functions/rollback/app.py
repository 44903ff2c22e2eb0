"""Write the snapshot weights back exactly and wait for INSYNC."""

from cutover.observability import instrument
from cutover.workflow import rollback

lambda_handler = instrument(rollback)
