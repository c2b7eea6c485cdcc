"""DARTS `Genotype(...)` strings: written in pt.darts' form, read in both pt.darts' and the
original DARTS form; the published DARTS_V2 genotype is examples/darts_v2_cifar.nas's cells."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from nasc.errors import ParseError
from nasc.frontend import load_model
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table
from nasc.search.genotype import from_genotype, parse_genotype, to_genotype

ROOT = Path(__file__).resolve().parents[2]

# genotypes.py of the original DARTS code
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
            "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
            "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")

PT_DARTS_V2 = ("Genotype(normal=[[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], [('sep_conv_3x3', 0), "
               "('sep_conv_3x3', 1)], [('sep_conv_3x3', 1), ('skip_connect', 0)], [('skip_connect', 0), "
               "('dil_conv_3x3', 2)]], normal_concat=range(2, 6), reduce=[[('max_pool_3x3', 0), "
               "('max_pool_3x3', 1)], [('skip_connect', 2), ('max_pool_3x3', 1)], [('max_pool_3x3', 0), "
               "('skip_connect', 2)], [('skip_connect', 2), ('max_pool_3x3', 1)]], reduce_concat=range(2, 6))")


def test_darts_v2_genotype_is_the_example_network() -> None:
    v2 = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    space = load_model(ROOT / "examples" / "darts_space.nas")
    assert to_genotype(v2) == PT_DARTS_V2
    for text in (DARTS_V2, PT_DARTS_V2):
        built = from_genotype(text, space)
        assert [c.nodes for c in built.cells] == [c.nodes for c in v2.cells]
        assert [c.output for c in built.cells] == [c.output for c in v2.cells]
        assert not verify(built, primitive_table())
        assert to_genotype(built) == PT_DARTS_V2


def test_parse_reads_both_forms_and_concat_spellings() -> None:
    g = parse_genotype("Genotype(normal=[[('skip_connect', 1)], [('sep_conv_3x3', 2), "
                       "('max_pool_3x3', 0), ('none', 1)]], normal_concat=[3])")
    assert g == {"normal": ([[("skip_connect", 1)], [("sep_conv_3x3", 2), ("max_pool_3x3", 0),
                                                        ("none", 1)]], [3])}
    assert parse_genotype("Genotype(reduce=[('a', 0), ('b', 1)])")["reduce"] == ([[("a", 0), ("b", 1)]], [2])
    assert parse_genotype("Genotype(normal=[('a', 0), ('b', 1)], normal_concat=range(2, 3))")["normal"][1] == [2]


@pytest.mark.parametrize("text, message", [
    ("Genotype(normal=[('a', 0)", "not a Python-style expression"),
    ("Genome(normal=[])", "expected Genotype"),
    ("Genotype([('a', 0), ('b', 1)])", "keyword arguments"),
    ("Genotype(normal=[('a', 0), ('b', 1)], colour=1)", "unknown field `colour`"),
    ("Genotype(normal=[('a', 0), ('b', 1), ('c', 1)])", "two edges per node"),
    ("Genotype(normal=[('a', -1), ('b', 1)])", "('op', input) pair"),
    ("Genotype(normal=[[('a', 0)]], normal_concat=range(x))", "range(a, b)"),
    ("__import__('os').system('true')", "expected Genotype"),
])
def test_bad_genotypes_raise_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)) as err:
        parse_genotype(text)
    assert err.value.hint and "Genotype(" in err.value.hint


def test_from_genotype_checks_inputs_exist() -> None:
    space = load_model(ROOT / "examples" / "darts_space.nas")
    with pytest.raises(ParseError, match="input 3 does not exist before node 1"):
        from_genotype("Genotype(normal=[[('a', 0)], [('b', 3)]])", space)
