"""The true accuracy of an NB201 cell, looked up in a local copy of the benchmark's data file.

    lookup("NAS-Bench-201-v1_1-096897.pth", "|nor_conv_3x3~0|+|...|")   -> 94.37 (or None)
    lookup(path, arch, dataset="cifar100", metric="valid", hp="12")

The accuracy is a percentage, as the benchmark stores it, averaged over the seeds the file holds
for that dataset. None means the file does not list the architecture (a small or partial file).

Accepted files (nothing else is read, and nothing in them is ever executed):

- the benchmark's own torch-saved dict (`.pth`, `.pt`; `NAS-Bench-201-v1_0-e61699.pth`,
  `-v1_1-096897.pth`), read with `torch.load(weights_only=True)`: only plain containers,
  numbers, strings and tensors unpickle; a file that needs any other Python class (a pickle
  carrying code) is refused with a `DataError` that names the class;
- the same structure as JSON (`.json`).

The structure (that of the official file; fields not listed are ignored):

    {"meta_archs": [arch string, ...],                 # index -> architecture string
     "arch2infos": {index: {"full": RESULTS,           # hp "200": 200-epoch training
                            "less": RESULTS}},         # hp "12": 12-epoch training
     ...}
    RESULTS = {"all_results": {(dataset, seed): RUN, ...}}     # JSON: any keys, or a list of RUNs
    RUN = {"dataset": "cifar10", "seed": 777, "epochs": 200,
           "eval_acc1es": {"ori-test@199": 93.1, "x-valid@199": 91.2, ...}}

`metric` is `test` or `valid`, mapped to the benchmark's evaluation sets as its API does:
cifar10-valid: valid = x-valid, test = ori-test; cifar10: test = ori-test (there is no validation
set: it trains on train + valid); cifar100 and ImageNet16-120: valid = x-valid, test = x-test.
The value is the set's accuracy after the last epoch (`NAME@<epochs - 1>`).

A loaded file is kept (keyed by path, size and modification time), so a search that looks up
every derived cell reads the file once.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from nasc.errors import DataError
from nasc.search.nb201 import NB201_OPS, parse_arch

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
METRICS = ("test", "valid")
HPS = {"200": "full", "12": "less"}

_FORMAT_HINT = ("nasc reads the benchmark's torch-saved dict (.pth, loaded with weights_only=True) "
                "or the same structure as .json: {meta_archs: [...], arch2infos: {index: {full: ..., "
                "less: ...}}} (see nasc/search/nb201_bench.py)")


def canonical(arch: str) -> str:
    """The benchmark's spelling of `arch`: every earlier node once per node, in order, `none`
    where the string has no edge (raises `ParseError` for a malformed string, `DataError` for two
    edges between the same nodes)."""
    parts = []
    for k, node in enumerate(parse_arch(arch), start=1):
        ops: dict[int, str] = {}
        for op, j in node:
            if j in ops and ops[j] != op:
                raise DataError(f"NB201 architecture: node {k} has two edges from node {j}",
                                hint="the benchmark has one edge per pair of nodes")
            ops[j] = op
        parts.append("|" + "|".join(f"{ops.get(j, NB201_OPS[0])}~{j}" for j in range(k)) + "|")
    return "+".join(parts)


def _set_name(dataset: str, metric: str) -> str:
    if dataset not in DATASETS:
        raise DataError(f"unknown NB201 dataset `{dataset}`", hint="datasets: " + ", ".join(DATASETS))
    if metric not in METRICS:
        raise DataError(f"unknown NB201 metric `{metric}`", hint="metrics: test, valid")
    if dataset == "cifar10-valid":
        return "x-valid" if metric == "valid" else "ori-test"
    if dataset == "cifar10":
        if metric == "valid":
            raise DataError("NB201 cifar10 has no validation accuracy (it trains on train + valid)",
                            hint="use dataset cifar10-valid for a validation accuracy")
        return "ori-test"
    return "x-valid" if metric == "valid" else "x-test"


class Benchmark:
    """One loaded benchmark file: the architecture index and each architecture's results."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping) or "meta_archs" not in data or "arch2infos" not in data:
            raise DataError(f"{path}: not an NB201 benchmark file (no meta_archs / arch2infos)",
                            hint=_FORMAT_HINT)
        archs, infos = data["meta_archs"], data["arch2infos"]
        if not isinstance(archs, (list, tuple)) or not isinstance(infos, Mapping):
            raise DataError(f"{path}: meta_archs must be a list and arch2infos a mapping", hint=_FORMAT_HINT)
        self.path = path
        self._infos = {str(k): v for k, v in infos.items()}  # JSON keys are strings, torch's ints
        self._index: dict[str, int] = {}
        for i, a in enumerate(archs):
            if not isinstance(a, str):
                raise DataError(f"{path}: meta_archs[{i}] is not a string", hint=_FORMAT_HINT)
            self._index.setdefault(a, i)

    def __len__(self) -> int:
        return len(self._index)

    def accuracy(self, arch: str, *, dataset: str = "cifar10", metric: str = "test",
                 hp: str = "200") -> float | None:
        """The mean accuracy (%) over seeds of `arch` (None when the file does not list it)."""
        setname = _set_name(dataset, metric)
        if str(hp) not in HPS:
            raise DataError(f"unknown NB201 training setting hp={hp}", hint="hp is 200 or 12 (epochs)")
        index = self._index.get(canonical(arch))
        if index is None:
            return None
        where = f"{self.path}: arch2infos[{index}]"
        entry = self._infos.get(str(index))
        if not isinstance(entry, Mapping) or not isinstance(entry.get(HPS[str(hp)]), Mapping):
            raise DataError(f"{where} has no `{HPS[str(hp)]}` results (hp={hp})", hint=_FORMAT_HINT)
        runs = entry[HPS[str(hp)]].get("all_results")
        if isinstance(runs, Mapping):
            runs = list(runs.values())
        if not isinstance(runs, list):
            raise DataError(f"{where}.{HPS[str(hp)]}.all_results is missing", hint=_FORMAT_HINT)
        values = []
        for run in runs:
            if not isinstance(run, Mapping) or run.get("dataset") != dataset:
                continue
            epochs, accs = run.get("epochs"), run.get("eval_acc1es")
            if not isinstance(epochs, int) or not isinstance(accs, Mapping):
                raise DataError(f"{where}: a {dataset} run lacks epochs / eval_acc1es", hint=_FORMAT_HINT)
            key = f"{setname}@{epochs - 1}"
            value = accs.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise DataError(f"{where}: the {dataset} run (seed {run.get('seed')}) has no {key} accuracy",
                                hint=_FORMAT_HINT)
            values.append(float(value))
        if not values:
            raise DataError(f"{where}: no {dataset} results for hp={hp}",
                            hint="datasets of NB201 files: " + ", ".join(DATASETS))
        return sum(values) / len(values)


def _read(path: str) -> Any:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise DataError(f"{path}: cannot read the JSON benchmark file: {e}", hint=_FORMAT_HINT) from None
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses every class outside plain data: the file would run code to load
        first = str(e).strip().splitlines()
        detail = next((ln.strip() for ln in first if "GLOBAL" in ln or "global" in ln), first[0] if first else "")
        raise DataError(f"{path}: refused: the file needs Python classes to load ({detail})",
                        hint="nasc never unpickles code; " + _FORMAT_HINT) from None
    except Exception as e:  # zip/pickle errors of a truncated or foreign file
        msg = str(e).strip().splitlines()
        raise DataError(f"{path}: cannot read the benchmark file: {msg[0] if msg else type(e).__name__}",
                        hint=_FORMAT_HINT) from None


@lru_cache(maxsize=2)
def _cached(path: str, size: int, mtime: int) -> Benchmark:
    return Benchmark(_read(path), path)


def load_benchmark(path: str | os.PathLike[str]) -> Benchmark:
    """The benchmark file at `path`, read once per version of the file (see the module docstring)."""
    p = str(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise DataError(f"{p}: cannot read the benchmark file: {e.strerror or e}",
                        hint="pass the path of a local NAS-Bench-201 file (--benchmark PATH)") from None
    return _cached(p, st.st_size, st.st_mtime_ns)


def lookup(path: str | os.PathLike[str], arch: str, *, dataset: str = "cifar10", metric: str = "test",
           hp: str = "200") -> float | None:
    """The accuracy (%) of NB201 architecture `arch` in the benchmark file at `path`, averaged
    over seeds: `dataset` cifar10 | cifar10-valid | cifar100 | ImageNet16-120, `metric` test |
    valid, `hp` "200" (200 epochs) | "12". None when the file does not list `arch`."""
    return load_benchmark(path).accuracy(arch, dataset=dataset, metric=metric, hp=str(hp))


def derived_accuracy(config: Any, model: Any) -> dict[str, Any] | None:
    """What `search.benchmark` says of a derived network: its architecture string and the
    benchmark's test accuracy (%), or why it has none; None when no benchmark is configured."""
    path = getattr(config.search, "benchmark", None)
    if not path:
        return None
    from nasc.errors import NascError
    from nasc.search.nb201 import arch_string

    try:
        arch = arch_string(model)
    except NascError as exc:  # not an NB201 cell: nothing to look up
        return {"arch": None, "accuracy": None, "reason": exc.message}
    acc = lookup(path, arch, dataset=config.search.benchmark_dataset)
    return {"arch": arch, "accuracy": acc,
            **({} if acc is not None else {"reason": "the benchmark does not list it"})}
