"""DARTS as IR transforms: `supernet` checks and marks the space, the search module keeps weights
and alphas apart, `derive` applies the DARTS rule through `finalize`."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nasc.errors import ValidationError
from nasc.frontend import load_model, parse_source
from nasc.ir.model import Choice, OpCall
from nasc.ir.printer import print_model
from nasc.ir.queries import choice_edge_ids
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table
from nasc.search.darts import derive, supernet
from nasc.search.darts_supernet import DartsSupernet
from nasc.search.scaffold import load_search_config

from search_helpers import TINY_SPACE, tiny_space

ROOT = Path(__file__).resolve().parents[2]
OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5"]


def test_supernet_rejects_a_network_without_choices() -> None:
    net = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    with pytest.raises(ValidationError, match="not a search space") as err:
        supernet(net)
    assert err.value.hint and "choice" in err.value.hint


def test_supernet_builds_non_affine_batch_norm() -> None:
    space = parse_source(TINY_SPACE.replace("  affine = false\n", ""), "t.nas")
    assert space.affine
    sup = supernet(space)
    assert not sup.affine and sup.cells == space.cells
    module = DartsSupernet.build(space, channels_last=False)
    bns = [m for m in module.net.cells.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(b.affine for b in bns)


def test_weights_and_alphas_are_disjoint_and_cover_all_parameters() -> None:
    torch.manual_seed(0)
    model = DartsSupernet.build(tiny_space(), channels_last=False)
    w_ids = {id(p) for p in model.network_weights()}
    a_ids = {id(p) for p in model.alphas()}
    assert not w_ids & a_ids
    assert w_ids | a_ids == {id(p) for p in model.parameters()}
    assert [tuple(a.shape) for a in model.alphas()] == [(5, 8), (5, 8)]
    assert model.templates == ["normal", "reduce"]
    # DARTS init: 1e-3 * randn
    for a in model.alphas():
        assert 0 < float(a.detach().abs().max()) < 5e-3


def test_driver_optimizers_keep_alphas_out_of_the_weight_optimizer() -> None:
    from nasc.search import darts_search
    from nasc.search.space import prepare_space

    cfg = load_search_config("darts", ROOT / "examples" / "configs" / "search_darts.yaml", overrides=[
        "data.train_size=40", "data.test_size=10", "data.batch_size=8", "run.device=cpu"])
    space = prepare_space(load_model(ROOT / "examples" / "darts_space.nas"), cfg.search.darts)
    s = darts_search.build_search(space, cfg)
    w_params = {id(p) for g in s.w_optimizer.param_groups for p in g["params"]}
    a_params = {id(p) for g in s.architect.optimizer.param_groups for p in g["params"]}
    assert w_params == {id(p) for p in s.model.network_weights()}
    assert a_params == {id(p) for p in s.model.alphas()}
    assert not w_params & a_params
    assert isinstance(s.w_optimizer, torch.optim.SGD)
    assert isinstance(s.architect.optimizer, torch.optim.Adam)
    assert s.architect.optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    # the toy size of the config: C=4 and 3 cells (normal, reduce, reduce) instead of 16 and 8
    assert len(s.model.net.cells) == cfg.search.darts.cells == 3
    assert [c.reduction for c in s.model.net.cells] == [False, True, True]


def test_mixing_weights_are_softmax_rows_keyed_by_template_edge_id() -> None:
    torch.manual_seed(0)
    model = DartsSupernet.build(tiny_space(), channels_last=False)
    with torch.no_grad():
        model.arch["normal"].copy_(torch.arange(40, dtype=torch.float32).reshape(5, 8) / 10)
    w = model.mixing_weights()
    assert list(w) == choice_edge_ids(tiny_space().cell("normal")) + choice_edge_ids(tiny_space().cell("reduce"))
    assert list(w)[:2] == ["normal.n0.e0", "normal.n0.e1"]
    row = [i / 10 for i in range(8, 16)]
    z = sum(math.exp(v) for v in row)
    assert w["normal.n0.e1"] == pytest.approx([math.exp(v) / z for v in row], rel=1e-6)
    assert all(sum(r) == pytest.approx(1.0) for r in w.values())


def _alphas(best: dict[str, tuple[str, float]], n_edges: int = 5) -> list[list[float]]:
    rows = [[0.0] * 8 for _ in range(n_edges)]
    ids = [f"n0.e{i}" for i in range(2)] + [f"n1.e{i}" for i in range(3)]
    for key, (op, value) in best.items():
        rows[ids.index(key)][OPS.index(op)] = value
    return rows


def test_derive_applies_the_darts_rule() -> None:
    space = tiny_space()
    normal = _alphas({"n0.e0": ("sep_conv_3x3", 2.0), "n0.e1": ("none", 9.0),
                      "n1.e0": ("dil_conv_5x5", 1.0), "n1.e1": ("max_pool_3x3", 3.0),
                      "n1.e2": ("skip_connect", 2.0)})
    # n0.e1 prefers `none`: its best other op is the first one on ties (max_pool_3x3)
    reduce = _alphas({"n0.e0": ("avg_pool_3x3", 1.0), "n0.e1": ("sep_conv_5x5", 1.5),
                      "n1.e0": ("skip_connect", 0.5), "n1.e1": ("dil_conv_3x3", 0.6),
                      "n1.e2": ("sep_conv_3x3", 0.7)})
    final = derive(space, {"normal": normal, "reduce": reduce})
    assert final.affine and not verify(final, primitive_table())
    got = {c.name: [[(e.input, e.op.op) for e in n.edges] for n in c.nodes] for c in final.cells}
    assert got["normal"] == [[("s0", "sep_conv_3x3"), ("s1", "max_pool_3x3")],
                             [("s1", "max_pool_3x3"), ("n0", "skip_connect")]]
    assert got["reduce"] == [[("s0", "avg_pool_3x3"), ("s1", "sep_conv_5x5")],
                             [("s1", "dil_conv_3x3"), ("n0", "sep_conv_3x3")]]
    assert all(n.keep is None and all(isinstance(e.op, OpCall) for e in n.edges)
               for c in final.cells for n in c.nodes)
    # the printed network parses back to the same IR and passes the checks
    again = parse_source(print_model(final), "final.nas")
    assert again == final and not verify(again, primitive_table())


def test_derive_from_the_module_alphas_keeps_the_space_skeleton() -> None:
    torch.manual_seed(0)
    model = DartsSupernet.build(tiny_space(), channels_last=False)
    final = derive(tiny_space(), model.alpha_matrices())
    assert final.layout == tiny_space().layout and final.params == tiny_space().params
    assert not any(isinstance(e.op, Choice) for c in final.cells for n in c.nodes for e in n.edges)
    assert [len(n.edges) for c in final.cells for n in c.nodes] == [2, 2, 2, 2]
