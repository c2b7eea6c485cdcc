"""Elaboration and cost through the real front end: every example, every std op, source spans."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.analysis.shapes import CallContext, Expander
from nasc.errors import Diagnostics, NameResolutionError, ShapeError
from nasc.frontend import load_model, parse_source
from nasc.ir.model import OpCall

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.nas"))

# (params, params_with_aux) where the reference DARTS logs give a figure
KNOWN = {"darts_v2_cifar.nas": 3_349_342, "darts_v2_imagenet.nas": 4_718_752, "darts_space.nas": 1_930_618}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_elaborates(path: Path) -> None:
    net = elaborate(load_model(path))
    r = cost(net)
    assert net.head.out_shape == (net.classes, 1, 1)
    assert r.params > 0 and r.macs > 0 and r.activation_bytes > 0
    if path.name in KNOWN:
        assert r.params == KNOWN[path.name]


def test_known_examples_exist() -> None:
    assert set(KNOWN) <= {p.name for p in EXAMPLES}


def _std_model() -> object:
    return parse_source("import std\nnetwork n {\n  input = (3, 8, 8)\n  classes = 2\n"
                        "  stem = cifar_stem(C_out=4)\n  cells = 0\n  channels = 4\n  head = classifier\n}\n",
                        str(ROOT / "n.nas"))


def test_every_std_op_expands() -> None:
    m = _std_model()
    # ops with required params (sep_conv(k, pad), ...) are covered through their aliases
    ops = [d for d in m.ops if d.module == "std" and all(p.default is not None for p in d.params)]  # type: ignore[attr-defined]
    assert len(ops) >= 20
    ex = Expander(m, {})  # type: ignore[arg-type]
    special = {"cifar_aux": (16, 8, 8), "imagenet_aux": (16, 7, 7)}
    for d in ops:
        for stride in (1, 2):
            shape = special.get(d.name, (16, 32, 32))
            if d.name.endswith("aux") and stride == 2:
                continue
            calls, out = ex.expand(OpCall(op=d.name), CallContext(shape, 16, stride, True))
            # stems and heads ignore the context stride; cell ops apply it
            fixed = {"cifar_stem": 32, "imagenet_stem0": 8, "imagenet_stem1": 16, "classifier": 1,
                     "cifar_aux": 1, "imagenet_aux": 1}
            h = fixed.get(d.name, 32 // stride)
            assert out[1:] == (h, h), (d.name, stride, out)
            assert all(c.path.startswith(d.name) for c in calls)


def test_errors_point_into_the_source(tmp_path: Path) -> None:
    src = (
        "import std\n"                                    # 1
        "param C = 16\n"                                  # 2
        "op mine {\n"                                     # 3
        "  relu\n"                                        # 4
        "  conv(k=3, pad=1, stirde=2)\n"                  # 5
        "}\n"                                             # 6
        "cell normal(s0: preprocess, s1: preprocess) {\n"  # 7
        "  n0 = mine(s0) + relu(s1)\n"                     # 8
        "  n1 = relu(s0) + max_pool_3x3(s1, stride=2)\n"  # 9
        "  return concat(n0, n1)\n"                       # 10
        "}\n"
        "network n {\n  input = (3, 32, 32)\n  classes = 10\n  stem = cifar_stem(C_out=C)\n"
        "  cells = 2\n  channels = C\n  reductions = ()\n  head = classifier\n}\n")
    f = tmp_path / "m.nas"
    f.write_text(src)
    with pytest.raises(Diagnostics) as err:
        elaborate(parse_source(src, str(f)))  # unverified IR: elaboration finds both problems itself
    errs = err.value.errors
    assert [(type(e), e.span.line, e.span.col) for e in errs] == [  # type: ignore[union-attr]
        (NameResolutionError, 5, 3), (ShapeError, 9, 19)]
    assert errs[0].message == ("normal.n0.e0 (cells.0, +1 more): primitive `conv` has no parameter `stirde` "
                               "(at mine/1:conv)")
    assert errs[0].hint == "did you mean `stride`?"
    assert errs[1].message == ("normal.n1.e1 (cells.0, +1 more): sum node n1 expects (16, 32, 32) (the shape of "
                               "normal.n1.e0) but `max_pool_3x3(s1)` gives (16, 16, 16)")
    assert errs[0].span.file == str(f)  # type: ignore[union-attr]
