"""Read the SAM template (template.yaml) as plain data.

The tests and the local engine take what they need from the template itself
(the table's key schema, which function each ``DefinitionSubstitutions`` entry
names, where its code lives), so they cannot drift from what ``sam deploy``
creates. CloudFormation's short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...)
are turned into their long forms (``{"Ref": ...}``, ``{"Fn::Sub": ...}``, ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_NAME = "template.yaml"
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
FUNCTION_TYPE = "AWS::Serverless::Function"
TABLE_TYPE = "AWS::DynamoDB::Table"

# ${Name} or ${Name.Attribute} in an Fn::Sub string; ${!Literal} is not a placeholder.
_SUB_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")

# Short-form tags whose long form is "Fn::<name>".
_FN_TAGS = (
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "Sub",
)


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that knows CloudFormation's tags and keeps dates as strings, as CloudFormation does
    (libyaml's parser when PyYAML has it: the template is read by every test process and rehearsal)."""


# YAML 1.1 would turn an unquoted 2010-09-09 into a date; CloudFormation reads a string.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node.tag}", node.start_mark)


def _fn_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _node_value(loader, node)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _node_value(loader, node)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _node_value(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute" (the attribute itself may contain dots, e.g. Endpoint.Address).
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


for _name in _FN_TAGS:
    _TemplateLoader.add_constructor(f"!{_name}", _fn_constructor(_name))
_TemplateLoader.add_constructor("!Ref", _ref)
_TemplateLoader.add_constructor("!Condition", _condition)
_TemplateLoader.add_constructor("!GetAtt", _get_att)


def repo_root() -> Path:
    """The folder that holds template.yaml.

    This module lives in ``cli/cutover_cli/``, two levels below it; when the
    package is installed elsewhere, the current folder and its parents are searched.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / TEMPLATE_NAME).is_file():
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / TEMPLATE_NAME).is_file():
            return folder
    raise FileNotFoundError(f"{TEMPLATE_NAME} not found next to {here} nor in {cwd} or its parents")


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) with CloudFormation's short-form tags."""
    data = yaml.load(text, Loader=_TemplateLoader)  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ValueError("not a CloudFormation template: no Resources mapping")
    return data


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template at ``path`` (default: the project's template.yaml) as plain data."""
    return parse_template((path or repo_root() / TEMPLATE_NAME).read_text(encoding="utf-8"))


def resources_of_type(tpl: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for the resources of the given types."""
    return {lid: res for lid, res in tpl["Resources"].items() if isinstance(res, dict) and res.get("Type") in types}


def _only(tpl: dict[str, Any], *types: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(tpl, *types)
    if len(found) != 1:
        raise ValueError(f"expected exactly one {' or '.join(types)} in the template, found {sorted(found) or 'none'}")
    return next(iter(found.items()))


CUTOVER_STATE_MACHINE = "CutoverStateMachine"
WAVE_STATE_MACHINE = "WaveStateMachine"


def state_machine_resource(tpl: dict[str, Any], logical_id: str = CUTOVER_STATE_MACHINE) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of one of the template's state machines (default: the cutover workflow)."""
    machines = resources_of_type(tpl, *STATE_MACHINE_TYPES)
    if logical_id not in machines:
        raise ValueError(f"no state machine {logical_id} in the template (it has {sorted(machines) or 'none'})")
    return logical_id, machines[logical_id]


def definition_substitutions(tpl: dict[str, Any], logical_id: str = CUTOVER_STATE_MACHINE) -> dict[str, Any]:
    """A state machine's DefinitionSubstitutions (values are intrinsic functions, unresolved)."""
    _, resource = state_machine_resource(tpl, logical_id)
    subs = resource.get("Properties", {}).get("DefinitionSubstitutions", {})
    return dict(subs)


def _with_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge, lists add up (globals first), a function's own scalar wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _with_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def functions(tpl: dict[str, Any], root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every AWS::Serverless::Function, with ``Globals.Function``
    applied and ``CodeUri`` resolved to an absolute Path (relative to ``root``, default the repo root)."""
    base = root or repo_root()
    global_props = tpl.get("Globals", {}).get("Function", {})
    out: dict[str, dict[str, Any]] = {}
    for lid, resource in resources_of_type(tpl, FUNCTION_TYPE).items():
        props = _with_globals(global_props, resource.get("Properties", {}))
        code_uri = props.get("CodeUri")
        if isinstance(code_uri, str):
            props["CodeUri"] = (base / code_uri).resolve()
        out[lid] = props
    return out


def _get_att_target(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, dict) or set(value) != {"Fn::GetAtt"}:
        return None
    target = value["Fn::GetAtt"]
    if isinstance(target, str):
        target = target.split(".", 1)
    if isinstance(target, list) and len(target) == 2 and all(isinstance(part, str) for part in target):
        return target[0], target[1]
    return None


def function_for_substitution(tpl: dict[str, Any], logical_id: str = CUTOVER_STATE_MACHINE) -> dict[str, str]:
    """Substitution name -> logical id of the function whose ARN it carries
    (e.g. ``"PrepareFunctionArn" -> "PrepareFunction"``)."""
    names = set(resources_of_type(tpl, FUNCTION_TYPE))
    out: dict[str, str] = {}
    for sub, value in definition_substitutions(tpl, logical_id).items():
        target = _get_att_target(value)
        if target and target[0] in names and target[1] == "Arn":
            out[sub] = target[0]
    return out


def table_properties(tpl: dict[str, Any]) -> dict[str, Any]:
    """Properties of the template's only DynamoDB table (KeySchema, AttributeDefinitions, BillingMode, ...)."""
    _, resource = _only(tpl, TABLE_TYPE)
    return dict(resource.get("Properties", {}))


def conditional_resources(tpl: dict[str, Any]) -> dict[str, str]:
    """Logical id -> condition name, for the resources that exist only under a condition."""
    return {
        lid: res["Condition"]
        for lid, res in tpl["Resources"].items()
        if isinstance(res, dict) and isinstance(res.get("Condition"), str)
    }


def sub_placeholders(text: str) -> set[str]:
    """The names an Fn::Sub string substitutes (``Name`` or ``Name.Attribute``), without ``${!...}`` literals."""
    return set(_SUB_PLACEHOLDER.findall(text))
