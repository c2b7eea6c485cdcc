"""The cost model: exact parameters and MACs (against the reference DARTS code and torch's flop
counter) and the activation-memory definition on a network small enough to count by hand."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch
from analysis_irkit import c, cell, darts_space, darts_v2_cifar, darts_v2_imagenet, model, node
from torch.utils.flop_counter import FlopCounterMode

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.analysis.shapes import CallContext, Expander
from nasc.ir.model import Choice, Param
from nasc.ops import get_primitive

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("darts_reference_oracle",
                                                  ROOT / "tests" / "reference" / "darts_reference.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


R = _reference()


def _macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    module.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        module(x)
    return fc.get_total_flops() // 2


def test_published_parameter_counts() -> None:
    # the figures the reference DARTS logs print (param size in MB * 1e6)
    assert cost(elaborate(darts_v2_cifar())).params == 3_349_342
    assert cost(elaborate(darts_v2_imagenet())).params == 4_718_752
    assert cost(elaborate(darts_space())).params == 1_930_618


@pytest.mark.parametrize("C,layers", [pytest.param(36, 20, marks=pytest.mark.slow), (8, 5)])
def test_cifar_matches_reference_module(C: int, layers: int) -> None:
    ref = R.NetworkCIFAR(C, 10, layers, True, R.DARTS_V2)
    r = cost(elaborate(darts_v2_cifar(params={"C": C, "layers": layers})))
    assert r.params == R.count_parameters(ref)
    assert r.params_with_aux == sum(p.numel() for p in ref.parameters())
    assert r.macs == _macs(ref, torch.randn(1, 3, 32, 32))
    aux = ref.auxiliary_head
    assert r.macs_with_aux - r.macs == _macs(aux, torch.randn(1, *r.cells[2 * layers // 3].out_shape))


def test_imagenet_matches_reference_module() -> None:
    ref = R.NetworkImageNet(8, 1000, 4, True, R.DARTS_V2)
    m = darts_v2_imagenet()
    m = m.model_copy(update={"params": (Param(name="C", default=8), Param(name="layers", default=4),
                                        Param(name="classes", default=1000))})
    r = cost(elaborate(m))
    assert r.params == R.count_parameters(ref)
    assert r.params_with_aux == sum(p.numel() for p in ref.parameters())
    assert r.macs == _macs(ref, torch.randn(1, 3, 224, 224))


def test_search_supernet_matches_reference_module() -> None:
    ref = R.SearchNetwork(8, 10, 5)
    r = cost(elaborate(darts_space(params={"C": 8, "layers": 5})))
    assert r.params == r.params_with_aux == sum(p.numel() for p in ref.parameters())
    assert r.macs == _macs(ref, torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("name", ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                  "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3", "dil_conv_5x5", "conv_7x1_1x7"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("affine", [False, True])
def test_std_ops_match_reference_ops(name: str, stride: int, affine: bool) -> None:
    from nasc.frontend import parse_source

    m = parse_source("import std\nnetwork n { input = (3, 8, 8)\n classes = 2\n stem = cifar_stem(C_out = 4)\n"
                     " cells = 0\n channels = 4\n head = classifier }\n", str(ROOT / "n.nas"))
    calls, out = Expander(m, {}).expand(c(name), CallContext((6, 8, 8), 6, stride, affine))
    ref = R.OPS[name](6, stride, affine).eval()
    x = torch.randn(1, 6, 8, 8)
    with torch.no_grad():
        y = ref(x)
    assert tuple(y.shape[1:]) == out
    prims = [(get_primitive(p.op), p) for p in calls]
    assert sum(pr.param_count(p.params, p.in_shapes) for pr, p in prims) == sum(t.numel() for t in ref.parameters())
    assert sum(pr.macs(p.params, p.in_shapes, p.out_shape) for pr, p in prims) == _macs(ref, x)


def _tiny(**kw: object) -> object:
    n = cell("normal", [node("n0", ("identity", "s0"), ("relu", "s1")),
                        node("n1", ("max_pool_3x3", "n0"), ("identity", "s1"), combine="concat")],
             output=("n0", "n1"))
    return model(cells=(n,), params={"C": 2, "layers": 1, "classes": 3}, input=(1, 4, 4),
                 stems=(c("cifar_stem", C_out=4),), layout={"reductions": ()}, **kw)  # type: ignore[arg-type]


def test_activation_bytes_counted_by_hand() -> None:
    r = cost(elaborate(_tiny()))
    # input 1x4x4 = 16; stem conv + bn 2 * 64 = 128
    # cell: two preprocess relu_conv_bn (relu 64, conv 32, bn 32) = 256; n0: identity 0, relu 32, sum 32;
    # n1: max_pool 32, identity 0, concat 64; cell output concat (6, 4, 4) = 96  -> 512
    # head: global_avg_pool 6, linear 3 -> 9
    assert [cc.activation_bytes for cc in r.cells] == [512 * 4]
    assert r.stems.activation_bytes == 128 * 4 and r.head.activation_bytes == 9 * 4
    assert r.activation_bytes == (16 + 128 + 512 + 9) * 4
    # params: stem conv 36 + bn 8; preprocess (conv 8 + bn 4) * 2; linear 6 * 3 + 3
    assert r.params == 44 + 24 + 21 and r.stems.params == 44 and r.head.params == 21
    # MACs: stem conv 64 * 9; preprocess 32 * 4 twice; linear 18
    assert r.macs == 576 + 256 + 18
    assert r.aux is None and r.params_with_aux == r.params and r.macs_with_aux == r.macs
    assert r.cells[0].out_shape == (6, 4, 4) and r.input_shape == (1, 4, 4) and r.classes == 3


def test_mixed_and_proj_costs() -> None:
    ch = Choice(candidates=(c("identity"), c("relu"), c("none"), c("conv_bn", k=1)))
    n = cell("normal", [node("n0", (ch, "s1")), node("n1", ("relu", "n0"), ("relu", "s0"), combine="proj")],
             output=("n1",))
    base = cost(elaborate(_tiny()))
    r = cost(elaborate(model(cells=(n,), params={"C": 2, "layers": 1, "classes": 3}, input=(1, 4, 4),
                             stems=(c("cifar_stem", C_out=4),), layout={"reductions": ()})))
    # preprocess 256 elements; choice: identity 0, relu 32, none 32, conv 32 + bn 32, mixed result 32;
    # n1: relu 32 twice, concat (4, 4, 4) 64, proj conv 32 + bn 32; single-state output: nothing new
    assert r.cells[0].activation_bytes == (256 + 160 + 192) * 4
    # params: preprocess 24; conv_bn 2 * 2 + 4; proj conv 4 * 2 + bn 4; head linear 2 * 3 + 3
    assert r.cells[0].params == 24 + 8 + 12
    assert r.params == 44 + 44 + 9 and r.head.params == 9
    # MACs: preprocess 256; choice conv 32 * 2; proj 32 * 4
    assert r.cells[0].macs == 256 + 64 + 128
    assert base.cells[0].macs == 256


def test_aux_costs_and_as_dict_is_plain_json() -> None:
    r = cost(elaborate(darts_v2_cifar(params={"C": 8, "layers": 5})))
    assert r.aux is not None
    assert r.params_with_aux == r.params + r.aux.params and r.macs_with_aux == r.macs + r.aux.macs
    d = r.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert {k: d[k] for k in ("params", "params_with_aux", "macs", "macs_with_aux", "activation_bytes")} == {
        "params": r.params, "params_with_aux": r.params_with_aux, "macs": r.macs,
        "macs_with_aux": r.macs_with_aux, "activation_bytes": r.activation_bytes}
    assert d["input_shape"] == [3, 32, 32] and d["classes"] == 10
    assert d["cells"][0] == {"index": 0, "template": "normal", "reduction": False, "params": r.cells[0].params,
                             "macs": r.cells[0].macs, "activation_bytes": r.cells[0].activation_bytes,
                             "out_shape": [32, 32, 32]}
    assert sum(c_["params"] for c_ in d["cells"]) + d["stems"]["params"] + d["head"]["params"] == d["params"]
