"""The .nas front end keeps no state between parses: a module-level transformer class with one
method per grammar rule, per-parse comments, a bounded library cache that notices edits, and
imports resolved by the front end (the IR reads no files)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from nas_helpers import EXAMPLES

from nasc.frontend import imports as imports_mod
from nasc.frontend import load_model, parse_source
from nasc.frontend.dsl import read_source
from nasc.frontend.transform import ToSource
from nasc.ir.grammar import grammar_parser


def test_the_transformer_has_a_method_for_every_grammar_rule():
    rules = {r.origin.name for r in grammar_parser().rules}
    aliases = {r.alias for r in grammar_parser().rules if r.alias}
    named = {str(n) for n in rules | aliases if not str(n).startswith(("_", "$"))}
    inlined = {"expr", "or_expr", "and_expr", "cmp_expr", "add_expr", "mul_expr", "unary", "atom", "net_value",
               "term"}
    missing = sorted(n for n in named - inlined if not callable(getattr(ToSource, n, None)))
    assert missing == []


def test_comments_belong_to_their_own_parse():
    a = read_source("# a\nparam x = 1  # x\n", "a.nas")
    b = read_source("param y = 2\n", "b.nas")
    assert [c.text for c in a.comments] == ["# a", "# x"] and b.comments == []


def test_parses_in_threads_keep_their_comments_apart():
    results: dict[int, list[str]] = {}

    def run(i: int) -> None:
        src = read_source("".join(f"param p{i}_{k} = {k}  # c{i}\n" for k in range(40)), f"{i}.nas")
        results[i] = [c.text for c in src.comments]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == [f"# c{i}"] * 40 for i in range(4))


def test_library_cache_is_bounded_and_notices_edits(tmp_path: Path):
    info = imports_mod._parse_library.cache_info()
    assert info.maxsize == imports_mod.LIBRARY_CACHE_SIZE
    lib = tmp_path / "mine.nas"
    lib.write_text("op widen = conv(k=1)\n")
    main = tmp_path / "m.nas"
    main.write_text((EXAMPLES / "resnet20.nas").read_text().replace("import std", 'import std\nimport "mine.nas"'))
    assert load_model(main).op_def("widen").body[0].args["k"].value == 1  # type: ignore[union-attr]
    lib.write_text("op widen = conv(k=3)   \n")
    st = lib.stat()
    os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_model(main).op_def("widen").body[0].args["k"].value == 3  # type: ignore[union-attr]


def test_yaml_front_end_resolves_imports_and_self_contained_files_need_none(monkeypatch):
    from nasc.ir.serde import to_yaml

    m = load_model(EXAMPLES / "darts_v2_cifar.nas")
    assert parse_source(to_yaml(m), "m.yaml") == m
    full = to_yaml(m, self_contained=True)
    monkeypatch.setattr(imports_mod, "resolve_imports", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert parse_source(full, "m.yaml") == m
