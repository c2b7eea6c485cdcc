"""The analytic cost model agrees with the lowered module: `nasc stats --json` reports `params` ==
the module's parameters outside the aux head, and `macs` == FlopCounterMode's total / 2 of an eval
forward at batch 1, for every example (small overrides where the full size is slow)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from nasc.analysis.elaborate import elaborate
from nasc.cli.app import app
from nasc.frontend import load_model
from nasc.lower import build_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# the CIFAR network at full size (its published figures); the others reduced to stay fast
SETS = {"darts_v2_cifar": [], "darts_space": ["C=8", "layers=5"], "darts_v2_imagenet": ["C=16", "layers=8"]}


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.nas"))


@pytest.mark.parametrize("name", example_names())
def test_stats_json_matches_the_lowered_module(name: str) -> None:
    torch.set_num_threads(1)
    sets = SETS.get(name, [])
    args = ["stats", str(EXAMPLES / f"{name}.nas"), "--json"]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)

    overrides = dict(s.split("=") for s in sets)
    network = elaborate(load_model(EXAMPLES / f"{name}.nas", overrides={k: int(v) for k, v in overrides.items()}))
    net = build_module(network).eval()
    params = sum(p.numel() for k, p in net.named_parameters() if not k.startswith("aux."))
    arch = None
    if net.arch_templates:
        arch = {}
        for t in net.arch_templates:
            cell = net.model.cell(t)
            assert cell is not None
            cands = [len(e.op.candidates) for n in cell.nodes for e in n.edges if e.op.kind == "choice"]
            arch[t] = torch.full((len(cands), max(cands)), 1.0 / max(cands))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.randn(1, *network.input_shape), arch)
    assert stats["params"] == params
    assert stats["macs"] == counter.get_total_flops() // 2
    assert counter.get_total_flops() % 2 == 0
