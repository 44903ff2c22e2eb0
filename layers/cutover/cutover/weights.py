"""Weight arithmetic for weighted record pairs: pure functions of plain data.

``Weights`` maps a record key (``RecordRef.key``, ``"ZONE|name|TYPE"``) to the
weight of each record of that weighted group, by ``SetIdentifier``::

    {"Z1|api.example.com|CNAME": {"legacy": 90, "aws": 10}}

Route 53 accepts weights 0..255 and, when every weight of a group is 0,
answers with all of its records equally; so a group whose weights are all 0
is never safe to write.  Nothing here touches AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cutover.errors import UnsafeWeights

if TYPE_CHECKING:  # only for annotations: the weights need no pydantic
    from cutover.plan import Plan

Weights = dict[str, dict[str, int]]

MIN_WEIGHT = 0
MAX_WEIGHT = 255


def step_weights(percent: int) -> tuple[int, int]:
    """``(from_weight, to_weight)`` for a step of ``percent`` % of traffic on ``to``."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise ValueError(f"a step is a whole percentage between 1 and 100, not {percent!r}")
    return 100 - percent, percent


def plan_weights(plan: Plan, percent: int) -> Weights:
    """The weights of every record of ``plan`` at the step ``percent``."""
    from_weight, to_weight = step_weights(percent)
    return {rec.key: {rec.from_: from_weight, rec.to: to_weight} for rec in plan.records}


def weights_of_snapshot(snapshot: Mapping[str, Any]) -> Weights:
    """The weights a snapshot holds (the ``Weight`` of each record set it kept)."""
    weights: Weights = {}
    for key, entry in snapshot.items():
        records = entry["records"]
        weights[key] = {set_id: records[set_id]["Weight"] for set_id in sorted(records)}
    return weights


def split_key(key: str) -> tuple[str, str, str]:
    """``(zone_id, name, type)`` of a record key; a malformed key is returned whole as the name."""
    parts = key.split("|")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return "", key, ""


def label(key: str) -> str:
    """A record key as people read it: ``api.example.com (Z1, CNAME)``."""
    zone_id, name, rtype = split_key(key)
    return f"{name} ({zone_id}, {rtype})" if zone_id or rtype else name


def _is_weight(value: object) -> bool:
    # bool is an int subclass, and True would silently become weight 1.
    return isinstance(value, int) and not isinstance(value, bool)


def weight_problems(weights: Weights) -> list[str]:
    """Every reason ``weights`` is unsafe to write; empty when it is safe."""
    problems: list[str] = []
    for key in sorted(weights):
        group = weights[key]
        where = label(key)
        if not group:
            problems.append(f"{where}: has no records to weigh")
            continue
        for set_id in sorted(group):
            value = group[set_id]
            if not _is_weight(value):
                problems.append(f"{where} {set_id}: weight {value!r} is not a whole number")
            elif not MIN_WEIGHT <= value <= MAX_WEIGHT:
                problems.append(f"{where} {set_id}: weight {value} is outside {MIN_WEIGHT}..{MAX_WEIGHT}")
        if all(_is_weight(v) and v == 0 for v in group.values()):
            problems.append(f"{where}: every weight is 0, so Route 53 would split traffic evenly")
    return problems


def assert_safe(weights: Weights) -> None:
    """Raise :class:`UnsafeWeights` naming every unsafe group of ``weights``."""
    problems = weight_problems(weights)
    if problems:
        raise UnsafeWeights("refusing to write unsafe weights: " + "; ".join(problems))


def _show(value: int | None) -> str:
    return "no record" if value is None else str(value)


def drift(expected: Weights, actual: Weights) -> list[str]:
    """Every difference between ``expected`` and ``actual`` weights, one message each; ``[]`` when equal.

    A record (or a whole group) present on one side only is a difference.
    """
    differences: list[str] = []
    for key in sorted(set(expected) | set(actual)):
        where = label(key)
        if key not in actual:
            differences.append(f"{where}: expected {_describe_group(expected[key])}, found no records")
            continue
        if key not in expected:
            differences.append(f"{where}: expected no records, found {_describe_group(actual[key])}")
            continue
        want, have = expected[key], actual[key]
        for set_id in sorted(set(want) | set(have)):
            w, h = want.get(set_id), have.get(set_id)
            if w != h:
                differences.append(f"{where} {set_id}: expected {_show(w)}, found {_show(h)}")
    return differences


def _describe_group(group: Mapping[str, int]) -> str:
    return ", ".join(f"{set_id} {group[set_id]}" for set_id in sorted(group)) or "an empty group"


def describe(weights: Weights) -> dict[str, dict[str, int]]:
    """The weights keyed by record name, for messages and output.

    A name is shared by two keys when a plan moves, say, both the A and the
    AAAA record of a name, or one name in two zones; those keys become
    ``"name TYPE"``, and ``"name TYPE ZONE"`` if that is still ambiguous, so no
    group hides another.
    """
    parts = {key: split_key(key) for key in weights}
    names: dict[str, int] = {}
    for _zone, name, _type in parts.values():
        names[name] = names.get(name, 0) + 1
    name_types: dict[tuple[str, str], int] = {}
    for _zone, name, rtype in parts.values():
        name_types[name, rtype] = name_types.get((name, rtype), 0) + 1

    out: dict[str, dict[str, int]] = {}
    for key in sorted(weights, key=lambda k: (parts[k][1], parts[k][2], parts[k][0])):
        zone_id, name, rtype = parts[key]
        if names[name] == 1:
            shown = name
        elif name_types[name, rtype] == 1:
            shown = f"{name} {rtype}"
        else:
            shown = f"{name} {rtype} {zone_id}"
        out[shown] = dict(weights[key])
    return out
