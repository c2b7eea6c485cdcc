"""Soak fuzz of the front end: grammar-aware mutations of every example and of the standard library,
run through `nasc.api.check`, `nasc.api.format_source` and `nasc.api.stats` for a given time.

    python benchmarks/soak_fuzz.py --minutes 32 --out /tmp/soak [--jobs 1] [--timeout 10]
    python benchmarks/soak_fuzz.py --replay /tmp/soak/crashers/<case>     # one saved case again

Mutations: token swaps between programs, cells and nodes duplicated or removed, numbers at the
edges of their types, unicode and very long names, CRLF/BOM/NUL, very deep nesting, import
cycles and long import chains, imports of directories, devices and symlink loops, YAML bombs
(wide and recursive aliases, long scalars) and plain byte damage.

Each case is a small folder of files written to a scratch directory and run in a worker process
(a pool of `--jobs` workers) under an address-space limit (`--max-mb`, RLIMIT_AS) and a per-case
wall-clock timeout; a worker that times out is killed and replaced. A case passes when every call
returns or raises a `NascError`. The report counts cases, tracebacks (any other exception,
MemoryError included), hangs (timeouts), worker deaths and the peak resident memory of a case
(`ru_maxrss` of a fresh worker: workers are recycled when their peak grows, so the figure is
per case). Every failing case is saved under `<out>/crashers/<id>/` (the files, `case.json` with
the operation and traceback) and can be replayed with `--replay`.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

SEEDS = sorted((ROOT / "examples").glob("*.nas")) + sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (ROOT / "stdlib_ops").glob("*.nas"))

TOKEN_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|"[^"\n]*"|#[^\n]*|\s+|.',
                      re.S)
NUMBER_RE = re.compile(r"(?<![A-Za-z_0-9.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
EDGE_NUMBERS = ["0", "-1", "1", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
                "9223372036854775808", "18446744073709551616", "1" + "0" * 400, "9" * 4400, "1e308",
                "1e309", "-1e309", "1e-400", "4.9e-324", "0.0", "-0.0", "nan", "inf", "0x10", "1_000",
                "007", "65536", "1048576", "3.4028235e38"]
NAMES = ["ñame", "名前", "𝔘𝔫𝔦", "a\u200bb", "\u202eabc", "x" * 300, "y" * 100_000, "_", "__init__",
         "True", "None", "import", "C_in", "s0", "n0", "std", "é" * 5000, "a\u0301"]


@dataclass
class Case:
    """Files of one case (relative names) and the file the operations run on."""

    mutation: str
    main: str
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # name -> symlink target (may be absolute)
    dirs: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ mutations


def _tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


def _blocks(text: str, keyword: str) -> list[tuple[int, int]]:
    """Spans of `keyword ... { ... }` blocks (brace matched)."""
    out = []
    for m in re.finditer(rf"(?m)^{keyword}\b", text):
        i = text.find("{", m.start())
        if i < 0:
            continue
        depth = 0
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    out.append((m.start(), j + 1))
                    break
    return out


def m_token_swap(rng: random.Random, text: str, others: list[str]) -> str:
    toks = _tokens(text)
    donor = _tokens(rng.choice(others))
    for _ in range(rng.randint(1, 6)):
        if not toks:
            break
        i = rng.randrange(len(toks))
        j = rng.randrange(len(donor))
        span = donor[j:j + rng.randint(1, 8)]
        if rng.random() < 0.5:
            toks[i:i + 1] = span
        else:
            toks[i:i] = span
    return "".join(toks)


def m_token_shuffle(rng: random.Random, text: str, others: list[str]) -> str:
    toks = _tokens(text)
    if len(toks) > 2:
        for _ in range(rng.randint(1, 5)):
            a, b = rng.randrange(len(toks)), rng.randrange(len(toks))
            toks[a], toks[b] = toks[b], toks[a]
    return "".join(toks)


def m_blocks(rng: random.Random, text: str, others: list[str]) -> str:
    blocks = _blocks(text, rng.choice(["cell", "op", "network", "choice"]))
    if not blocks:
        return m_lines(rng, text, others)
    a, b = rng.choice(blocks)
    what = rng.choice(["dup", "dup", "remove", "rename_dup", "many"])
    if what == "remove":
        return text[:a] + text[b:]
    block = text[a:b]
    if what == "rename_dup":
        block = re.sub(r"^(\w+\s+)(\w+)", lambda m: m.group(1) + m.group(2) + "_2", block)
    if what == "many":
        return text[:b] + ("\n" + block) * rng.choice([10, 200, 2000]) + text[b:]
    return text[:b] + "\n" + block + text[b:]


def m_lines(rng: random.Random, text: str, others: list[str]) -> str:
    """Duplicate, remove or move node lines (`n2 = ...`, `- name: n2`, params...)."""
    lines = text.split("\n")
    if not lines:
        return text
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        what = rng.choice(["dup", "remove", "move", "dupmany"])
        if what == "dup":
            lines.insert(i, lines[i])
        elif what == "remove" and len(lines) > 1:
            del lines[i]
        elif what == "move":
            lines.insert(rng.randrange(len(lines)), lines.pop(i))
        else:
            lines[i:i] = [lines[i]] * rng.choice([50, 1000, 5000])
    return "\n".join(lines)


def m_numbers(rng: random.Random, text: str, others: list[str]) -> str:
    matches = list(NUMBER_RE.finditer(text))
    if not matches:
        return text + "\nparam big = " + rng.choice(EDGE_NUMBERS) + "\n"
    for m in sorted(rng.sample(matches, min(len(matches), rng.randint(1, 3))), key=lambda m: -m.start()):
        text = text[:m.start()] + rng.choice(EDGE_NUMBERS) + text[m.end():]
    return text


def m_names(rng: random.Random, text: str, others: list[str]) -> str:
    toks = _tokens(text)
    idents = sorted({t for t in toks if re.fullmatch(r"[A-Za-z_]\w*", t)})
    if not idents:
        return text
    name = rng.choice(idents)
    new = rng.choice(NAMES)
    if rng.random() < 0.5:  # rename everywhere (consistent) or once
        return "".join(new if t == name else t for t in toks)
    i = rng.choice([k for k, t in enumerate(toks) if t == name])
    toks[i] = new
    return "".join(toks)


def m_encoding(rng: random.Random, text: str, others: list[str]) -> bytes:
    data = text.encode("utf-8")
    what = rng.choice(["crlf", "cr", "bom", "bom16", "nul", "mixed", "latin1", "surrogate", "tabs"])
    if what == "crlf":
        return data.replace(b"\n", b"\r\n")
    if what == "cr":
        return data.replace(b"\n", b"\r")
    if what == "bom":
        return b"\xef\xbb\xbf" + data
    if what == "bom16":
        return text.encode("utf-16")
    if what == "nul":
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\x00" * rng.choice([1, 7, 5000]) + data[i:]
    if what == "mixed":
        lines = data.split(b"\n")
        return b"".join(ln + rng.choice([b"\n", b"\r\n", b"\r", b"\n\r"]) for ln in lines)
    if what == "latin1":
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\xe9\xff" + data[i:]
    if what == "surrogate":
        i = rng.randrange(len(data) + 1)
        return data[:i] + b"\xed\xa0\x80" + data[i:]
    return data.replace(b"  ", b"\t")


def m_nesting(rng: random.Random, text: str, others: list[str], yaml: bool = False) -> str:
    depth = rng.choice([50, 200, 1000, 10_000, 100_000])
    if yaml:
        kind = rng.choice(["list", "map", "flow"])
        if kind == "list":
            nest = "[" * depth + "1" + "]" * depth
        elif kind == "flow":
            nest = "{a: " * depth + "1" + "}" * depth
        else:
            nest = "".join("  " * k + f"k{k}:\n" for k in range(min(depth, 3000))) + "  " * min(depth, 3000) + "1"
        return text + "\nextra: " + nest + "\n" if kind != "map" else text + "\nextra:\n" + nest + "\n"
    nums = list(NUMBER_RE.finditer(text))
    opener, closer = rng.choice([("(", ")"), ("(1, ", ")"), ("-", ""), ("not ", ""), ("[", "]"),
                                 ("if a { ", " }"), ("(1 + ", ")")])
    if nums:
        m = rng.choice(nums)
        return text[:m.start()] + opener * depth + m.group() + closer * depth + text[m.end():]
    return text + f"\nparam deep = {opener * depth}1{closer * depth}\n"


def m_bytes(rng: random.Random, text: str, others: list[str]) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        i = rng.randrange(len(data))
        what = rng.choice(["flip", "delete", "insert", "truncate"])
        if what == "flip":
            data[i] ^= 1 << rng.randrange(8)
        elif what == "delete":
            del data[i:i + rng.randint(1, 40)]
        elif what == "insert":
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
        else:
            del data[i:]
    return bytes(data)


def yaml_bomb(rng: random.Random, text: str) -> str:
    what = rng.choice(["laughs", "wide", "recursive", "long", "merge", "tags", "dupkeys", "anchors"])
    if what == "laughs":
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for k in range(1, 10):
            lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]")
        return "\n".join(lines) + "\n" + text
    if what == "wide":
        return "x: &x " + "[" + ",".join(["1"] * 1000) + "]\n" + "y: [" + ",".join(["*x"] * 100_000) + "]\n" + text
    if what == "recursive":
        return "x: &x\n  - *x\n" + text
    if what == "long":
        return text.replace("name: ", "name: " + "z" * rng.choice([10_000, 1_000_000, 20_000_000]), 1)
    if what == "merge":
        return "base: &b {a: 1}\nother:\n  <<: [*b, *b, *b]\n  <<: *b\n" + text
    if what == "tags":
        return rng.choice(["!!python/object/apply:os.system ['true']\n", "x: !!binary aGVsbG8=\n" + text,
                           "x: !custom 1\n" + text, "%YAML 1.1\n%TAG ! tag:x,2000:\n---\n" + text])
    if what == "dupkeys":
        return text + "\nname: dup\nname: dup2\n"
    return "".join(f"k{k}: &a{k} {k}\n" for k in range(20_000)) + text


def library_chain(rng: random.Random, n: int, cycle: bool) -> Case:
    """lib0 imports lib1 ... imports lib{n-1} (which imports lib0 when `cycle`); main imports lib0."""
    files = {}
    for k in range(n):
        nxt = f'import "lib{k + 1}.nas"\n' if k + 1 < n else ('import "lib0.nas"\n' if cycle else "import std\n")
        files[f"lib{k}.nas"] = (nxt + f"op op{k} = relu\n").encode()
    main_text = (ROOT / "examples" / "resnet20.nas").read_text().replace("import std", 'import std\nimport "lib0.nas"', 1)
    files["main.nas"] = main_text.encode()
    return Case(f"import_{'cycle' if cycle else 'chain'}_{n}", "main.nas", files)


def special_imports(rng: random.Random, seed_text: str) -> Case:
    what = rng.choice(["dir", "devnull", "devzero", "devurandom", "loop", "fifo_like", "self", "dangling",
                       "missing", "dir_yaml", "abs_dir", "proc"])
    target = {"dir": '"sub"', "devnull": '"/dev/null"', "devzero": '"/dev/zero"', "devurandom": '"/dev/urandom"',
              "loop": '"loop.nas"', "fifo_like": '"/dev/stdin"', "self": '"main.nas"', "dangling": '"dangling.nas"',
              "missing": '"nope/none.nas"', "dir_yaml": '"sub.yaml"', "abs_dir": '"/tmp"',
              "proc": '"/proc/self/mem"'}[what]
    text = seed_text.replace("import std", f"import std\nimport {target}", 1) if "import std" in seed_text \
        else f"import {target}\n" + seed_text
    case = Case(f"special_import_{what}", "main.nas", {"main.nas": text.encode()}, dirs=["sub", "sub.yaml"])
    case.links["loop.nas"] = "loop2.nas"
    case.links["loop2.nas"] = "loop.nas"
    case.links["dangling.nas"] = "does-not-exist.nas"
    return case


def special_main(rng: random.Random) -> Case:
    """The file checked is itself a device, directory or link."""
    what = rng.choice(["devzero", "devnull", "dir", "loop", "devurandom"])
    case = Case(f"special_main_{what}", "main.nas", dirs=[])
    if what == "dir":
        case.dirs.append("main.nas")
    elif what == "loop":
        case.links["main.nas"] = "main2.nas"
        case.links["main2.nas"] = "main.nas"
    else:
        case.links["main.nas"] = {"devzero": "/dev/zero", "devnull": "/dev/null", "devurandom": "/dev/urandom"}[what]
    return case


def many_items(rng: random.Random) -> Case:
    n = rng.choice([1000, 10_000, 50_000])
    kind = rng.choice(["ops", "params", "nodes", "choices"])
    base = (ROOT / "examples" / "resnet20.nas").read_text()
    if kind == "ops":
        extra = "".join(f"op o{k} = relu\n" for k in range(n))
    elif kind == "params":
        extra = "".join(f"param p{k} = {k}\n" for k in range(n))
    elif kind == "choices":
        extra = "".join(f"choice c{k} = [relu, identity]\n" for k in range(n))
    else:
        extra = "cell big(x) {\n" + "".join(f"  n{k} = relu({'x' if k == 0 else f'n{k - 1}'})\n"
                                             for k in range(min(n, 5000))) + f"  return n{min(n, 5000) - 1}\n}}\n"
    return Case(f"many_{kind}_{n}", "main.nas", {"main.nas": (base + "\n" + extra).encode()})


def make_case(rng: random.Random, seeds: list[tuple[str, str]]) -> Case:
    """One random case."""
    name, text = rng.choice(seeds)
    suffix = Path(name).suffix
    others = [t for n, t in seeds if Path(n).suffix == suffix] or [text]
    r = rng.random()
    if r < 0.03:
        return library_chain(rng, rng.choice([3, 50, 300, 1200]), cycle=rng.random() < 0.5)
    if r < 0.07:
        return special_imports(rng, dict(seeds).get("resnet20.nas", text))
    if r < 0.09:
        return special_main(rng)
    if r < 0.11:
        return many_items(rng)
    main = "main" + suffix
    if suffix == ".yaml" and rng.random() < 0.3:
        return Case("yaml_bomb", main, {main: yaml_bomb(rng, text).encode()})
    mutations = ["token_swap", "token_shuffle", "blocks", "lines", "numbers", "names", "encoding", "nesting",
                 "bytes"]
    data: str | bytes = text
    applied = []
    for _ in range(rng.randint(1, 3)):
        m = rng.choice(mutations)
        applied.append(m)
        current = data if isinstance(data, str) else data.decode("utf-8", "replace")
        if m == "nesting":
            data = m_nesting(rng, current, others, yaml=suffix == ".yaml")
        else:
            data = globals()[f"m_{m}"](rng, current, others)
    payload = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    files = {main: payload}
    if suffix == ".nas" and rng.random() < 0.1:  # the mutated file imported from another program
        files["lib.nas"] = payload
        files[main] = (ROOT / "examples" / "resnet20.nas").read_bytes().replace(
            b"import std", b'import std\nimport "lib.nas"', 1)
        applied.append("as_import")
    return Case("+".join(applied), main, files)


# ------------------------------------------------------------------ worker


def _materialize(case: Case, folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for d in case.dirs:
        (folder / d).mkdir(exist_ok=True)
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    for name, target in case.links.items():
        p = folder / name
        if not p.exists() and not p.is_symlink():
            os.symlink(target, p)
    return folder / case.main


def run_case(case: Case, folder: Path) -> dict[str, Any]:
    """Run the three operations; the outcome of the first one that fails other than by NascError."""
    from nasc import api
    from nasc.errors import NascError

    path = _materialize(case, folder)
    outcome: dict[str, Any] = {"status": "ok", "errors": 0, "seconds": {}, "cpu_seconds": {}}
    for op in ("check", "format", "stats"):
        started = time.perf_counter()
        cpu = time.process_time()  # CPU time of this worker: unaffected by a busy machine
        try:
            if op == "check":
                api.check(path)
            elif op == "format":
                from nasc.frontend import read_text

                api.format_source(read_text(path), path)
            else:
                api.stats(path)
        except NascError:
            outcome["errors"] += 1
        except BaseException as exc:  # everything else is a finding (MemoryError included)
            tb = traceback.format_exc()
            outcome = {"status": "traceback", "op": op, "type": type(exc).__name__,
                       "message": str(exc)[:500], "traceback": tb[-6000:]}
            break
        finally:
            if "seconds" in outcome:
                outcome["seconds"][op] = round(time.perf_counter() - started, 3)
                outcome["cpu_seconds"][op] = round(time.process_time() - cpu, 3)
    return outcome


def _worker(conn: Any, scratch: str, max_mb: int) -> None:
    if max_mb > 0:
        limit = max_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    import nasc.api  # noqa: F401  (warm: imports are not part of a case)

    folder = Path(scratch)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        case = Case(**msg)
        try:
            out = run_case(case, folder)
        except BaseException as exc:  # materialising failed, or a crash in the harness itself
            out = {"status": "traceback", "op": "harness", "type": type(exc).__name__, "message": str(exc)[:500],
                   "traceback": traceback.format_exc()[-6000:]}
        out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send(out)


class Worker:
    """One worker process with its own scratch folder."""

    def __init__(self, ctx: Any, scratch: Path, max_mb: int) -> None:
        self.scratch = scratch
        self.max_mb = max_mb
        self.ctx = ctx
        self.start()

    def start(self) -> None:
        self.parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, str(self.scratch), self.max_mb), daemon=True)
        self.proc.start()
        self.case: Case | None = None
        self.started = 0.0
        # the baseline peak (imports) of a fresh worker, measured on its first case
        self.baseline: float | None = None
        self.peak = 0.0

    def submit(self, case: Case) -> None:
        self.case = case
        self.started = time.monotonic()
        self.parent.send(case.__dict__)

    def restart(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.start()

    def stop(self) -> None:
        try:
            self.parent.send(None)
        except OSError:
            pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()


def save_case(out: Path, kind: str, n: int, case: Case, info: dict[str, Any]) -> Path:
    folder = out / "crashers" / f"{kind}-{n:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    files = folder / "files"
    files.mkdir(exist_ok=True)
    for name, data in case.files.items():
        (files / name).write_bytes(data)
    meta = {"kind": kind, "mutation": case.mutation, "main": case.main, "links": case.links, "dirs": case.dirs,
            **info}
    (folder / "case.json").write_text(json.dumps(meta, indent=1))
    return folder


def load_saved(folder: Path) -> Case:
    """A case saved by `save_case` (for `--replay` and the regression tests)."""
    meta = json.loads((folder / "case.json").read_text())
    files = {p.name: p.read_bytes() for p in (folder / "files").iterdir() if p.is_file()}
    return Case(meta["mutation"], meta["main"], files, dict(meta.get("links", {})), list(meta.get("dirs", [])))


def soak(minutes: float, out: Path, jobs: int, timeout: float, max_mb: int, seed: int,
         recycle_mb: float, slow_s: float = 5.0) -> dict[str, Any]:
    """Run cases for `minutes`; returns (and writes to `out/report.json`) the figures."""
    seeds = [(p.name, p.read_text(encoding="utf-8")) for p in SEEDS]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    scratch_root = Path(tempfile.mkdtemp(prefix="nasc-soak-"))
    ctx = mp.get_context("fork")
    workers = [Worker(ctx, scratch_root / f"w{k}", max_mb) for k in range(jobs)]
    counts: Counter[str] = Counter()
    by_mutation: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    peak = (0.0, "")
    slow: list[tuple[float, int, str]] = []
    deadline = time.monotonic() + minutes * 60
    n = 0
    last_report = time.monotonic()
    try:
        for w in workers:
            w.submit(make_case(rng, seeds))
        while workers:
            for w in list(workers):
                case = w.case
                assert case is not None
                result: dict[str, Any] | None = None
                if w.parent.poll(0.05):
                    try:
                        result = w.parent.recv()
                    except (EOFError, OSError):
                        result = {"status": "died", "exitcode": w.proc.exitcode}
                elif not w.proc.is_alive():
                    result = {"status": "died", "exitcode": w.proc.exitcode}
                elif time.monotonic() - w.started > timeout:
                    result = {"status": "hang", "timeout_s": timeout}
                if result is None:
                    continue
                n += 1
                status = result["status"]
                counts[status] += 1
                by_mutation[case.mutation.split("+")[0]] += 1
                rss = result.get("maxrss_mb", 0.0)
                if status == "ok" or (status == "traceback" and "maxrss_mb" in result):
                    if w.baseline is None:
                        w.baseline = rss
                    if rss > peak[0]:
                        peak = (rss, case.mutation)
                slowest = max(result.get("cpu_seconds", {}).values(), default=0.0)
                if status == "ok" and slowest > slow_s:
                    counts["slow"] += 1
                    size = sum(len(d) for d in case.files.values())
                    slow.append((round(slowest, 1), size, case.mutation))
                    if len(slow) <= 40:
                        save_case(out, "slow", n, case, result)
                if status != "ok":
                    key = f"{status}:{result.get('op', '')}:{result.get('type', '')}"
                    classes[key] += 1
                    save_case(out, status, n, case, result)
                    w.restart()
                elif rss > recycle_mb:  # keep the per-case peak meaningful: a fresh worker
                    w.restart()
                if time.monotonic() < deadline:
                    w.submit(make_case(rng, seeds))
                else:
                    w.stop()
                    workers.remove(w)
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                print(f"[{time.strftime('%H:%M:%S')}] cases={n} {dict(counts)} peak_rss={peak[0]:.0f}MB",
                      flush=True)
    finally:
        for w in workers:
            w.stop()
        shutil.rmtree(scratch_root, ignore_errors=True)
    report = {"cases": n, "outcomes": dict(counts), "tracebacks": counts["traceback"], "hangs": counts["hang"],
              "worker_deaths": counts["died"], "slow": counts["slow"], "slow_s": slow_s,
              "slowest": sorted(slow, reverse=True)[:15], "peak_rss_mb": round(peak[0], 1), "peak_case": peak[1],
              "classes": dict(classes), "mutations": dict(by_mutation), "timeout_s": timeout,
              "max_mb": max_mb, "minutes": minutes, "seed": seed}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=Path("soak-out"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds per case (three operations) before it counts as a hang")
    ap.add_argument("--slow", type=float, default=5.0, help="an operation using more CPU seconds than this is counted as slow")
    ap.add_argument("--max-mb", type=int, default=3072, help="address-space limit of a worker (RLIMIT_AS)")
    ap.add_argument("--recycle-mb", type=float, default=400.0, help="restart a worker whose peak RSS passes this")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--replay", type=Path, help="run one saved case folder and print its outcome")
    args = ap.parse_args()
    if args.replay:
        case = load_saved(args.replay)
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_case(case, Path(tmp) / "case"), indent=1))
        return
    report = soak(args.minutes, args.out, args.jobs, args.timeout, args.max_mb, args.seed, args.recycle_mb, args.slow)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
