"""`--benchmark PATH`: a search of the NAS-Bench-201 space looks up the true accuracy of every
network it derives (random-search trials, the final network) in a benchmark file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from nasc.cli.app import app
from nasc.frontend import load_model
from nasc.search.nb201 import arch_string
from nasc.search.random import from_choices
from nasc.search.random_search import draw_architectures

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "nb201_space.nas"
runner = CliRunner()


def bench_file(path: Path, accs: dict[str, float]) -> None:
    """A benchmark file in the official structure listing `accs` (cifar10 test, 200 epochs)."""
    archs = list(accs)

    def run(acc: float) -> dict[str, Any]:
        return {"name": "infer.tiny", "dataset": "cifar10", "seed": 777, "epochs": 200,
                "eval_acc1es": {"ori-test@199": acc}, "train_acc1es": {199: 99.0},
                "params": 1.0, "flop": 1.0}

    infos = {i: {"full": {"arch_index": i, "all_results": {("cifar10", 777): run(accs[a])},
                          "dataset_seed": {"cifar10": [777]}, "clear_net_done": True}}
             for i, a in enumerate(archs)}
    torch.save({"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": list(range(len(archs))),
                "total_archs": len(archs)}, path)


@pytest.mark.slow
def test_random_search_of_nb201_looks_up_each_trial(tmp_path: Path) -> None:
    space = load_model(SPACE, overrides={"N": 1, "C": 4})
    drawn = [arch_string(from_choices(space, p)) for p in draw_architectures(space, 2, 0)]
    bench = tmp_path / "nb201.pth"
    bench_file(bench, {drawn[0]: 91.25, drawn[1]: 55.5})
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "random", str(SPACE), "--out", str(out), "--trials", "2",
                            "--benchmark", str(bench), "--set", "search.random.params={N: 1, C: 4}",
                            "--set", "data.train_size=32", "--set", "data.test_size=8",
                            "--set", "data.batch_size=8", "--set", "trainer.epochs=1",
                            "--set", "run.threads=1", "--set", "run.device=cpu"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert [row["benchmark"]["arch"] for row in rows] == drawn
    assert [row["benchmark"]["accuracy"] for row in rows] == [91.25, 55.5]
    prov = json.loads((out / "provenance.json").read_text())
    best = rows[prov["best_trial"]]
    assert prov["benchmark"] == best["benchmark"]
