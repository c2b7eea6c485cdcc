"""Mixed precision in the architecture step: with the trainer's bf16 autocast (CPU), the
Architect's loss passes run in bf16, the second-order finite-difference passes in fp32, the
gradient stays close to the fp32 one, and steps lower the validation loss on a tiny problem."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasc.search.bilevel import Architect
from nasc.search.darts_supernet import DartsSupernet
from nasc.train.precision import Precision

from search_helpers import tiny_space


def _setup() -> tuple[DartsSupernet, torch.optim.Optimizer, list[torch.Tensor]]:
    torch.manual_seed(0)
    model = DartsSupernet.build(tiny_space(), channels_last=False)
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g),
            torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g)]
    w_opt = torch.optim.SGD(model.network_weights(), lr=0.05, momentum=0.9)
    return model, w_opt, data


def _first_conv(model: nn.Module) -> nn.Module:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def _val_loss(model: DartsSupernet, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():  # fp32, train-mode batch statistics: a function of the alphas only
        return float(F.cross_entropy(model(x), y))


@pytest.mark.parametrize("order", ["first", "second"])
def test_bf16_architecture_step_runs_in_bf16_and_lowers_the_validation_loss(order: Any) -> None:
    model, w_opt, data = _setup()
    amp = Precision.create(enabled=True, dtype="bf16", device=torch.device("cpu"))
    a_opt = torch.optim.Adam(model.alphas(), lr=0.05)
    arch = Architect(model, a_opt, w_momentum=0.9, w_weight_decay=3e-4, order=order,
                     precision=amp)
    seen: list[torch.dtype] = []
    hook = _first_conv(model).register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    try:
        arch.step(*data, w_opt, 0.05)
    finally:
        hook.remove()
    if order == "first":
        assert seen == [torch.bfloat16]
    else:  # virtual step and validation at w' in bf16; the two finite-difference passes in fp32
        assert seen == [torch.bfloat16, torch.bfloat16, torch.float32, torch.float32]
    assert all(a.dtype == torch.float32 for a in model.alphas())  # parameters stay fp32

    before = _val_loss(model, data[2], data[3])
    for _ in range(10):
        arch.step(*data, w_opt, 0.05)
    assert _val_loss(model, data[2], data[3]) < before


@pytest.mark.parametrize("order", ["first", "second"])
def test_bf16_architecture_gradient_is_close_to_the_fp32_one(order: Any) -> None:
    model, w_opt, data = _setup()
    with torch.no_grad():  # alphas away from uniform so every term matters
        for a in model.alphas():
            a.normal_(0, 0.5)
    fp32 = Architect(model, None, w_momentum=0.9, w_weight_decay=3e-4, order=order)
    bf16 = Architect(model, None, w_momentum=0.9, w_weight_decay=3e-4, order=order,
                     precision=Precision.create(enabled=True, dtype="bf16",
                                                device=torch.device("cpu")))
    exact = torch.cat([g.reshape(-1) for g in fp32.gradient(*data, w_opt, 0.05)])
    mixed = torch.cat([g.reshape(-1) for g in bf16.gradient(*data, w_opt, 0.05)])
    assert mixed.dtype == torch.float32
    # bf16 keeps 8 significant bits: the direction survives (measured: cosine 0.98 first order,
    # 0.90 second; with the finite-difference passes in bf16 too, second order fell to 0.44)
    assert float(F.cosine_similarity(exact, mixed, dim=0)) > (0.95 if order == "first" else 0.8)
