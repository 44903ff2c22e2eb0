"""Weight arithmetic: exhaustive and property-based tests of the pure core."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cutover.errors import UnsafeWeights
from cutover.plan import Plan, validate_plan
from cutover.weights import (
    MAX_WEIGHT,
    Weights,
    assert_safe,
    describe,
    drift,
    label,
    plan_weights,
    split_key,
    step_weights,
    weight_problems,
    weights_of_snapshot,
)

KEY = "Z1|api.example.com|CNAME"

# No per-example deadline (a loaded machine must not make these flaky) and no example database in the tree.
relaxed = settings(deadline=None, database=None)

set_ids = st.sampled_from(["legacy", "aws", "blue", "green", "canary"])
keys = st.builds(
    lambda zone, name, rtype: f"{zone}|{name}|{rtype}",
    st.sampled_from(["Z1", "Z2"]),
    st.sampled_from(["api.example.com", "www.example.com"]),
    st.sampled_from(["A", "AAAA", "CNAME"]),
)
valid_weight = st.integers(min_value=0, max_value=MAX_WEIGHT)
groups = st.dictionaries(set_ids, valid_weight, min_size=1, max_size=4)
weights_st = st.dictionaries(keys, groups, max_size=4)


def make_plan(*records: dict[str, Any]) -> Plan:
    return validate_plan({"name": "orders", "records": list(records), "steps": [10, 50, 100]})


def rec(zone: str = "Z1", name: str = "api.example.com", rtype: str = "CNAME", **kw: str) -> dict[str, Any]:
    return {"hosted_zone_id": zone, "name": name, "type": rtype, "from": kw.get("from_", "legacy"), "to": "aws"}


# ------------------------------------------------------------------ step_weights


@pytest.mark.parametrize("percent", range(1, 101))
def test_step_weights_every_valid_percent(percent: int) -> None:
    """Given any step from 1 to 100 %
    When its weights are computed
    Then ``to`` gets the percent, ``from`` the rest, both are valid Route 53 weights and never both 0."""
    from_w, to_w = step_weights(percent)
    assert (from_w, to_w) == (100 - percent, percent)
    assert from_w + to_w == 100
    assert 0 <= from_w <= MAX_WEIGHT and 0 < to_w <= MAX_WEIGHT
    assert_safe({KEY: {"legacy": from_w, "aws": to_w}})


def test_step_weights_full_cutover() -> None:
    """Given the last step (100 %)
    When its weights are computed
    Then all traffic goes to ``to`` and none to ``from``."""
    assert step_weights(100) == (0, 100)


@relaxed
@given(st.integers().filter(lambda p: not 1 <= p <= 100))
def test_step_weights_rejects_out_of_range(percent: int) -> None:
    """Given a percent outside 1..100
    When its weights are asked for
    Then ValueError names it."""
    with pytest.raises(ValueError, match=str(percent)):
        step_weights(percent)


@pytest.mark.parametrize("percent", [True, 50.0, "50", None])
def test_step_weights_rejects_non_integers(percent: Any) -> None:
    """Given a percent that is not a whole number (a bool, float, string or None)
    When its weights are asked for
    Then ValueError is raised rather than a silent conversion."""
    with pytest.raises(ValueError, match="whole percentage"):
        step_weights(percent)


# ------------------------------------------------------------------ plan_weights, weights_of_snapshot


def test_plan_weights_cover_every_record() -> None:
    """Given a plan with two records (different zones and from-identifiers)
    When the weights of the 25 % step are computed
    Then each record key maps its own from/to identifiers to 75/25."""
    plan = make_plan(rec(), rec(zone="/hostedzone/Z2", name="WWW.example.com.", rtype="A", from_="blue"))
    assert plan_weights(plan, 25) == {
        "Z1|api.example.com|CNAME": {"legacy": 75, "aws": 25},
        "Z2|www.example.com|A": {"blue": 75, "aws": 25},
    }


def test_plan_weights_reject_invalid_step() -> None:
    """Given a plan
    When the weights of step 0 are asked for
    Then ValueError is raised."""
    with pytest.raises(ValueError):
        plan_weights(make_plan(rec()), 0)


def test_weights_of_snapshot() -> None:
    """Given a snapshot holding full record sets
    When its weights are extracted
    Then each key maps SetIdentifier to that record set's Weight."""
    snapshot = {
        KEY: {
            "zone_id": "Z1",
            "name": "api.example.com",
            "type": "CNAME",
            "from": "legacy",
            "to": "aws",
            "records": {
                "legacy": {"Name": "api.example.com.", "SetIdentifier": "legacy", "Weight": 100, "TTL": 60},
                "aws": {"Name": "api.example.com.", "SetIdentifier": "aws", "Weight": 0, "TTL": 60},
            },
        }
    }
    assert weights_of_snapshot(snapshot) == {KEY: {"legacy": 100, "aws": 0}}
    assert weights_of_snapshot({}) == {}


# ------------------------------------------------------------------ assert_safe


@relaxed
@given(st.dictionaries(keys, groups.filter(lambda g: any(v > 0 for v in g.values())), max_size=4))
def test_assert_safe_accepts_groups_with_a_positive_weight(weights: Weights) -> None:
    """Given groups whose weights are all in 0..255 with at least one above 0
    When they are checked
    Then they are safe."""
    assert_safe(weights)
    assert weight_problems(weights) == []


@relaxed
@given(st.dictionaries(set_ids, st.just(0), min_size=1, max_size=4), weights_st)
def test_assert_safe_rejects_all_zero_group(zero_group: dict[str, int], others: Weights) -> None:
    """Given any weights plus one group whose weights are all 0
    When they are checked
    Then UnsafeWeights names that group (Route 53 would split its traffic evenly)."""
    weights = {**others, "Z9|zero.example.com|A": zero_group}
    with pytest.raises(UnsafeWeights, match=r"zero\.example\.com \(Z9, A\): every weight is 0"):
        assert_safe(weights)


@relaxed
@given(groups, set_ids, st.integers().filter(lambda w: not 0 <= w <= MAX_WEIGHT))
def test_assert_safe_rejects_out_of_range(group: dict[str, int], set_id: str, bad: int) -> None:
    """Given a group with one weight outside 0..255 (256 included: the emulator accepts it, Route 53 does not)
    When it is checked
    Then UnsafeWeights names the record and the weight."""
    with pytest.raises(UnsafeWeights, match=f"{set_id}: weight {bad} is outside 0..255"):
        assert_safe({KEY: {**group, set_id: bad}})


@pytest.mark.parametrize("bad", [True, False, 10.0, "10", None])
def test_assert_safe_rejects_non_integer(bad: Any) -> None:
    """Given a weight that is not an int (bools included, though bool is an int subclass)
    When it is checked
    Then UnsafeWeights says it is not a whole number."""
    with pytest.raises(UnsafeWeights, match="is not a whole number"):
        assert_safe({KEY: {"legacy": 50, "aws": bad}})


def test_assert_safe_boundaries_and_empty() -> None:
    """Given the extreme valid weights, no groups at all, and an empty group
    When they are checked
    Then 0 and 255 are accepted, no groups is safe, an empty group is not."""
    assert_safe({KEY: {"legacy": 0, "aws": 255}})
    assert_safe({})
    with pytest.raises(UnsafeWeights, match="has no records"):
        assert_safe({KEY: {}})


def test_assert_safe_lists_every_problem() -> None:
    """Given two unsafe groups
    When they are checked
    Then one error lists both problems."""
    with pytest.raises(UnsafeWeights) as err:
        assert_safe({"Z1|a.example.com|A": {"x": 0, "y": 0}, "Z1|b.example.com|A": {"x": 300, "y": 1}})
    assert "a.example.com (Z1, A): every weight is 0" in str(err.value)
    assert "b.example.com (Z1, A) x: weight 300 is outside 0..255" in str(err.value)


# ------------------------------------------------------------------ drift


@relaxed
@given(weights_st)
def test_drift_of_equal_weights_is_empty(weights: Weights) -> None:
    """Given any weights
    When they are compared with a copy of themselves
    Then there is no drift."""
    assert drift(weights, {k: dict(v) for k, v in weights.items()}) == []


@relaxed
@given(weights_st, weights_st)
def test_drift_is_empty_exactly_when_equal(expected: Weights, actual: Weights) -> None:
    """Given any two sets of weights
    When they are compared
    Then drift is empty if and only if they are equal, and symmetric in size."""
    assert (drift(expected, actual) == []) == (expected == actual)
    assert len(drift(expected, actual)) == len(drift(actual, expected))


@relaxed
@given(weights_st, st.data())
def test_drift_reports_each_changed_weight_once(expected: Weights, data: st.DataObject) -> None:
    """Given weights and a copy where some weights were changed by someone else
    When they are compared
    Then there is exactly one message per changed weight, naming the record and both values."""
    assume(expected)
    actual = {k: dict(v) for k, v in expected.items()}
    cells = sorted((k, s) for k, g in expected.items() for s in g)
    changed = data.draw(st.sets(st.sampled_from(cells), min_size=1))
    for key, set_id in changed:
        actual[key][set_id] = expected[key][set_id] + 1
    messages = drift(expected, actual)
    assert len(messages) == len(changed)
    for key, set_id in changed:
        want, have = expected[key][set_id], actual[key][set_id]
        assert f"{label(key)} {set_id}: expected {want}, found {have}" in messages


def test_drift_message_format() -> None:
    """Given the controller wrote aws 10 and someone set it to 30
    When the weights are compared
    Then the message reads like a sentence an operator understands."""
    expected = {KEY: {"legacy": 90, "aws": 10}}
    actual = {KEY: {"legacy": 90, "aws": 30}}
    assert drift(expected, actual) == ["api.example.com (Z1, CNAME) aws: expected 10, found 30"]


def test_drift_missing_and_extra_records() -> None:
    """Given a record that vanished, a record that appeared, a group that vanished and one that appeared
    When the weights are compared
    Then each is a difference."""
    expected = {KEY: {"legacy": 90, "aws": 10}, "Z1|gone.example.com|A": {"legacy": 100, "aws": 0}}
    actual = {KEY: {"legacy": 90, "canary": 5}, "Z2|new.example.com|A": {"x": 1}}
    assert drift(expected, actual) == [
        "api.example.com (Z1, CNAME) aws: expected 10, found no record",
        "api.example.com (Z1, CNAME) canary: expected no record, found 5",
        "gone.example.com (Z1, A): expected aws 0, legacy 100, found no records",
        "new.example.com (Z2, A): expected no records, found x 1",
    ]
    assert drift({KEY: {}}, {}) == ["api.example.com (Z1, CNAME): expected an empty group, found no records"]


# ------------------------------------------------------------------ describe, keys


def test_describe_keys_by_name() -> None:
    """Given weights of two different names
    When they are described
    Then they are keyed by record name only."""
    weights = {KEY: {"legacy": 90, "aws": 10}, "Z2|www.example.com|A": {"legacy": 100, "aws": 0}}
    assert describe(weights) == {
        "api.example.com": {"legacy": 90, "aws": 10},
        "www.example.com": {"legacy": 100, "aws": 0},
    }


def test_describe_never_hides_a_group_behind_a_shared_name() -> None:
    """Given the A and AAAA records of one name, and one name+type in two zones
    When they are described
    Then the type (and then the zone) is added so every group stays visible."""
    weights = {
        "Z1|api.example.com|A": {"legacy": 90, "aws": 10},
        "Z1|api.example.com|AAAA": {"legacy": 80, "aws": 20},
        "Z1|www.example.com|CNAME": {"a": 1, "b": 2},
        "Z2|www.example.com|CNAME": {"a": 3, "b": 4},
    }
    assert describe(weights) == {
        "api.example.com A": {"legacy": 90, "aws": 10},
        "api.example.com AAAA": {"legacy": 80, "aws": 20},
        "www.example.com CNAME Z1": {"a": 1, "b": 2},
        "www.example.com CNAME Z2": {"a": 3, "b": 4},
    }


@relaxed
@given(weights_st)
def test_describe_keeps_every_group(weights: Weights) -> None:
    """Given any weights
    When they are described
    Then no group is lost and no weight changes."""
    described = describe(weights)
    assert len(described) == len(weights)
    assert sorted(map(sorted, (g.items() for g in described.values()))) == sorted(
        map(sorted, (g.items() for g in weights.values()))
    )


def test_split_key_and_label() -> None:
    """Given a record key and a string that is not one
    When they are split and labelled
    Then the key gives zone, name and type, the other string is kept whole."""
    assert split_key(KEY) == ("Z1", "api.example.com", "CNAME")
    assert label(KEY) == "api.example.com (Z1, CNAME)"
    assert split_key("oops") == ("", "oops", "")
    assert label("oops") == "oops"
