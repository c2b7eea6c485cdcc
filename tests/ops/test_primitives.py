"""Every primitive's analytic model (shape, parameter count, MACs) against the module it builds."""
from __future__ import annotations

import random
from typing import Any

import pydantic
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nasc.errors import NameResolutionError, ShapeError
from nasc.ops import get_primitive, primitive_names
from nasc.ops.registry import Shape

torch.set_num_threads(1)


def _conv(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    groups = r.choice([1, 1, 2, 3])
    c = groups * r.randint(1, 4)
    k: Any = r.choice([1, 2, 3, 5, (1, 3), (3, 1)])
    args: dict[str, Any] = {"out": groups * r.randint(1, 4), "k": k, "groups": groups,
                            "stride": r.choice([1, 2, (1, 2), 3]), "pad": r.choice([0, 1, 2, (0, 1)]),
                            "dilation": r.choice([1, 2, (2, 1)]), "bias": r.choice([False, True])}
    return args, ((c, r.randint(3, 11), r.randint(3, 11)),)


def _pool(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    k = r.choice([1, 2, 3, 5])
    return ({"k": k, "stride": r.choice([1, 2, 3]), "pad": r.randint(0, k // 2)},
            ((r.randint(1, 5), r.randint(5, 12), r.randint(5, 12)),))


def _avg_pool(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    args, shapes = _pool(r)
    return {**args, "count_include_pad": r.choice([False, True])}, shapes


def _fr(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    return ({"out": 2 * r.randint(1, 5), "affine": r.choice([False, True])},
            ((r.randint(1, 6), 2 * r.randint(1, 6), 2 * r.randint(1, 6)),))


def _bn(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    return {"affine": r.choice([False, True]), "eps": 1e-3}, ((r.randint(1, 8), 4, 5),)


def _plain(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    return {}, ((r.randint(1, 8), r.randint(1, 9), r.randint(1, 9)),)


def _zero(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    return {"stride": r.randint(1, 3)}, ((r.randint(1, 8), r.randint(1, 9), r.randint(1, 9)),)


def _many(r: random.Random, concat: bool) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    c, h, w = r.randint(1, 5), r.randint(1, 6), r.randint(1, 6)
    n = r.randint(1, 4)
    return {}, tuple(((r.randint(1, 5) if concat else c), h, w) for _ in range(n))


def _linear(r: random.Random) -> tuple[dict[str, Any], tuple[Shape, ...]]:
    return {"out": r.randint(1, 12), "bias": r.choice([False, True])}, ((r.randint(1, 20), 1, 1),)


GENERATORS = {
    "conv": _conv, "max_pool": _pool, "avg_pool": _avg_pool, "factorized_reduce": _fr, "bn": _bn,
    "relu": _plain, "identity": _plain, "global_avg_pool": _plain, "zero": _zero,
    "sum": lambda r: _many(r, False), "concat": lambda r: _many(r, True), "linear": _linear,
    "stop_gradient": _plain, "stop_forward": _plain,
}


def test_every_primitive_has_a_generator() -> None:
    assert sorted(GENERATORS) == primitive_names()


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_built_module_matches_analytic_model(name: str) -> None:
    prim = get_primitive(name)
    r = random.Random(name)
    checked = 0
    for _ in range(40):
        args, shapes = GENERATORS[name](r)
        p = prim.Params(**args)
        try:
            out = prim.infer_shape(p, shapes)
        except ShapeError:
            continue  # random params that do not fit; the rejection is tested below
        module = prim.build(p, shapes).eval()
        xs = [torch.randn(1, *s) for s in shapes]
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            y = module(*xs)
        expected = (1, out[0]) if name == "linear" else (1, *out)  # linear returns flat logits
        assert tuple(y.shape) == expected, (args, shapes)
        assert sum(t.numel() for t in module.parameters()) == prim.param_count(p, shapes), (args, shapes)
        assert fc.get_total_flops() // 2 == prim.macs(p, shapes, out), (args, shapes)
        checked += 1
    assert checked >= 10


def test_conv_builds_like_darts() -> None:
    p = get_primitive("conv").Params(out=8, k=3, stride=2, pad=1, groups=4)
    m = get_primitive("conv").build(p, ((4, 8, 8),))
    assert isinstance(m, torch.nn.Conv2d) and m.bias is None
    assert (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.groups) == (
        4, 8, (3, 3), (2, 2), (1, 1), 4)


def test_avg_pool_excludes_padding_by_default() -> None:
    p = get_primitive("avg_pool").Params(k=3, stride=1, pad=1)
    m = get_primitive("avg_pool").build(p, ((1, 4, 4),))
    assert m.count_include_pad is False
    # with padding excluded, a constant map stays constant at the border
    assert torch.allclose(m(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))


def test_factorized_reduce_is_darts_structure() -> None:
    prim = get_primitive("factorized_reduce")
    m = prim.build(prim.Params(out=6, affine=False), ((4, 8, 8),))
    names = sorted(n for n, _ in m.named_parameters())
    assert names == ["conv_1.weight", "conv_2.weight"]
    assert m.conv_1.stride == (2, 2) and m.conv_1.out_channels == 3 and m.bn.num_features == 6


def test_zero_is_exact_zeros_even_for_inf_inputs() -> None:
    prim = get_primitive("zero")
    m = prim.build(prim.Params(stride=2), ((2, 5, 5),))
    y = m(torch.full((1, 2, 5, 5), float("inf")))
    assert y.shape == (1, 2, 3, 3) and bool((y == 0).all())


def test_identity_aliases_and_others_do_not() -> None:
    assert get_primitive("identity").aliases_input
    assert get_primitive("stop_gradient").aliases_input  # x.detach() shares x's memory
    assert not any(get_primitive(n).aliases_input for n in primitive_names()
                   if n not in ("identity", "stop_gradient"))
    assert get_primitive("sum").arity is None and get_primitive("concat").arity is None
    assert get_primitive("conv").context_defaults == {"out": "C_out"}
    assert get_primitive("bn").context_defaults == {"affine": "affine"}


@pytest.mark.parametrize("name,args,shapes,message", [
    ("conv", {"out": 4, "k": 3, "groups": 3}, ((6, 8, 8),),
     "conv: 4 output channels are not divisible by groups=3"),
    ("conv", {"out": 6, "k": 3, "groups": 4}, ((6, 8, 8),),
     "conv: 6 input channels are not divisible by groups=4"),
    ("conv", {"out": 4, "k": 5}, ((3, 4, 4),),
     "conv: a 5x5 window (dilation 1x1, pad 0x0) does not fit a 4x4 input (output would be 0x0)"),
    ("max_pool", {"k": 3, "pad": 2}, ((3, 4, 4),), "max_pool: pad 2x2 is more than half the 3x3 window"),
    ("avg_pool", {"k": 5, "stride": 3}, ((3, 4, 4),),
     "avg_pool: a 5x5 window (dilation 1x1, pad 0x0) does not fit a 4x4 input (output would be 0x0)"),
    ("factorized_reduce", {"out": 5, "affine": True}, ((3, 4, 4),),
     "factorized_reduce: out=5 must be even (two convs of out/2 channels)"),
    ("factorized_reduce", {"out": 4, "affine": True}, ((3, 7, 8),),
     "factorized_reduce: input 7x8 must have even height and width (its two halves would be 4x4 and 3x4)"),
    ("sum", {}, ((3, 4, 4), (3, 4, 4), (3, 2, 2)),
     "sum: input 2 has shape (3, 2, 2) but input 0 has (3, 4, 4)"),
    ("concat", {}, ((3, 4, 4), (5, 4, 2)), "concat: input 1 is 4x2 but input 0 is 4x4"),
    ("linear", {"out": 10}, ((3, 4, 4),), "linear: expects a (C, 1, 1) input, got (3, 4, 4)"),
    ("relu", {}, ((3, 4, 4), (3, 4, 4)), "relu takes one input, got 2"),
])
def test_shape_errors(name: str, args: dict[str, Any], shapes: tuple[Shape, ...], message: str) -> None:
    prim = get_primitive(name)
    with pytest.raises(ShapeError) as err:
        prim.infer_shape(prim.Params(**args), shapes)
    assert err.value.message == message
    assert err.value.hint


def test_linear_hint_names_global_avg_pool() -> None:
    prim = get_primitive("linear")
    with pytest.raises(ShapeError, match="global_avg_pool"):
        prim.infer_shape(prim.Params(out=3), ((3, 2, 2),))


@pytest.mark.parametrize("name,args", [
    ("conv", {"out": 8.0, "k": 3}),  # a float width (`C / 2`) is rejected, not truncated
    ("conv", {"out": 8, "k": 0}),
    ("conv", {"out": 8, "k": (1, 2, 3)}),
    ("conv", {"out": 8, "k": 3, "pad": -1}),
    ("conv", {"out": 8, "k": 3, "bias": 1}),
    ("bn", {"affine": "yes"}),
    ("conv", {"out": 8, "k": 3, "padding": 1}),
])
def test_params_are_strict(name: str, args: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        get_primitive(name).Params(**args)


def test_params_keep_ints_and_pairs() -> None:
    p = get_primitive("conv").Params(out=8, k=(1, 7), stride=(1, 2), pad=(0, 3))
    assert p.k == (1, 7) and p.stride == (1, 2) and p.out == 8 and p.dilation == 1


def test_unknown_primitive_suggests_a_name() -> None:
    with pytest.raises(NameResolutionError) as err:
        get_primitive("max_pol")
    assert err.value.hint == "did you mean `max_pool`?"
