"""Execution history, counted as AWS counts it, so a long cutover never runs into Step Functions' limit.

A Standard execution holds at most 25,000 history events; past that it fails, and no Catch runs:
traffic partly moved, no rollback, the locks held. An ordinary plan (five steps, eight-hour bakes
checked every minute: about 2,400 evaluations) needs about 31,000. So the workflow counts, as it goes,
the events its states add (each step adds the cost of the states it runs), and at a safe point (after
an evaluation decided to wait or evaluate again) past ``continue_after_events`` it goes on in a new
execution of the same state machine with the same document: history starts again, the cutover, its
ledger, locks and operator commands are unchanged (they are keyed by the cutover's id).

The costs are the events each kind of state adds to the history (a Task state: entered, scheduled,
started, succeeded, exited; a callback Task adds "submitted"; a Choice or a Wait: entered, exited).
``tests/unit/test_history.py`` checks each against an execution's real history on the local engine.
"""

from __future__ import annotations

LIMIT = 25_000  # events in one Standard execution's history
PAYLOAD_LIMIT = 256 * 1024  # bytes of a state's input or output

TASK = 5
CALLBACK_TASK = 6
CHOICE = 2
WAIT_STATE = 2

PREPARE = 1 + TASK + CHOICE  # ExecutionStarted, Prepare, Route
EVALUATE = TASK + CHOICE  # Evaluate, Route
WAIT = CALLBACK_TASK  # Wait (its timer or a wake ends it; the Evaluate after it is counted by the evaluation)
SHIFT = TASK + CHOICE  # Shift, Route
SYNC_POLL = WAIT_STATE + TASK + CHOICE  # SyncPause, CheckSync, SyncDecision
SETTLE = WAIT_STATE + CHOICE  # Settle, Route

# Continue well before the limit: what can follow a safe point before the next one is a shift, its sync
# polls (at most sync_max_polls, 60 by default: 540 events), the settle, an evaluation and the end
# (rollback, finalize: about 20), plus retried tasks (3 events a retry). 5,000 events cover that many times.
DEFAULT_CONTINUE_AFTER = LIMIT - 5_000


def continuation_name(cutover_id: str, number: int) -> str:
    """The name of the cutover's ``number``-th execution (the first is the cutover's own id). Step Functions
    names are at most 80 characters."""
    if number <= 1:
        return cutover_id
    suffix = f"-c{number}"
    return cutover_id[: 80 - len(suffix)] + suffix
