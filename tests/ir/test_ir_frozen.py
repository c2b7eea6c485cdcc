"""Frozen means frozen: no IR container can be changed in place, and models hash and live in sets.

The container fields are found by walking the IR classes from `Model` (not from a hand list), and
each is tried on real instances collected from every example.
"""
from __future__ import annotations

import copy
import json
import pickle
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from nasc.frontend import load_model, parse_source
from nasc.frozen import FrozenDict, freeze
from nasc.ir.base import IRNode
from nasc.ir.expr import Lit, Ref, parse_expr
from nasc.ir.model import Model, OpCall
from nasc.ir.serde import to_json, to_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.nas"))
_CONTAINERS = (tuple, list, dict, set, frozenset, Mapping, FrozenDict)


def _leaves(tp: Any) -> Iterator[Any]:
    """The types inside an annotation (through Annotated, unions, containers)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _leaves(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            yield from _leaves(a)
    else:
        yield tp
        for a in typing.get_args(tp):
            if a is not Ellipsis:
                yield from _leaves(a)


def _is_container(tp: Any) -> bool:
    for t in _leaves(tp):
        origin = typing.get_origin(t) or t
        if isinstance(origin, type) and issubclass(origin, _CONTAINERS) and not issubclass(origin, (str, bytes)):
            return True
    return False


def ir_classes() -> list[type[IRNode]]:
    """Every IR node class reachable from `Model` through field annotations."""
    seen: list[type[IRNode]] = []
    todo: list[type[IRNode]] = [Model]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.append(cls)
        for name, f in cls.model_fields.items():
            if name == "span":
                continue
            for t in _leaves(f.annotation):
                if isinstance(t, type) and issubclass(t, IRNode) and t not in seen:
                    todo.append(t)
    return seen


def container_fields() -> list[tuple[type[IRNode], str]]:
    """(class, field) for every sequence or mapping field of every IR class."""
    return [(cls, name) for cls in ir_classes() for name, f in cls.model_fields.items()
            if name != "span" and _is_container(f.annotation)]


def _instances(root: Any) -> Iterator[IRNode]:
    stack = [root]
    while stack:
        x = stack.pop()
        if isinstance(x, IRNode):
            yield x
            stack.extend(getattr(x, f) for f in type(x).model_fields if f != "span")
        elif isinstance(x, Mapping):
            stack.extend(x.values())
        elif isinstance(x, (tuple, list)):
            stack.extend(x)


@pytest.fixture(scope="module")
def instances() -> dict[type, list[IRNode]]:
    out: dict[type, list[IRNode]] = {}
    for path in EXAMPLES:
        for node in _instances(load_model(path)):
            out.setdefault(type(node), []).append(node)
    return out


def test_the_walk_finds_the_ir_vocabulary():
    names = {cls.__name__ for cls in ir_classes()}
    assert {"Model", "Cell", "Node", "Edge", "OpCall", "Choice", "OpDef", "IfStmt", "Layout", "AuxHead",
            "Lit", "Ref", "BinOp", "Neg", "TupleExpr"} <= names
    fields = {(c.__name__, f) for c, f in container_fields()}
    assert {("OpCall", "args"), ("Model", "stems"), ("Choice", "candidates"), ("TupleExpr", "items"),
            ("Model", "input"), ("Layout", "reductions")} <= fields


def _try_mutations(value: Any) -> list[str]:
    """Every in-place change tried on `value` that did not raise (should be none)."""
    survived = []
    probe = Lit(value=0)
    attempts: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        key = next(iter(value), "k")
        attempts = [("setitem", lambda: value.__setitem__(key, probe)),  # type: ignore[attr-defined]
                    ("delitem", lambda: value.__delitem__(key)),  # type: ignore[attr-defined]
                    ("update", lambda: value.update({"x": probe})),  # type: ignore[attr-defined]
                    ("pop", lambda: value.pop(key)),  # type: ignore[attr-defined]
                    ("clear", lambda: value.clear()),  # type: ignore[attr-defined]
                    ("setdefault", lambda: value.setdefault("x", probe)),  # type: ignore[attr-defined]
                    ("setattr", lambda: setattr(value, "_data", {}))]
    else:
        attempts = [("append", lambda: value.append(probe)),
                    ("setitem", lambda: value.__setitem__(0, probe)),
                    ("delitem", lambda: value.__delitem__(0)),
                    ("extend", lambda: value.extend([probe])),
                    ("insert", lambda: value.insert(0, probe)),
                    ("clear", lambda: value.clear())]
    for what, fn in attempts:
        try:
            fn()
        except (TypeError, AttributeError):
            continue
        survived.append(what)
    return survived


@pytest.mark.parametrize("cls, field", container_fields(), ids=lambda x: getattr(x, "__name__", x))
def test_every_container_field_refuses_changes(cls, field, instances):
    values = [getattr(node, field) for node in instances.get(cls, [])]
    values = [v for v in values if v is not None]
    assert values, f"no example has a {cls.__name__}.{field} to try"
    for v in values:
        assert isinstance(v, (tuple, FrozenDict)), f"{cls.__name__}.{field} is a {type(v).__name__}"
        assert _try_mutations(v) == [], f"{cls.__name__}.{field} changed in place"
    node = next(n for n in instances[cls] if getattr(n, field) is not None)
    with pytest.raises(pydantic.ValidationError):
        setattr(node, field, ())
    hash(node)


def test_the_reported_mutation_fails_and_the_model_still_hashes():
    m = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    with pytest.raises(TypeError):
        m.stems[0].args["C_out"] = None  # type: ignore[index]
    assert m.stems[0].args["C_out"] is not None and hash(m) == hash(m)


def test_models_hash_and_work_in_sets_and_as_keys():
    a = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    b = load_model(ROOT / "examples" / "darts_v2_cifar.yaml")
    c = load_model(ROOT / "examples" / "resnet20.nas")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, c}) == 2 and {a: 1}[b] == 1
    assert a.model_copy() in {a} and a.stems[0] in {s for s in b.stems}


def test_model_copy_freezes_what_it_is_given():
    m = load_model(ROOT / "examples" / "resnet20.nas")
    stem = m.stems[0].model_copy(update={"args": {"C_out": Ref(name="C")}})
    assert isinstance(stem.args, FrozenDict)
    m2 = m.model_copy(update={"stems": [stem], "imports": ["std"]})
    assert isinstance(m2.stems, tuple) and isinstance(m2.imports, tuple)
    assert m2 == m and hash(m2) == hash(m)


def test_frozen_dict_validates_serialises_and_pickles():
    call = OpCall(op="conv", args={"k": 3, "pad": "k // 2"})
    assert isinstance(call.args, FrozenDict) and call.args["pad"] == parse_expr("k // 2")
    assert call.args == {"k": Lit(value=3), "pad": call.args["pad"]}
    dumped = call.model_dump(mode="json")
    assert dumped["args"] == {"k": 3, "pad": "k // 2"} and type(dumped["args"]) is dict
    assert type(call.model_dump()["args"]) is dict
    assert OpCall.model_validate_json(call.model_dump_json()) == call
    assert OpCall.model_json_schema()["properties"]["args"]["type"] == "object"
    for clone in (pickle.loads(pickle.dumps(call)), copy.deepcopy(call), copy.copy(call)):
        assert clone == call and isinstance(clone.args, FrozenDict)
    assert (call.args | {"k": Lit(value=5)})["k"] == Lit(value=5) and call.args["k"] == Lit(value=3)


def test_freeze_turns_plain_containers_into_frozen_ones():
    v = freeze({"a": [1, {"b": [2]}], "c": {3}})
    assert v == {"a": (1, {"b": (2,)}), "c": frozenset({3})}
    assert isinstance(v, FrozenDict) and isinstance(v["a"][1], FrozenDict)
    t = (1, 2)
    assert freeze(t) is t
    hash(v)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_serde_round_trips_keep_working(path):
    m = load_model(path)
    assert parse_source(to_yaml(m), "m.yaml") == m and parse_source(to_json(m), "m.json") == m
    data = yaml.safe_load(to_yaml(m))  # plain YAML: no Python tags for the frozen containers
    assert json.loads(json.dumps(data)) == data
