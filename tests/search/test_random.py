"""Random sampling of the DARTS space: deterministic under a seed, always a valid network,
`keep` respected, every non-`none` candidate drawn; the driver's ranking helpers."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from nasc.analysis.elaborate import elaborate
from nasc.frontend import load_model
from nasc.ir.model import Choice, Model, OpCall
from nasc.ir.queries import choice_edge_ids
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table
from nasc.passes.finalize import finalize
from nasc.search.random import choice_scores, from_choices, sample, sample_choices
from nasc.search.random_search import best_trial, draw_architectures, pareto_front

from search_helpers import tiny_space

SPACE = Path(__file__).resolve().parents[2] / "examples" / "darts_space.nas"
OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5"]


@pytest.fixture(scope="module")
def space() -> Model:
    return load_model(SPACE)


def test_sampling_is_deterministic_under_a_seed(space: Model) -> None:
    a = sample(space, random.Random(7))
    assert sample(space, random.Random(7)) == a
    assert sample(space, random.Random(8)) != a
    assert sample_choices(space, random.Random(7)) == sample_choices(space, random.Random(7))
    # the exact first draw of seed 0 (regression: the draw order is templates, nodes, edges)
    picks = sample_choices(space, random.Random(0))
    assert [picks[f"normal.n0.e{i}"] for i in range(2)] == ["dil_conv_5x5", "sep_conv_3x3"]


def test_every_sample_is_a_valid_network_with_keep_respected(space: Model) -> None:
    rng = random.Random(1)
    for _ in range(20):
        net = sample(space, rng)
        assert verify(net, primitive_table()) == []
        elaborate(net)
        for cell in net.cells:
            assert not choice_edge_ids(cell)
            for node in cell.nodes:
                assert node.keep is None and len(node.edges) == 2  # `keep 2` in every node
                assert len({e.input for e in node.edges}) == 2
                assert all(isinstance(e.op, OpCall) and e.op.op in OPS for e in node.edges)


def test_choices_are_uniform_enough_and_cover_every_candidate(space: Model) -> None:
    ops: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    rng = random.Random(3)
    n = 400
    for _ in range(n):
        picks = sample_choices(space, rng)
        for key, op in picks.items():
            if op is not None:
                ops[op] += 1
                kept[key] += 1
    assert set(ops) == set(OPS)  # `none` is never drawn (DARTS' genotype excludes it)
    total = sum(ops.values())
    assert total == n * 2 * 4 * 2  # 2 templates x 4 nodes x keep 2
    assert all(abs(c / total - 1 / 7) < 0.03 for c in ops.values())
    # node n3 has 5 inputs: each is kept with probability 2/5
    for i in range(5):
        assert abs(kept[f"normal.n3.e{i}"] / n - 0.4) < 0.08


def test_a_sample_is_what_finalize_derives_from_its_one_hot_weights(space: Model) -> None:
    picks = sample_choices(space, random.Random(5))
    net = from_choices(space, picks)
    assert finalize(space, choice_scores(space, picks), logits=False) == net
    node = next(n for n in net.cell("reduce").nodes if n.name == "n2")
    want = [(space.cell("reduce").nodes[2].edges[i].input, picks[f"reduce.n2.e{i}"])
            for i in range(4) if picks[f"reduce.n2.e{i}"] is not None]
    assert [(e.input, e.op.op) for e in node.edges] == want


def test_nodes_without_keep_keep_every_choice_edge() -> None:
    space = tiny_space()
    cell = space.cell("normal")
    free = cell.model_copy(update={"nodes": tuple(n.model_copy(update={"keep": None})
                                                  for n in cell.nodes)})
    space = space.model_copy(update={"cells": (free, space.cell("reduce"))})
    net = sample(space, random.Random(0))
    assert [len(n.edges) for n in net.cell("normal").nodes] == [2, 3]
    assert [len(n.edges) for n in net.cell("reduce").nodes] == [2, 2]


def test_draws_are_distinct_and_stop_when_the_space_runs_out() -> None:
    space = tiny_space()
    archs = draw_architectures(space, 6, seed=0)
    nets = [from_choices(space, a) for a in archs]
    assert len(archs) == 6 and len(set(nets)) == 6
    assert draw_architectures(space, 6, seed=0) == archs
    # a space with one candidate per edge and no keep has exactly one architecture
    one = space.model_copy(update={"cells": tuple(
        c.model_copy(update={"nodes": tuple(
            n.model_copy(update={"keep": None, "edges": tuple(
                e.model_copy(update={"op": Choice(candidates=(OpCall(op="skip_connect"),))})
                for e in n.edges)}) for n in c.nodes)}) for c in space.cells)})
    assert len(draw_architectures(one, 3, seed=0)) == 1


def test_pareto_front_and_best_trial() -> None:
    rows = [{"trial": 0, "val_top1": 0.5, "macs": 100}, {"trial": 1, "val_top1": 0.6, "macs": 300},
            {"trial": 2, "val_top1": 0.4, "macs": 200}, {"trial": 3, "val_top1": 0.6, "macs": 250},
            {"trial": 4, "val_top1": 0.3, "macs": 50}]
    assert [r["trial"] for r in pareto_front(rows)] == [4, 0, 3]
    assert best_trial(rows) == 3


def test_pareto_front_on_another_cost_axis() -> None:
    # on latency trial 1 is the faster of the two best, and trial 2 the fastest of all
    rows = [{"trial": 0, "val_top1": 0.5, "macs": 100, "latency_ms": 3.0},
            {"trial": 1, "val_top1": 0.6, "macs": 300, "latency_ms": 2.0},
            {"trial": 2, "val_top1": 0.4, "macs": 200, "latency_ms": 1.0},
            {"trial": 3, "val_top1": 0.6, "macs": 250, "latency_ms": 4.0}]
    assert [r["trial"] for r in pareto_front(rows, "latency_ms")] == [2, 1]
    assert best_trial(rows, "latency_ms") == 1 and best_trial(rows) == 3
