"""Property: whatever the bytes of a source file, loading it (and inferring its shapes) raises
nothing but `NascError`. Example sources are mutated: spans deleted, duplicated, swapped,
random tokens and binary junk inserted, text truncated, huge numbers and deep nesting added.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasc.errors import NascError
from nasc.frontend import load_model
from nasc.ir.expr import evaluate

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [(p.suffix, p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.nas"))
           + sorted((ROOT / "examples").glob("*.yaml"))]
SOURCES.append((".nas", (ROOT / "stdlib_ops" / "std.nas").read_bytes()))

TOKENS = [
    b"import", b"param", b"op", b"choice", b"cell", b"network", b"if", b"else", b"return", b"keep",
    b"after", b"weight", b"true", b"false", b"and", b"or", b"not", b"(", b")", b"[", b"]", b"{", b"}",
    b"=", b"==", b",", b";", b":", b"+", b"-", b"*", b"//", b"/", b"%", b"<", b">=", b"#", b"'", b'"',
    b"\n", b" ", b"\t", b"s0", b"n0", b"n9", b"C", b"C_in", b"stride", b"sep_conv_3x3", b"concat",
    b"proj", b"sum", b"identity", b"relu", b"conv", b"0", b"1", b"-1", b"2.5", b"1e400",
    b"1" + b"0" * 100, b"9" * 5000, b"\x00", b"\xff\xfe", b"\xc3", b"\x7f", b"\xe2\x80\x8b",
    b"- ", b": ", b"&a", b"*a", b"!!python/object:os.system", b"{kind: choice}", b"[[[[", b"]]]]",
    b"ir_version: 2", b"cells: 100000", b"layers = 99999", b"reductions = ()", b"keep 0",
    b"if stride == 1 {", b"else", b"op x = y\n", b"cell c(x) { return x }\n", b'import "examples/x.nas"\n',
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix, data = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 80)))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "insert", "junk", "truncate", "nest"]))
        if kind == "delete":
            data = data[:i] + data[j:]
        elif kind == "duplicate":
            data = data[:j] + data[i:j] + data[j:]
        elif kind == "swap":
            k = draw(st.integers(0, n))
            a, b = sorted((i, k))
            data = data[:a] + data[b:b + 20] + data[a + 20:b] + data[a:a + 20] + data[b + 20:] if b - a > 20 else data
        elif kind == "insert":
            data = data[:i] + draw(st.sampled_from(TOKENS)) + data[i:]
        elif kind == "junk":
            data = data[:i] + draw(st.binary(min_size=1, max_size=12)) + data[i:]
        elif kind == "truncate":
            data = data[:i]
        else:
            depth = draw(st.sampled_from([10, 70, 500, 5000]))
            opener = draw(st.sampled_from([b"(", b"[", b"-", b"not ", b"{", b"(1, ", b"if a { ", b"- ["]))
            closer = {b"(": b")", b"[": b"]", b"{": b"}", b"(1, ": b")", b"if a { ": b" }", b"- [": b"]"}.get(
                opener, b"")
            data = data[:i] + opener * depth + data[i:j] + closer * depth + data[j:]
    return suffix, data


def _small_enough(model: object) -> bool:
    """Elaborate only networks of a few cells: the property is about errors, not about speed."""
    try:
        cells = evaluate(model.layout.cells, model.param_values())  # type: ignore[attr-defined]
    except NascError:
        return True
    return isinstance(cells, int) and cells <= 64


_DIR = tempfile.TemporaryDirectory(prefix="nasc-fuzz-")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(mutated())
def test_loading_mutated_sources_raises_only_nasc_errors(case: tuple[str, bytes]) -> None:
    suffix, data = case
    path = Path(_DIR.name) / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        model = load_model(path)
    except NascError:
        return
    try:
        from nasc.analysis.elaborate import elaborate
    except ImportError:
        return
    if _small_enough(model):
        try:
            elaborate(model)
        except NascError:
            pass


_EXPR_ALPHABET = st.sampled_from(list("0123456789.eE+-*/%<>=!()',\" _\n\t#") + ["and ", "or ", "not ", "C", "x",
                                                                                   "true", "//", "1e400"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_EXPR_ALPHABET, max_size=40).map("".join))
def test_reading_any_expression_text_raises_only_nasc_errors(text: str) -> None:
    from nasc.ir.expr import format_expr, parse_expr

    try:
        e = parse_expr(text)
    except NascError:
        return
    assert parse_expr(format_expr(e)) == e  # what reads, prints and reads back the same
