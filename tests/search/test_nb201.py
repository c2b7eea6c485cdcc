"""NAS-Bench-201: the space and network of examples/nb201_space.nas are the benchmark's reference
builder's (parameter counts and outputs), architecture strings in and out, and the benchmark
lookup reads a file of the official format (and refuses pickled code)."""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import app
from nasc.errors import DataError, ParseError, ValidationError
from nasc.frontend import apply_overrides
from nasc.ir.model import Edge, OpCall
from nasc.search import nb201_bench
from nasc.search.nb201 import arch_string, from_arch, parse_arch, space_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

import nb201_reference as ref  # noqa: E402

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# params of TinyNetwork(C=16, N=5, arch, 10 classes); the test recomputes them with the reference
COUNTS = {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 802_426,
    BEST: 1_288_506,
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 73_306,
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|": 101_306,
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|": 129_306,
}


def test_example_space_is_the_shipped_space() -> None:
    assert api.load(ROOT / "examples" / "nb201_space.nas") == space_model()


@pytest.mark.parametrize("arch", list(COUNTS))
def test_networks_have_the_reference_parameter_counts(arch: str) -> None:
    expected = ref.count_parameters(ref.TinyNetwork(16, 5, ref.str2lists(arch), 10))
    assert expected == COUNTS[arch]
    model = from_arch(arch)
    assert api.stats(model).cost.params == expected
    assert sum(p.numel() for p in api.compile(model).module.parameters()) == expected
    assert arch_string(model) == arch  # the round trip


def test_forward_matches_the_reference_builder() -> None:
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    torch.manual_seed(0)
    reference = ref.TinyNetwork(4, 2, ref.str2lists(arch), 10)
    for m in reference.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    net = api.compile(apply_overrides(from_arch(arch), {"C": 4, "N": 2})).module
    theirs = [v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")]
    ours = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(theirs) == len(ours)  # the same tensors, in the same order
    net.load_state_dict(dict(zip(ours, theirs)), strict=False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), reference.eval()(x), atol=1e-5)


def test_residual_reduction_block_is_a_sum_cell() -> None:
    block = space_model().cell("nb201_resblock")
    (a, n) = block.nodes
    assert block.output == ("n",) and n.combine == "sum"
    assert [(e.input, e.op.op) for e in n.edges] == [("a", "nor_conv_3x3"), ("x", "nb201_shortcut")]


def test_arch_string_fills_absent_edges_with_none() -> None:
    model = from_arch("|nor_conv_3x3~0|+|skip_connect~1|+|avg_pool_3x3~2|")
    assert arch_string(model) == "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    cell = model.cell("nb201_cell")
    wrong = cell.model_copy(update={"nodes": (cell.nodes[0].model_copy(update={"edges": (
        Edge(input="x", op=OpCall(op="sep_conv_3x3")),)}), *cell.nodes[1:])})
    with pytest.raises(ValidationError, match="not one of the benchmark's"):
        arch_string(model.model_copy(update={"cells": (wrong, model.cells[1])}))
    with pytest.raises(ValidationError, match="still has a choice"):
        arch_string(space_model())


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("nor_conv_3x3~0|", "must be written"),
    ("|nor_conv_3x3~0|+|conv_3x3~0|", "unknown op `conv_3x3` (column 19)"),
    ("|nor_conv_3x3~1|", "node 1 reads node 1"),
    ("|nor_conv_3x3-0|", "is not `op~j`"),
])
def test_bad_strings_are_refused_with_a_column(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_arch(text)
    assert message in info.value.message


def test_cli_import_nb201(tmp_path: Path) -> None:
    out = tmp_path / "nb.nas"
    r = runner.invoke(app, ["import", "nb201", BEST, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "17 cells, 1,288,506 params" in r.output and f"nb201: {BEST}" in r.output
    assert api.nb201_arch(out) == BEST


runner = CliRunner()


# ---- the benchmark file ----------------------------------------------------------------------

def _run(dataset: str, seed: int, accs: dict[str, float], epochs: int = 200) -> dict:
    return {"name": "infer.tiny", "dataset": dataset, "seed": seed, "epochs": epochs,
            "eval_acc1es": accs, "train_acc1es": {epochs - 1: 99.0}, "params": 1.0, "flop": 1.0}


def _bench() -> dict:
    """A two-architecture file with the official structure (tuple keys, ints, floats)."""
    def results(base: float, epochs: int) -> dict:
        e = epochs - 1
        return {"arch_index": 0, "all_results": {
            ("cifar10-valid", 777): _run("cifar10-valid", 777, {f"x-valid@{e}": base, f"ori-test@{e}": base + 1}, epochs),
            ("cifar10", 777): _run("cifar10", 777, {f"ori-test@{e}": base + 2}, epochs),
            ("cifar10", 888): _run("cifar10", 888, {f"ori-test@{e}": base + 3}, epochs),
            ("cifar100", 777): _run("cifar100", 777, {f"x-valid@{e}": base - 20, f"x-test@{e}": base - 21}, epochs),
        }, "dataset_seed": {"cifar10": [777, 888]}, "clear_net_done": True}
    return {"meta_archs": [BEST, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"],
            "arch2infos": {0: {"full": results(90.0, 200), "less": results(70.0, 12)},
                           1: {"full": results(10.0, 200), "less": results(10.0, 12)}},
            "evaluated_indexes": [0, 1], "total_archs": 2}


def test_lookup_reads_a_torch_saved_file(tmp_path: Path) -> None:
    path = tmp_path / "NAS-Bench-201-tiny.pth"
    torch.save(_bench(), path)
    assert nb201_bench.lookup(path, BEST) == pytest.approx(92.5)  # mean of the two cifar10 seeds
    assert nb201_bench.lookup(path, BEST, dataset="cifar10-valid", metric="valid") == pytest.approx(90.0)
    assert nb201_bench.lookup(path, BEST, dataset="cifar100", metric="test", hp="12") == pytest.approx(49.0)
    assert nb201_bench.lookup(path, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|") is None
    assert api.nb201_lookup(path, arch_string(from_arch(BEST))) == pytest.approx(92.5)
    with pytest.raises(DataError, match="no validation accuracy"):
        nb201_bench.lookup(path, BEST, metric="valid")


def test_lookup_reads_the_json_form(tmp_path: Path) -> None:
    data = _bench()
    for infos in data["arch2infos"].values():
        for hp in infos.values():
            hp["all_results"] = list(hp["all_results"].values())
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    none_cell = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert nb201_bench.lookup(path, none_cell) == pytest.approx(12.5)
    assert nb201_bench.lookup(path, "|none~0|+|none~1|+|none~2|") == pytest.approx(12.5)  # absent edges


class Payload:
    """Stands for any class a pickle would have to import (and could run code through)."""

    def __reduce__(self) -> tuple:
        return (print, ("unpickled!",))


def test_pickles_with_code_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    data = _bench()
    data["extra"] = Payload()
    torch.save(data, path)
    with pytest.raises(DataError, match="refused"):
        nb201_bench.lookup(path, BEST)
    assert "unpickled!" not in capsys.readouterr().out
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError):
        nb201_bench.lookup(raw, BEST)
    assert "unpickled!" not in capsys.readouterr().out
    with pytest.raises(DataError, match="not an NB201 benchmark file"):
        torch.save({"weights": torch.zeros(1)}, tmp_path / "w.pth")
        nb201_bench.lookup(tmp_path / "w.pth", BEST)
