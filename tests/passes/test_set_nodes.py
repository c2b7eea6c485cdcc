"""The `nodes` pass: keep the first k intermediate nodes of every cell template."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.errors import ConfigError, PassError
from nasc.frontend import load_model, parse_source
from nasc.ir.printer import print_model
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table
from nasc.passes import run_pipeline
from nasc.passes.registry import make_pass, pass_names
from nasc.passes.set_nodes import set_nodes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# a cell whose output reads a cell input, and whose last node is what survives of `return`
SMALL = """\
import std

param C = 8

cell block(x) {
  n0 = conv_bn_relu(x)
  n1 = conv_bn(n0) + x
  n2 = relu(n1)
  return concat(x, n2)
}

network small {
  input = (3, 16, 16)
  classes = 10
  stem = conv_bn_relu(C_out=C)
  cells = 3
  channels = C
  reductions = (1,)
  normal = block
  reduce = block
  head = classifier
}
"""


def test_keeps_the_first_nodes_and_the_surviving_outputs() -> None:
    v2 = load_model(EXAMPLES / "darts_v2_cifar.nas")
    out = set_nodes(v2, 2)
    for cell in out.cells:
        assert [n.name for n in cell.nodes] == ["n0", "n1"]
        assert cell.output == ("n0", "n1")
    assert not verify(out, primitive_table())
    assert parse_source(print_model(out), "x.nas") == out  # still a model the language can say
    small, full = cost(elaborate(out)), cost(elaborate(v2))
    assert small.params < full.params and small.macs < full.macs
    # the cells output 2 states of C instead of 4: the last cell is half as wide
    assert small.cells[-1].out_shape[0] * 2 == full.cells[-1].out_shape[0]


def test_the_last_kept_node_is_the_output_when_none_survives() -> None:
    resnet = load_model(EXAMPLES / "resnet20.nas")  # return n2
    out = set_nodes(resnet, 2)
    (block,) = out.cells
    assert [n.name for n in block.nodes] == ["n0", "n1"] and block.output == ("n1",)
    elaborate(out)


def test_cell_inputs_in_the_output_survive() -> None:
    model = parse_source(SMALL, "small.nas")
    out = set_nodes(model, 1)
    assert out.cells[0].output == ("x",)  # `x` survives; n2 does not and is not added
    assert [n.name for n in out.cells[0].nodes] == ["n0"]


def test_keeping_every_node_changes_nothing() -> None:
    v2 = load_model(EXAMPLES / "darts_v2_cifar.nas")
    assert set_nodes(v2, 4) == v2
    result = make_pass("nodes", {"count": 4}).apply(v2)
    assert result.changed is False


def test_more_nodes_than_a_template_has_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "small.nas"
    path.write_text(SMALL)
    model = load_model(path)
    with pytest.raises(PassError) as e:
        set_nodes(model, 4)
    err = e.value
    assert err.message == "cell `block` has 3 node(s); cannot keep 4"
    assert err.hint == "use a count between 1 and 3"
    assert err.span is not None and err.span.file == str(path)
    assert (err.span.line, err.span.col) == (5, 6)  # the template's name token


def test_registered_with_a_validated_option() -> None:
    assert "nodes" in pass_names()
    v2 = load_model(EXAMPLES / "darts_v2_cifar.nas")
    out = run_pipeline(v2, "nodes", {"nodes": {"count": 3}}, verify=True)
    assert all(len(c.nodes) == 3 for c in out.cells)
    with pytest.raises(ConfigError) as e:
        make_pass("nodes", {"count": 0})
    assert e.value.key == "passes.nodes.count"
