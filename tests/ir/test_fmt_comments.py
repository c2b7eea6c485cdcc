"""`nasc fmt` never loses a comment: for every fuzzed source it accepts, the multiset of comments
before and after formatting is equal (comments are compared by their text without the `#` and
the surrounding whitespace, which formatting may normalise). Sources are the examples and the
standard library with comments inserted anywhere a comment may start, CRLF line ends,
whitespace-heavy spacing and blank lines; plus byte-level mutations (the strategies of
tests/test_fuzz.py)."""
from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasc.api import format_source
from nasc.errors import NascError
from nasc.frontend.syntax import parse_text

ROOT = Path(__file__).resolve().parents[2]
NAS = [p for p in sorted((ROOT / "examples").glob("*.nas"))] + [ROOT / "stdlib_ops" / "std.nas"]
TEXTS = [(p.parent, p.read_text(encoding="utf-8")) for p in NAS]

_spec = importlib.util.spec_from_file_location("nasc_fuzz_strategies", ROOT / "tests" / "test_fuzz.py")
assert _spec is not None and _spec.loader is not None
_fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fuzz)


def comments(text: str) -> Counter[str]:
    """The comments of .nas `text`, as the lexer finds them."""
    _, toks = parse_text(text, "x.nas")
    return Counter(str(t)[1:].strip() for t in toks)


@st.composite
def commented(draw: st.DrawFn) -> tuple[Path, str]:
    folder, text = draw(st.sampled_from(TEXTS))
    for k in range(draw(st.integers(1, 6))):
        starts = [i + 1 for i, ch in enumerate(text) if ch in " \n(,[{="]
        i = draw(st.sampled_from(starts))
        lead = draw(st.sampled_from(["", " ", "\t", "   "]))
        tail = draw(st.sampled_from(["", " ", "\t", "\n", "\n \n", "\n\t\n\n"]))
        body = draw(st.sampled_from(["", " x", "  spaced  ", "\t", " # nested", " op x = y"]))
        text = text[:i] + lead + f"# c{k}{body}\n" + tail + text[i:]
    if draw(st.booleans()):
        text = text.replace(" ", draw(st.sampled_from(["  ", " \t", "\t"])))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = text.replace("\n", "\n" + draw(st.sampled_from([" ", "\t", "  \t "])), draw(st.integers(0, 8)))
    return folder, text


def _keeps_comments(folder: Path, text: str) -> None:
    try:
        out = format_source(text, folder / "fuzzed.nas")
    except NascError:
        return  # only what fmt accepts has to keep its comments
    assert comments(out) == comments(text), (text, out)
    assert comments(format_source(out, folder / "fuzzed.nas")) == comments(text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commented())
def test_fmt_keeps_every_comment(case: tuple[Path, str]) -> None:
    _keeps_comments(*case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(_fuzz.mutated())
def test_fmt_keeps_every_comment_of_mutated_sources(case: tuple[str, bytes]) -> None:
    suffix, data = case
    if suffix != ".nas":
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    _keeps_comments(ROOT / "examples", text)


def test_two_comments_on_one_multiline_item_stay_two() -> None:
    """Found by the property: two trailing comments on the lines of one item (here a node split
    over two lines) were joined into one line, so they read back as a single comment."""
    text = (ROOT / "examples" / "resnet20.nas").read_text().replace(
        "  n1 = conv_bn(n0) + shortcut(x)\n", "  n1 = conv_bn(n0) +  # first\r\n    shortcut(x)  # second\r\n")
    out = format_source(text, ROOT / "examples" / "fuzzed.nas")
    assert comments(out) == comments(text) and out.count("# first") == 1 and out.count("# second") == 1


def test_comment_of_an_unused_choice_is_kept() -> None:
    """The IR keeps no unused named choice, so its block was never printed with its comments."""
    text = (ROOT / "examples" / "resnet20.nas").read_text() + "\nchoice unused = [relu, identity]  # why\n"
    out = format_source(text, ROOT / "examples" / "fuzzed.nas")
    assert "# why" in out and comments(out) == comments(text)
