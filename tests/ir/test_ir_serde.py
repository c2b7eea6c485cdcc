"""YAML/JSON form of the IR: round trips, concise defaults, kinds, self-contained form, schema."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nasc.errors import Diagnostics, ParseError, ValidationError
from nasc.frontend import load_model, parse_source
from nasc.frontend.imports import resolve_model_imports
from nasc.ir.expr import parse_expr
from nasc.ir.serde import from_data, json_schema, to_data, to_json, to_yaml

ROOT = Path(__file__).resolve().parents[2]
NAS = sorted((ROOT / "examples").glob("*.nas"))


@pytest.mark.parametrize("path", NAS, ids=lambda p: p.name)
def test_yaml_and_json_round_trip(path):
    m = load_model(path)
    assert parse_source(to_yaml(m), "m.yaml") == m
    assert parse_source(to_json(m), "m.json") == m
    assert resolve_model_imports(from_data(yaml.safe_load(to_yaml(m))), None) == m
    # the IR reads no files: without the front end's import step the imported ops are missing
    assert from_data(yaml.safe_load(to_yaml(m))).ops == tuple(d for d in m.ops if d.module == "local")


@pytest.mark.parametrize("path", NAS, ids=lambda p: p.name)
def test_self_contained_form_needs_no_library(path, monkeypatch):
    m = load_model(path)
    data = to_data(m, self_contained=True)
    assert len(data["ops"]) == len(m.ops)
    import nasc.frontend.imports as imp

    monkeypatch.setattr(imp, "resolve_imports", lambda *a, **k: pytest.fail("libraries were read"))
    assert from_data(data) == m


def test_yaml_form_leaves_out_defaults_and_imported_ops():
    m = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    data = to_data(m)
    assert list(data)[:3] == ["ir_version", "name", "imports"]
    assert "ops" not in data and "affine" not in data
    edge = data["cells"][0]["nodes"][0]["edges"][0]
    assert edge == {"input": "s0", "op": {"kind": "op", "op": "sep_conv_3x3"}}
    assert data["layout"]["reductions"] == ["layers // 3", "2 * layers // 3"]
    assert data["stems"][0]["args"] == {"C_out": "C * 3"}


def test_kind_may_be_left_out():
    m = load_model(ROOT / "examples" / "darts_space.nas")
    data = to_data(m)
    for cell in data["cells"]:
        for node in cell["nodes"]:
            for edge in node["edges"]:
                edge["op"].pop("kind")
    assert resolve_model_imports(from_data(data), None) == m


def test_full_model_dump_loads_too():
    m = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    full = m.model_copy(update={"ops": tuple(d for d in m.ops if d.module == "local")}).model_dump(mode="json")
    assert resolve_model_imports(from_data(full), None) == m


def test_errors_without_marks_carry_the_key_path():
    m = load_model(ROOT / "examples" / "resnet20.nas")
    data = to_data(m)
    data["cells"][0]["nodes"][1]["keep"] = "two"
    with pytest.raises(Diagnostics) as ei:
        from_data(data, "x.yaml")
    (e,) = ei.value.errors
    assert isinstance(e, ValidationError) and e.key == "cells[0].nodes[1].keep" and e.span is None


def test_top_level_must_be_a_mapping_and_version_is_checked():
    with pytest.raises(ParseError):
        from_data([1, 2], "x.yaml")
    with pytest.raises(ValidationError, match="ir_version 0 is not supported"):
        from_data({"ir_version": 0, "name": "x"}, "x.yaml")


def test_yaml_spans_reach_the_ir(tmp_path):
    p = ROOT / "examples" / "resnet20.yaml"
    m = load_model(p)
    node = m.cells[0].nodes[1]
    line = p.read_text().splitlines().index("  - name: n1") + 1
    assert node.span.file == str(p) and (node.span.line, node.span.col) == (line, 5)


def test_expressions_are_scalars():
    m = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    y = to_yaml(m)
    assert "after: 2 * layers // 3" in y and "weight: 0.4" in y
    assert parse_expr("2 * layers // 3") == m.aux.after


def test_json_schema_describes_the_yaml_form():
    s = json_schema()
    text = json.dumps(s)
    assert s["$schema"].startswith("https://json-schema.org/") and "span" not in s["properties"]
    assert "Span" not in s["$defs"] and '"span"' not in text
    assert {"name", "cells", "layout", "head"} <= set(s["required"])
    assert s["$defs"]["Node"]["properties"]["combine"]["enum"] == ["sum", "concat", "proj"]
    assert "discriminator" not in text
