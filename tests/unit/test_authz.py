"""Who may do what: every action, each kind of caller, hand-written expectations."""

from __future__ import annotations

import pytest

from cutover.authz import (
    ROLE_OF,
    Action,
    Principals,
    Refusal,
    Role,
    authorize,
    forms,
    is_caller_arn,
    matches,
    same_person,
)

ACCOUNT = "123456789012"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/alice@example.com"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/bob@example.com"
CI = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/build-42"
ONCALL_USER = f"arn:aws:iam::{ACCOUNT}:user/oncall"
STRANGER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/mallory"
OTHER_ACCOUNT = "arn:aws:sts::210987654321:assumed-role/CutoverApprover/alice@example.com"

PRINCIPALS = Principals(
    starters=(f"arn:aws:iam::{ACCOUNT}:role/ci-*", f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover"),
    approvers=(f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover",),
    operators=(f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover", ONCALL_USER),
)

# caller -> the actions it may do under PRINCIPALS (requested by nobody in particular).
MAY = {
    ALICE: set(Action),  # the approver role is also a starter and an operator here
    CI: {Action.START, Action.WAVE},  # a starter sends cutovers, alone or as a wave
    ONCALL_USER: {a for a, r in ROLE_OF.items() if r is Role.OPERATOR},
    STRANGER: set(),
    OTHER_ACCOUNT: set(),
}


@pytest.mark.parametrize("caller", sorted(MAY))
@pytest.mark.parametrize("action", list(Action))
def test_each_caller_may_do_exactly_what_its_role_allows(caller: str, action: Action) -> None:
    refusal = authorize(action, caller, PRINCIPALS)
    if action in MAY[caller]:
        assert refusal is None
    else:
        assert refusal is not None and refusal.status == 403
        assert refusal.reason.startswith(f"{caller} may not {action}: it matches none of the stack's ")


def test_the_refusal_names_the_parameter_and_its_patterns() -> None:
    assert authorize(Action.APPROVE, CI, PRINCIPALS) == Refusal(
        403,
        f"{CI} may not approve: it matches none of the stack's ApproverPrincipals "
        f"(arn:aws:iam::{ACCOUNT}:role/CutoverApprover)",
    )
    assert authorize(Action.START, CI, Principals()) == Refusal(
        403, f"{CI} may not start: it matches none of the stack's StarterPrincipals (none configured)"
    )


@pytest.mark.parametrize("caller", [None, "", "alice", "arn:aws:s3:::bucket", f"arn:aws:iam::{ACCOUNT}:group/x"])
def test_an_unverified_caller_is_401(caller: str | None) -> None:
    refusal = authorize(Action.PAUSE, caller, PRINCIPALS)
    assert refusal is not None and refusal.status == 401


@pytest.mark.parametrize(
    ("action", "requested_by", "allow_self", "refused"),
    [
        (Action.APPROVE, ALICE, False, True),  # her own request
        (Action.CONFIRM_FENCE, ALICE, False, True),
        (Action.ACCEPT, ALICE, False, True),  # accepting an inconclusive verdict lets her cutover move on
        (Action.APPROVE, ALICE.upper().replace("ARN:AWS:STS", "arn:aws:sts"), False, True),  # case of names
        (Action.REFUSE, ALICE, False, False),  # stopping one's own cutover is always allowed
        (Action.REFUSE_FENCE, ALICE, False, False),
        (Action.ABORT, ALICE, False, False),
        (Action.APPROVE, BOB, False, False),  # same role, another person
        (Action.APPROVE, None, False, False),  # requester unknown (an old cutover)
        (Action.APPROVE, ALICE, True, False),  # the stack allows it
    ],
)
def test_four_eyes(action: Action, requested_by: str | None, allow_self: bool, refused: bool) -> None:
    principals = Principals(
        approvers=PRINCIPALS.approvers, operators=PRINCIPALS.operators, allow_self_approval=allow_self
    )
    refusal = authorize(action, ALICE, principals, requested_by=requested_by)
    if refused:
        assert refusal == Refusal(
            403,
            f"{ALICE} requested this cutover and may not also {action} it (four eyes; the stack's "
            "AllowSelfApproval parameter is false)",
        )
    else:
        assert refusal is None


@pytest.mark.parametrize(
    ("caller", "pattern", "expected"),
    [
        (ALICE, f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover", True),  # the session's role
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/*", True),  # the session itself
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverApprover/bob@*", False),
        (ALICE, f"arn:aws:iam::{ACCOUNT}:role/cutoverapprover", False),  # ArnLike is case-sensitive
        (ALICE, f"arn:aws:iam::{ACCOUNT}:role/Cutover?pprover", True),
        (ALICE, "arn:aws:iam::*:role/CutoverApprover", True),
        (ALICE, f"arn:aws:iam::{ACCOUNT}:role/Cutover", False),  # no prefix match without *
        (ONCALL_USER, f"arn:aws:iam::{ACCOUNT}:user/*", True),
        (ONCALL_USER, f"arn:aws:iam::{ACCOUNT}:role/*", False),
        (CI, f"arn:aws:iam::{ACCOUNT}:role/ci-*", True),
        (CI, "arn:aws:iam::123456789012:role/ci-deployer.", False),  # "." is literal, not "any character"
    ],
)
def test_patterns_compare_as_arnlike(caller: str, pattern: str, expected: bool) -> None:
    assert matches(caller, (pattern,)) is expected


def test_a_session_is_known_by_its_role_too() -> None:
    assert forms(ALICE) == (ALICE, f"arn:aws:iam::{ACCOUNT}:role/CutoverApprover")
    assert forms(ONCALL_USER) == (ONCALL_USER,)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (ALICE, ALICE, True),
        (ALICE, BOB, False),
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/OtherRole/alice@example.com", False),
        (ALICE, OTHER_ACCOUNT, False),
        (ONCALL_USER, ONCALL_USER.upper().replace("ARN:AWS:IAM", "arn:aws:iam"), True),
        (ONCALL_USER, None, False),
    ],
)
def test_same_person(a: str, b: str | None, same: bool) -> None:
    assert same_person(a, b) is same


def test_caller_arns() -> None:
    assert is_caller_arn(ALICE) and is_caller_arn(ONCALL_USER) and is_caller_arn(f"arn:aws:iam::{ACCOUNT}:role/x")
    assert not is_caller_arn(f"arn:aws:sts::{ACCOUNT}:federated-user/x")
