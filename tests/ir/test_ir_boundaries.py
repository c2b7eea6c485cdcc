"""The IR stands alone: it imports nothing above it, verification takes the primitive table as an
argument, the context names and the DARTS macro rules are defined once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nasc.frontend import load_model
from nasc.ir import macro, names
from nasc.ir.expr import Lit, Ref, evaluate, format_expr
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table

ROOT = Path(__file__).resolve().parents[2]
IR_MODULES = sorted(f"nasc.ir.{p.stem}" for p in (ROOT / "nasc" / "ir").glob("*.py") if p.stem != "__init__")


def test_importing_and_using_the_ir_loads_nothing_above_it():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in IR_MODULES)
        + "from nasc.ir.expr import parse_expr\n"
        "from nasc.ir.serde import from_data, to_yaml\n"
        "parse_expr('C * 3')\n"
        "bad = [m for m in sys.modules if m.startswith(('nasc.frontend', 'nasc.ops', 'nasc.analysis', "
        "'nasc.passes', 'nasc.lower', 'torch'))]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_verify_checks_against_the_table_it_is_given():
    m = load_model(ROOT / "examples" / "resnet20.nas")
    assert verify(m, primitive_table()) == []
    errs = verify(m, {}, network=False)  # no primitives: every primitive call is unknown
    assert errs and all("unknown op" in e.message for e in errs)
    assert any("`relu`" in e.message for e in errs)


def test_primitive_table_is_a_read_only_view():
    table = primitive_table()
    assert "conv" in table and table["conv"].name == "conv"
    with pytest.raises(TypeError):
        table["conv2"] = table["conv"]  # type: ignore[index]


def test_context_names_are_defined_once():
    import nasc.analysis.shapes as shapes
    import nasc.ir.verify as v

    assert v.CONTEXT_NAMES is names.CONTEXT_NAMES and shapes.CONTEXT_NAMES is names.CONTEXT_NAMES
    assert names.CONTEXT_NAMES == ("C_in", "H_in", "W_in", "C_out", "stride", "affine")


@pytest.mark.parametrize("cells, expected", [(0, ()), (1, (0,)), (2, (0, 1)), (3, (1, 2)), (8, (2, 5)), (20, (6, 13))])
def test_default_reductions(cells, expected):
    assert macro.default_reductions(cells) == expected


def test_aux_position_and_its_symbolic_form_agree():
    for n in range(1, 30):
        assert macro.aux_position(n) == 2 * n // 3
        assert evaluate(macro.aux_position_expr(Ref(name="layers")), {"layers": n}) == macro.aux_position(n)
        red = macro.default_reductions_expr(Ref(name="layers"))
        assert tuple(sorted({evaluate(e, {"layers": n}) for e in red})) == macro.default_reductions(n)
    assert format_expr(macro.aux_position_expr(Ref(name="layers"))) == "2 * layers // 3"
    assert macro.aux_position_expr(Lit(value=20)) == Lit(value=13)


def test_ir_defaults_come_from_the_macro_module():
    from nasc.ir.model import AuxHead, Layout, OpCall

    assert Layout(cells=1, channels=1).growth == Lit(value=macro.DEFAULT_GROWTH)
    assert AuxHead(op=OpCall(op="x"), after=1).weight == Lit(value=macro.DEFAULT_AUX_WEIGHT)
