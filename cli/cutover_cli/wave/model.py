"""The wave file: its model, its validation (every problem one message naming its field), and the extra
checks rehearse-wave makes of each cutover's scenario. Also the exit statuses the wave commands share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cutover.errors import PlanInvalid
from cutover.plan import Plan, load_plan_file, read_document_file, shape_problems
from cutover.steps.start import execution_name

if TYPE_CHECKING:
    from cutover_cli.scenario import Scenario

# The wave commands' exit statuses: as expected, not (or refused), invalid input (nothing ran).
EXIT_OK, EXIT_NOT_OK, EXIT_INVALID = 0, 1, 2

WAVE_NAME_PATTERN = r"^[a-z0-9-]{1,48}$"
MAX_CONCURRENCY = 100
MAX_CUTOVERS = 200
# execution_name() keeps 39 characters of a request id: `<wave>-<i>` must fit, or two would collide.
MAX_REQUEST_KEY = 39


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _CutoverEntry(_Strict):
    plan: str = Field(min_length=1, max_length=1024, description="plan file, relative to the wave file")
    scenario: str | None = Field(
        default=None, min_length=1, max_length=1024, description="scenario file for rehearse-wave"
    )


class _WaveModel(_Strict):
    name: str = Field(pattern=WAVE_NAME_PATTERN, description="[a-z0-9-], 1..48 chars")
    concurrency: int = Field(ge=1, le=MAX_CONCURRENCY, description="cutovers running at once")
    halt_on_failure: bool = Field(
        default=False,
        strict=True,
        description="once a cutover ends other than COMPLETED, start no more (running ones go on)",
    )
    cutovers: list[_CutoverEntry] = Field(min_length=1, max_length=MAX_CUTOVERS)


@dataclass(frozen=True)
class WaveCutover:
    plan_path: Path
    plan: Plan
    scenario_path: Path | None


@dataclass(frozen=True)
class Wave:
    name: str
    concurrency: int
    halt_on_failure: bool
    cutovers: list[WaveCutover]

    def request_id(self, index: int) -> str:
        """The request id of the wave's ``index``-th cutover: the same on every run of the wave, so a
        wave run again finds its cutovers instead of starting them twice."""
        return f"{self.name}-{index}"

    def execution_id(self, index: int) -> str:
        """The execution the start function runs the ``index``-th cutover as."""
        plan = self.cutovers[index].plan
        return execution_name({"name": plan.name, "request_id": self.request_id(index)}, "")


def load_wave_file(path: str | Path) -> Wave:
    """Read and validate a wave file and every plan it names; raises :class:`PlanInvalid` listing
    every problem, each naming its field (``cutovers[2].plan: steps[0]: ...``)."""
    return validate_wave(read_document_file(path, what="wave"), Path(path).parent)


def validate_wave(data: Any, base: Path) -> Wave:
    """The typed wave from parsed data; plan (and scenario) paths are relative to ``base``."""
    if not isinstance(data, dict):
        raise PlanInvalid([f"wave: must be a mapping of fields, not {type(data).__name__}"])
    problems: list[str] = []
    name: str | None
    try:
        model = _WaveModel.model_validate(data)
        name, entries = model.name, list(model.cutovers)
    except ValidationError as err:
        problems += shape_problems(err)
        broken = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
        name = None if "name" in broken else str(data.get("name"))
        # The plans are still checked when only other fields are wrong, so one run reports every problem.
        entries = [] if "cutovers" in broken else [_CutoverEntry.model_validate(e) for e in data["cutovers"]]
    cutovers: list[WaveCutover | None] = []
    for i, entry in enumerate(entries):
        plan_path = base / entry.plan
        try:
            plan = load_plan_file(plan_path)
        except PlanInvalid as err:
            problems += [f"cutovers[{i}].plan: {problem}" for problem in err.problems]
            cutovers.append(None)
            continue
        cutovers.append(WaveCutover(plan_path, plan, base / entry.scenario if entry.scenario else None))
    problems += _shared_record_problems(cutovers)
    if name is not None and entries:
        problems += _request_id_problems(name, len(entries))
    if problems:
        raise PlanInvalid(problems)
    model = _WaveModel.model_validate(data)
    return Wave(model.name, model.concurrency, model.halt_on_failure, [c for c in cutovers if c is not None])


def _shared_record_problems(cutovers: list[WaveCutover | None]) -> list[str]:
    problems: list[str] = []
    owner: dict[str, int] = {}
    for i, cutover in enumerate(cutovers):
        if cutover is None:
            continue
        for rec in cutover.plan.records:
            first = owner.setdefault(rec.key, i)
            if first != i:
                other = cutovers[first]
                assert other is not None
                problems.append(
                    f"cutovers[{i}].plan: record {rec.normalized_name} ({rec.type} in zone {rec.zone_id}) is also in "
                    f"cutovers[{first}].plan ({other.plan.name}); two cutovers of one wave may not share a record "
                    "(the second would be REJECTED on the first one's lock)"
                )
    return problems


def _request_id_problems(name: str, count: int) -> list[str]:
    longest = f"{name}-{count - 1}"
    if len(longest) <= MAX_REQUEST_KEY:
        return []
    allowed = MAX_REQUEST_KEY - 1 - len(str(count - 1))
    return [
        f"name: with {count} cutover(s) the request ids run up to {longest!r}, longer than the "
        f"{MAX_REQUEST_KEY} characters an execution name keeps of a request id; use at most {allowed} characters"
    ]


# --------------------------------------------------- rehearse-wave's inputs


def wave_scenarios(wave: Wave) -> list[Scenario]:
    """Each cutover's scenario, validated against its plan, for rehearse-wave; raises :class:`PlanInvalid`.

    Refused in a wave: a missing scenario; a scenario with ``faults`` (an injected fault fails the next
    matching call of any cutover on the shared emulator, so it cannot belong to one of them); and two
    cutovers watching the same signal (one emulated CloudWatch: one scenario would set the other's)."""
    from cutover_cli.scenario import load_scenario_file

    problems: list[str] = []
    scenarios: list[Scenario] = []
    for i, cutover in enumerate(wave.cutovers):
        where = f"cutovers[{i}].scenario"
        if cutover.scenario_path is None:
            problems.append(f"{where}: is required by rehearse-wave (the world this cutover is rehearsed in)")
            continue
        try:
            scenario = load_scenario_file(cutover.scenario_path, cutover.plan)
        except PlanInvalid as err:
            problems += [f"{where}: {problem}" for problem in err.problems]
            continue
        if scenario.faults:
            problems.append(
                f"{where}: scenario.faults: not allowed in a wave: faults are global to the emulator (a fault "
                "fails the next matching call of whichever cutover makes it); rehearse this plan alone with "
                "`cutover rehearse` to inject faults"
            )
        scenarios.append(scenario)
    problems += _shared_signal_problems(wave)
    if problems:
        raise PlanInvalid(problems)
    return scenarios


def _signals(plan: Plan) -> list[tuple[str, str]]:
    out = [("alarm", a) for a in plan.gates.alarms]
    out += [("DMS task", g.replication_task) for g in plan.gates.dms]
    if plan.reverse_replication is not None:
        out.append(("DMS task", plan.reverse_replication.replication_task))
    out += [("MGN server", g.source_server_id) for g in plan.gates.mgn]
    return list(dict.fromkeys(out))


def _shared_signal_problems(wave: Wave) -> list[str]:
    problems: list[str] = []
    owner: dict[tuple[str, str], int] = {}
    for i, cutover in enumerate(wave.cutovers):
        for signal in _signals(cutover.plan):
            first = owner.setdefault(signal, i)
            if first != i:
                problems.append(
                    f"cutovers[{i}].plan: watches {signal[0]} {signal[1]!r} like cutovers[{first}].plan; a rehearsal "
                    "has one emulated world, so one scenario would change the other's signal (give each cutover "
                    "its own signals in the rehearsal, or rehearse them apart)"
                )
    return problems
