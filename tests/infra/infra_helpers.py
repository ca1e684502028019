"""Helpers shared by the infra tests: load the SAM template and render values.

The template uses CloudFormation short-form tags (!Ref, !Sub, !If, ...), which
plain YAML loaders reject. `load_template` maps each tag to its long form
({"Ref": ...}, {"Fn::Sub": ...}), so tests see what CloudFormation sees.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
QUERIES = REPO / "infra" / "queries"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsic tags."""


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def render(node: Any) -> list[str]:
    """Every string `node` can evaluate to, with references left symbolic.

    Ref X and ${X} render as "${X}", GetAtt A.B as "${A.B}", and Fn::If as
    the union of both branches (AWS::NoValue renders as nothing). Fn::Sub
    variable maps are substituted and ${!X} becomes the literal ${X}. Enough
    to reason about ARNs and paths.
    """
    if isinstance(node, str):
        return [node]
    if isinstance(node, (int, float, bool)):
        return [str(node)]
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return [] if value == "AWS::NoValue" else ["${%s}" % value]
        if key == "Fn::GetAtt":
            return ["${%s}" % ".".join(value)]
        if key == "Fn::If":
            return render(value[1]) + render(value[2])
        if key == "Fn::Sub":
            template, variables = (value, {}) if isinstance(value, str) else value
            results = [template]
            for name, expr in variables.items():
                options = render(expr)
                results = [r.replace("${%s}" % name, o) for r in results for o in options]
            # ${!Literal} is how Fn::Sub writes a literal ${Literal}.
            return [r.replace("${!", "${") for r in results]
        if key == "Fn::Join":
            sep, parts = value
            return [sep.join(combo) for combo in itertools.product(*(render(p) for p in parts))]
        if key == "Fn::FindInMap":
            return ["${FindInMap:%s}" % ":".join(map(str, value))]
    raise AssertionError(f"cannot render {node!r}")


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resources_of_type(template: dict, rtype: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def sub_template(node: Any) -> str:
    """The template string of a Fn::Sub (string or [string, vars] form)."""
    assert isinstance(node, dict) and "Fn::Sub" in node, f"expected Fn::Sub, got {node!r}"
    value = node["Fn::Sub"]
    return value if isinstance(value, str) else value[0]


def pattern_matches(pattern: str, value: str) -> bool:
    """CloudFormation AllowedPattern semantics: the whole value must match."""
    return re.fullmatch(pattern, value) is not None
