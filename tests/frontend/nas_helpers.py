"""Small helpers shared by the front-end tests: build a model from a snippet of .nas text."""
from __future__ import annotations

from pathlib import Path

from nasc.errors import Diagnostics, NascError
from nasc.frontend import parse_source
from nasc.ir.model import Model
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

NETWORK = """
network net {
  input = (3, 32, 32)
  classes = 10
  stem = cifar_stem(C_out=16)
  cells = 3
  channels = 8
  reductions = (1,)
  head = classifier
}
"""

CELLS = """
cell normal(s0, s1) {
  n0 = sep_conv_3x3(s0) + s1
  return n0
}
cell reduce(s0, s1) {
  n0 = max_pool_3x3(s0) + max_pool_3x3(s1)
  return n0
}
"""


def model_of(body: str, network: str = NETWORK, cells: str | None = CELLS, path: str = "t.nas") -> Model:
    """Parse `import std` + `body` (+ default cells) + `network` (not verified)."""
    text = "import std\n" + body + "\n" + (cells or "") + network
    return parse_source(text, path)


def errors_of(text: str, path: str = "t.nas") -> list[NascError]:
    """Every error the front end and `verify` report for `text` (empty when it is valid)."""
    try:
        m = parse_source(text, path)
    except Diagnostics as d:
        return d.errors
    except NascError as e:
        return [e]
    return verify(m, primitive_table())


def where(err: NascError) -> tuple[int, int]:
    """(line, col) of an error."""
    assert err.span is not None, err
    return err.span.line, err.span.col
