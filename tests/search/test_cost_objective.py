"""The cost-aware objective: the expected cost of the derived network, exact per candidate
(`nasc stats` of the derived network at its one-hot choices), differentiable in alpha, and a
budget that a toy search meets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import app
from nasc.ir.queries import choice_shapes
from nasc.search import pcdarts
from nasc.search.cost_objective import (LATENCY_TABLE, CostPenalty, LatencyTable, cost_table,
                                        derived_choices, expected_cost)
from nasc.search.darts import derive
from search_helpers import tiny_space

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _random_alphas(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {t: torch.randn(*s, generator=g) for t, s in choice_shapes(tiny_space()).items()}


@pytest.mark.parametrize("metric", ["macs", "params"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_cost_at_the_derived_choices_is_nasc_stats_of_the_derived_network(
        metric: str, seed: int) -> None:
    space = tiny_space()
    table = cost_table(space, metric)
    alphas = _random_alphas(seed)
    betas = {t: torch.randn(s[0], generator=torch.Generator().manual_seed(seed + 9)).tolist()
             for t, s in choice_shapes(space).items()}
    for final in (derive(space, alphas), derive(space, alphas, max_skip=0),
                  pcdarts.derive(space, alphas, betas)):
        probs, kept = derived_choices(space, final)
        exact = api.stats(final).cost
        assert float(expected_cost(table, probs, kept=kept)) == (
            exact.macs if metric == "macs" else exact.params)


def test_expected_cost_is_the_mixture_of_candidate_costs_and_differentiable() -> None:
    space = tiny_space()
    table = cost_table(space, "macs")
    alphas = {t: a.requires_grad_() for t, a in _random_alphas(3).items()}
    probs = {t: torch.softmax(a, -1) for t, a in alphas.items()}
    e = expected_cost(table, probs)
    # by hand: fixed + sum_e q_e sum_{j != none} p~_j c_j, q = keep / number of choice edges
    hand = table.fixed
    for t, p in probs.items():
        p = p.detach().double()[:, 1:]  # column 0 is `none`
        p = p / p.sum(-1, keepdim=True)
        q = torch.tensor([1.0, 1.0, 2 / 3, 2 / 3, 2 / 3], dtype=torch.float64)
        hand += float((q * (p * table.rows[t][:, 1:]).sum(-1)).sum())
    assert float(e.detach()) == pytest.approx(hand, rel=1e-12)
    e.backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())
    # a gradient step on the alphas lowers the expected cost; `none` gets no gradient
    assert all(float(a.grad[:, 0].abs().max()) < 1e-6 * float(a.grad.abs().max())
               for a in alphas.values())
    with torch.no_grad():
        lower = expected_cost(table, {t: torch.softmax(a - 1e-3 * a.grad / a.grad.abs().max(), -1)
                                      for t, a in alphas.items()})
    assert float(lower) < float(e.detach())


def test_the_penalty_is_a_hinge_on_the_relative_excess() -> None:
    space = tiny_space()
    table = cost_table(space, "macs")
    arch = {t: torch.zeros(*s) for t, s in choice_shapes(space).items()}
    e = float(CostPenalty(table, 1.0, 1.0).expected(arch))
    assert float(CostPenalty(table, e * 2, 3.0)(arch)) == 0.0
    assert float(CostPenalty(table, e / 2, 3.0)(arch)) == pytest.approx(3.0, rel=1e-6)


def test_latency_table_measures_each_op_once_and_is_cached(tmp_path: Path) -> None:
    space = tiny_space()
    path = tmp_path / LATENCY_TABLE
    lat = LatencyTable(path, device="cpu", repeat=1, warmup=0)
    table = cost_table(space, "latency", measure=lat.measure)
    lat.save()
    assert lat.measured > 0 and path.exists()
    assert table.fixed > 0 and all(bool((r >= 0).all()) for r in table.rows.values())
    again = LatencyTable(path, device="cpu", repeat=1, warmup=0)
    same = cost_table(space, "latency", measure=again.measure)
    assert again.measured == 0  # every op came from the cache
    assert same.fixed == table.fixed
    assert all(torch.equal(same.rows[t], table.rows[t]) for t in table.rows)
    assert json.loads(path.read_text())["device"] == "cpu"


def test_a_latency_budget_search_writes_its_table_into_the_run_dir(tmp_path: Path) -> None:
    out = tmp_path / "run"
    space = ROOT / "examples" / "darts_space.nas"
    r = runner.invoke(app, [
        "search", "gdas", str(space), "--out", str(out), "--set", "search.gdas.channels=4",
        "--set", "search.gdas.cells=3", "--set", "data.train_size=32", "--set", "data.test_size=8",
        "--set", "data.batch_size=8", "--set", "trainer.epochs=1", "--set", "run.threads=1",
        "--set", "run.device=cpu", "--set", "search.cost.metric=latency",
        "--set", "search.cost.target=0.5", "--set", "search.cost.latency_repeat=1"])
    assert r.exit_code == 0, r.output
    assert (out / LATENCY_TABLE).exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["cost"]["metric"] == "latency" and prov["cost"]["expected_final"] > 0
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert "expected_latency" in metrics[-1]


@pytest.mark.slow
def test_a_tight_macs_budget_lands_the_toy_search_under_it(tmp_path: Path) -> None:
    """The toy DARTS search (its shipped config, seed 0), with and without a MACs budget."""
    space = ROOT / "examples" / "darts_space.nas"
    target = 1.2e6  # the cells' fixed part (preprocessing, stem, head) is 0.86M MACs
    macs = {}
    for name, extra in (("free", []), ("budget", ["--set", f"search.cost.target={target}",
                                                  "--set", "search.cost.weight=1.0"])):
        out = tmp_path / name
        r = runner.invoke(app, ["search", "darts", str(space), "--out", str(out), "--seed", "0",
                                "--set", "run.threads=1", "--set", "run.device=cpu", *extra])
        assert r.exit_code == 0, r.output
        macs[name] = api.stats(out / "final.nas").cost.macs
    assert macs["budget"] <= target < macs["free"], macs
