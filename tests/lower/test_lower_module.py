"""Lowering: every stem / cell / node of every example produces the inferred shape; train and eval
forwards run; state_dict names are the IR ids; drop path and the release plan behave."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nasc.analysis.elaborate import elaborate
from nasc.analysis.network import Network
from nasc.errors import ValidationError
from nasc.frontend import load_model
from nasc.ir.model import Model
from nasc.lower import NascNet, build_module
from nasc.lower.modules import CellModule, NodeModule
from nasc.lower.net import _release_plan
from nasc.passes import run_pipeline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# small variants so a forward is cheap on one thread; the full sizes are covered by tests/lower/fidelity
SMALL = {"darts_v2_cifar": {"C": 8, "layers": 5}, "darts_space": {"C": 4, "layers": 5},
         "darts_v2_imagenet": {"C": 8, "layers": 5}, "nasbench101_cell": {"C": 16, "cells_per_stack": 1},
         "resnet20": {"blocks": 3}}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def load(name: str, **overrides: object) -> Model:
    return load_model(EXAMPLES / f"{name}.nas", overrides={**SMALL.get(name, {}), **overrides})


def uniform_arch(net: NascNet) -> dict[str, torch.Tensor]:
    """Equal mixing weights for every choice edge of every template with choices."""
    out = {}
    for t in net.arch_templates:
        cell = net.model.cell(t)
        assert cell is not None
        cands = [len(e.op.candidates) for n in cell.nodes for e in n.edges if e.op.kind == "choice"]
        out[t] = torch.full((len(cands), max(cands)), 1.0 / max(cands))
    return out


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.nas"))


@pytest.mark.parametrize("name", example_names())
def test_forward_shapes_equal_inferred_shapes(name: str) -> None:
    network = elaborate(load(name))
    net = build_module(network).eval()
    seen: dict[str, tuple[int, ...]] = {}

    def hook(label: str):  # noqa: ANN202
        def fn(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            seen[label] = tuple(out.shape)
        return fn

    expected: dict[str, tuple[int, ...]] = {}
    batch = 2
    for i, (stem, ps) in enumerate(zip(net.stems, network.stems)):
        stem.register_forward_hook(hook(f"stems.{i}"))
        expected[f"stems.{i}"] = (batch, *ps.out_shape)
    for cm, ci in zip(net.cells, network.cells):
        assert isinstance(cm, CellModule)
        cm.register_forward_hook(hook(f"cells.{ci.index}"))
        expected[f"cells.{ci.index}"] = (batch, *ci.out_shape)
        for node in ci.nodes:
            nm = getattr(cm, node.name)
            assert isinstance(nm, NodeModule)
            nm.register_forward_hook(hook(f"cells.{ci.index}.{node.name}"))
            expected[f"cells.{ci.index}.{node.name}"] = (batch, *node.out_shape)
            for k, e in enumerate(node.edges):
                getattr(nm, f"e{k}").register_forward_hook(hook(e.instance_id))
                expected[e.instance_id] = (batch, *e.out_shape)
    x = torch.randn(batch, *network.input_shape)
    arch = uniform_arch(net) if net.arch_templates else None
    with torch.no_grad():
        logits = net(x, arch)
    assert tuple(logits.shape) == (batch, network.classes)
    assert seen == expected


@pytest.mark.parametrize("name", example_names())
def test_train_forward_returns_aux_logits_when_there_is_an_aux_head(name: str) -> None:
    network = elaborate(load(name))
    net = build_module(network).train()
    net.drop_path_prob = 0.2
    arch = uniform_arch(net) if net.arch_templates else None
    out = net(torch.randn(2, *network.input_shape), arch)
    if network.aux is not None:
        assert isinstance(out, tuple) and len(out) == 2
        logits, aux = out
        assert tuple(aux.shape) == (2, network.classes)
    else:
        logits = out
    assert tuple(logits.shape) == (2, network.classes)
    logits.sum().backward()
    assert all(p.grad is not None for p in net.head.parameters())


def test_state_dict_names_are_ir_ids() -> None:
    net = build_module(elaborate(load("darts_v2_cifar")))
    sd = net.state_dict()
    assert {k.split(".")[0] for k in sd} == {"stems", "cells", "head", "aux"}
    # normal cell n0.e0 is sep_conv_3x3: relu, dw conv, pw conv, bn, relu, dw conv, pw conv, bn
    assert tuple(sd["cells.0.n0.e0.op.1.weight"].shape) == (8, 1, 3, 3)
    assert tuple(sd["cells.0.n0.e0.op.7.weight"].shape) == (8,)
    assert "cells.0.n0.e0.op.4.weight" not in sd  # index 4 is the second relu
    # cell 0's inputs are the stem (24 channels) through relu_conv_bn to width 8
    assert tuple(sd["cells.0.s0.1.weight"].shape) == (8, 24, 1, 1)
    # after reduction cell 1, cell 2's s0 input is factorized_reduce (conv_1, conv_2, bn)
    assert tuple(sd["cells.2.s0.conv_1.weight"].shape) == (8, 32, 1, 1)  # width 16, two halves
    assert "stems.0.0.weight" in sd and "head.1.weight" in sd and "aux.2.weight" in sd
    # every edge with weights is reachable by its instance id
    network = net.network
    for cell in network.cells:
        for node in cell.nodes:
            for e in node.edges:
                mod = net.get_submodule(e.instance_id + ".op")
                assert isinstance(mod, nn.Module)


def test_state_dict_names_for_mixed_edges() -> None:
    net = build_module(elaborate(load("darts_space")))
    edge = net.get_submodule("cells.2.n3.e4")
    assert edge.row == 13  # the last of 14 choice edges of the reduce template
    names = {k for k in net.state_dict() if k.startswith("cells.2.n3.e4.op.")}
    assert names  # the candidates of the mixed op live under the edge id


def test_net_keeps_the_ir() -> None:
    model = load("darts_v2_cifar")
    network = elaborate(model)
    net = build_module(network)
    assert net.model == model and net.network is network
    assert net.aux_weight == pytest.approx(0.4)
    assert net.drop_path_prob == 0.0


def test_eval_ignores_drop_path_and_train_applies_it() -> None:
    model = run_pipeline(load("darts_v2_cifar"), "drop-path")
    net = build_module(elaborate(model))
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        a = net(x)
        net.drop_path_prob = 0.9
        b = net(x)
    assert torch.equal(a, b)
    net.train()
    torch.manual_seed(0)
    with torch.no_grad():
        c = net(x)[0]
        net.drop_path_prob = 0.0
        torch.manual_seed(0)
        d = net(x)[0]
    assert not torch.allclose(c, d)


def test_drop_path_only_on_marked_edges() -> None:
    # without the drop-path pass no edge is marked: the probability changes nothing in training
    net = build_module(elaborate(load("darts_v2_cifar"))).train()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.manual_seed(0)
        a = net(x)[0]
        net.drop_path_prob = 0.5
        torch.manual_seed(0)
        b = net(x)[0]
    assert torch.equal(a, b)


def test_search_network_needs_arch() -> None:
    net = build_module(elaborate(load("darts_space"))).eval()
    with pytest.raises(ValidationError, match="choice edges"):
        net(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValidationError, match="`reduce`"):
        net(torch.randn(1, 3, 32, 32), {"normal": torch.full((14, 8), 0.125)})


def _deterministic_weights(net: nn.Module) -> None:
    """Give every conv the same shape-determined weights, so two nets with the same ops agree
    without mapping parameter names (the mixed op's internal names are its own business)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                n = m.weight.numel()
                m.weight.copy_((torch.sin(torch.arange(n) * 0.37) * 0.5).reshape(m.weight.shape))
                if m.bias is not None:
                    m.bias.zero_()


def test_one_hot_arch_selects_the_candidate() -> None:
    """With a one-hot row on every edge the mixed network computes exactly the chosen ops."""
    from nasc.passes.finalize import finalize

    space = load("darts_space")
    net = build_module(elaborate(space)).eval()
    pick = 4  # sep_conv_3x3 everywhere
    arch = {t: torch.nn.functional.one_hot(torch.full((14,), pick), 8).float() for t in ("normal", "reduce")}
    weights = {f"{c}.n{i}.e{j}": [10.0 if k == pick else 0.0 for k in range(8)]
               for c in ("normal", "reduce") for i in range(4) for j in range(i + 2)}
    # drop `keep` so the finalized nodes sum all their edges, as the mixed ones do
    all_edges = space.model_copy(update={"cells": tuple(
        c.model_copy(update={"nodes": tuple(n.model_copy(update={"keep": None}) for n in c.nodes)})
        for c in space.cells)})
    fixed = build_module(elaborate(finalize(all_edges, weights))).eval()
    _deterministic_weights(net)
    _deterministic_weights(fixed)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x, arch), fixed(x), atol=1e-5)


def test_release_plan_frees_states_after_their_last_reader() -> None:
    # one stem, three cells reading the two states before them (CIFAR: s0 = s1 = stem)
    after_stems, free = _release_plan(1, [[0, 0], [0, 1], [1, 2]])
    assert after_stems == []
    assert free == [[], [0], [1, 2]]
    # two chained stems; cell 0 reads both; the final state (cell 1) is never freed
    after_stems, free = _release_plan(2, [[0, 1], [1, 2]])
    assert after_stems == [] and free == [[0], [1, 2]]
    # three stems, the first read by nobody: released right after the stems
    after_stems, free = _release_plan(3, [[1, 2]])
    assert after_stems == [0] and free == [[1, 2]]


def test_state_name_clashing_with_a_module_attribute_is_refused() -> None:
    model = load("darts_v2_cifar")
    normal = model.cell("normal")
    assert normal is not None
    renamed = normal.model_copy(update={
        "nodes": tuple(n.model_copy(update={"name": "forward"}) if n.name == "n1" else n for n in normal.nodes),
        "output": tuple("forward" if s == "n1" else s for s in normal.output)})
    bad = model.model_copy(update={"cells": (renamed,) + tuple(c for c in model.cells if c.name != "normal")})
    with pytest.raises(ValidationError, match="`forward` clashes"):
        build_module(elaborate(bad))


def test_build_module_type() -> None:
    net = build_module(elaborate(load("darts_v2_cifar")))
    assert isinstance(net, NascNet) and isinstance(net.network, Network)


def test_deepcopy_is_independent() -> None:
    """The forward plans hold module references: a deep copy must run its own copies."""
    import copy

    net = build_module(elaborate(load("darts_v2_cifar"))).eval()
    twin = copy.deepcopy(net)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = twin(x)
        for p in net.parameters():
            p.add_(1.0)
        assert torch.equal(twin(x), before)
        assert not torch.allclose(net(x), before)
