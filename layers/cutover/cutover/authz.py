"""Who may do what to a cutover: pure, no AWS.

Every person's action reaches the controller through one entry point (the control function, behind
a Lambda function URL with ``AWS_IAM`` auth), which is handed the caller's *verified* identity
(``requestContext.authorizer.iam.userArn``: AWS checked the SigV4 signature). This module decides,
from that identity alone, whether the stack's configuration lets the caller do the action:

- ``StarterPrincipals`` may start a cutover, or a wave of them;
- ``ApproverPrincipals`` may approve or refuse a step, confirm or refuse a write fence, and accept a
  comparison gate's inconclusive verdict;
- ``OperatorPrincipals`` may abort, promote, pause, resume, unlock a record, finalize MGN and abort a wave.

Patterns are IAM ARNs with ``*`` and ``?`` wildcards, compared as IAM's ``ArnLike`` compares them
(case-sensitive). A caller who assumed a role is matched by its session ARN
(``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``) and by the role's ARN
(``arn:aws:iam::ACCOUNT:role/ROLE``, the form ``aws:PrincipalArn`` takes), so a pattern may name
either. An empty list allows nobody: a stack configured for nobody does nothing.

Four eyes: the person who requested a cutover may not approve its steps or confirm its fence unless
``AllowSelfApproval`` says so. "The same person" is the same IAM user, or the same role *and*
session name (SSO sessions carry the person's name; a shared role with another session name is
another person, which is as far as IAM identities can tell people apart).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class Action(StrEnum):
    START = "start"
    WAVE = "wave"  # start a wave of cutovers
    APPROVE = "approve"
    REFUSE = "refuse"
    CONFIRM_FENCE = "confirm-fence"
    REFUSE_FENCE = "refuse-fence"
    ACCEPT = "accept"  # accept a comparison gate's inconclusive verdict for the step
    ABORT = "abort"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    UNLOCK = "unlock"
    FINALIZE = "finalize"
    ABORT_WAVE = "abort-wave"


class Role(StrEnum):
    STARTER = "starter"
    APPROVER = "approver"
    OPERATOR = "operator"


ROLE_OF: dict[Action, Role] = {
    Action.START: Role.STARTER,
    Action.WAVE: Role.STARTER,
    Action.APPROVE: Role.APPROVER,
    Action.REFUSE: Role.APPROVER,
    Action.CONFIRM_FENCE: Role.APPROVER,
    Action.REFUSE_FENCE: Role.APPROVER,
    Action.ACCEPT: Role.APPROVER,
    Action.ABORT: Role.OPERATOR,
    Action.PROMOTE: Role.OPERATOR,
    Action.PAUSE: Role.OPERATOR,
    Action.RESUME: Role.OPERATOR,
    Action.UNLOCK: Role.OPERATOR,
    Action.FINALIZE: Role.OPERATOR,
    Action.ABORT_WAVE: Role.OPERATOR,
}
# Answers a requester may not give on their own cutover (four eyes). Refusing is always allowed: it
# only ever stops a cutover.
FOUR_EYES = frozenset({Action.APPROVE, Action.CONFIRM_FENCE, Action.ACCEPT})

PARAMETER_OF: dict[Role, str] = {
    Role.STARTER: "StarterPrincipals",
    Role.APPROVER: "ApproverPrincipals",
    Role.OPERATOR: "OperatorPrincipals",
}

_IAM = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>user|role)/(?P<path>.+)$")
_STS = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)


@dataclass(frozen=True)
class Principals:
    """The stack's configured patterns, per role."""

    starters: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    allow_self_approval: bool = False

    def patterns(self, role: Role) -> tuple[str, ...]:
        return {Role.STARTER: self.starters, Role.APPROVER: self.approvers, Role.OPERATOR: self.operators}[role]


@dataclass(frozen=True)
class Refusal:
    """Why the caller may not: ``status`` is the HTTP status the entry point answers with."""

    status: int
    reason: str


def is_caller_arn(arn: object) -> bool:
    """An identity AWS can verify: an IAM user or role, or a role session."""
    return isinstance(arn, str) and bool(_IAM.match(arn) or _STS.match(arn))


def forms(caller: str) -> tuple[str, ...]:
    """The ARNs a caller is known by: itself and, for a role session, its role (path unknown: ``role/ROLE``)."""
    session = _STS.match(caller)
    if session is None:
        return (caller,)
    role = f"arn:{session['partition']}:iam::{session['account']}:role/{session['role']}"
    return (caller, role)


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """IAM ArnLike: ``*`` any run of characters, ``?`` any one; everything else literal."""
    parts = ["." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern]
    return re.compile("^" + "".join(parts) + "$")


def matches(caller: str, patterns: tuple[str, ...]) -> bool:
    return any(_pattern(p).match(form) for p in patterns for form in forms(caller))


def same_person(a: str | None, b: str | None) -> bool:
    """The same IAM user, or the same role and session name (see the module's docstring)."""
    if not a or not b:
        return False
    sa, sb = _STS.match(a), _STS.match(b)
    if sa and sb:
        return (sa["account"], sa["role"].lower(), sa["session"].lower()) == (
            sb["account"],
            sb["role"].lower(),
            sb["session"].lower(),
        )
    return a.lower() == b.lower()


def authorize(
    action: Action, caller: str | None, principals: Principals, requested_by: str | None = None
) -> Refusal | None:
    """None when ``caller`` may do ``action``; else why not. ``requested_by`` is the verified identity that
    requested the cutover the action is about (for the four-eyes rule)."""
    if not is_caller_arn(caller):
        return Refusal(401, "no verified caller: the request must be signed (SigV4) by an IAM identity")
    assert caller is not None
    role = ROLE_OF[action]
    if not matches(caller, principals.patterns(role)):
        return Refusal(
            403,
            f"{caller} may not {action}: it matches none of the stack's {PARAMETER_OF[role]} "
            f"({', '.join(principals.patterns(role)) or 'none configured'})",
        )
    if action in FOUR_EYES and not principals.allow_self_approval and same_person(caller, requested_by):
        return Refusal(
            403,
            f"{caller} requested this cutover and may not also {action} it (four eyes; the stack's "
            "AllowSelfApproval parameter is false)",
        )
    return None


def request_digest(detail: object) -> str:
    """What a start request's ticket names: the digest of the request exactly as sent (canonical JSON)."""
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
